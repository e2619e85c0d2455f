"""Smoke tests of every sim: the library function end to end, and the command line."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sims import theory_demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_theory_demo_smoke_writes_a_full_run_record(tmp_path):
  rows = theory_demo.run(theory_demo.Config.smoke(), str(tmp_path))
  for name in ("config.json", "meta.json", "results.npz", "summary.json"):
    assert (tmp_path / name).exists(), name
  meta = json.loads((tmp_path / "meta.json").read_text())
  res = np.load(tmp_path / "results.npz")
  assert set(meta["axes"]) == set(res.files)
  for key, axes in meta["axes"].items():
    assert res[key].ndim == len(axes), key
  assert json.loads((tmp_path / "config.json").read_text())["steps"] == 300
  mem, gen = rows
  assert mem["model"] == "memorizing" and gen["model"] == "generalizing"
  assert np.isfinite(mem["gram_distance"]) and np.isfinite(gen["gram_distance"])
  table = theory_demo.format_table(rows)
  assert table.count("\n") == 3 and "n/a" in table


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "sims.theory_demo", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def test_theory_demo_cli_smoke(tmp_path):
  out = _cli("--smoke", "--workdir", str(tmp_path))
  assert out.returncode == 0, out.stderr
  assert "| memorizing |" in out.stdout and "| generalizing |" in out.stdout


@pytest.mark.parametrize("flag,message", [
    ("--mem_width=2", "--mem_width=2 must be >= --mem_n=4"),
    ("--gen_sigma=0", "--gen_sigma must be > 0"),
    ("--steps=0", "--steps must be >= 1"),
])
def test_theory_demo_bad_flags_stop_before_compute(tmp_path, flag, message):
  out = _cli("--smoke", flag, "--workdir", str(tmp_path / "w"))
  assert out.returncode != 0
  assert message in out.stderr
  assert not (tmp_path / "w").exists()  # nothing was computed or written


# ---------------------------------------------------------------------------------------------
# verify_theory
# ---------------------------------------------------------------------------------------------

from sims import verify_theory  # noqa: E402

_KEYS = {"claim", "statement", "measured", "predicted", "holds", "note"}


def _rows_by_claim(rows):
  return {r["claim"]: r for r in rows}


def test_verify_theory_smoke_writes_the_report(tmp_path):
  rows = verify_theory.run(verify_theory.Config.smoke(), str(tmp_path))
  for name in ("config.json", "meta.json", "results.npz", "report.json", "report.md"):
    assert (tmp_path / name).exists(), name
  report = json.loads((tmp_path / "report.json").read_text())
  assert report == json.loads(json.dumps(rows))
  assert len(report) == 14 and all(_KEYS <= set(r) for r in report)
  assert all(isinstance(r["holds"], bool) for r in report)
  md = (tmp_path / "report.md").read_text()
  assert md.startswith("| claim |") and md.count("\n| ") == 14  # header, then 14 rows
  by = _rows_by_claim(rows)
  # Hypotheses hold on the generated data: no row reports a violation.
  assert not any("hypothesis violated" in r["note"] for r in rows)
  assert by["Theorem 3.1 (Eq. 8) stationarity"]["holds"]


def test_verify_theory_rows_react_to_acute_means(tmp_path):
  """beta >= 0 (every point shifted along one direction): the separability row and every row that
  needs the Eq. 8 construction say so; rows on other data (Cor. 3.2, 3.4) are still computed."""
  cfg = dataclasses.replace(verify_theory.Config.smoke(), mean_shift=1.5)
  by = _rows_by_claim(verify_theory.run(cfg, str(tmp_path)))
  assert not by["Def. 3.1 separability"]["holds"]
  for claim in ("Theorem 3.1 (Eq. 8) stationarity", "Theorem 3.1 balanced code",
                "Theorem D.2 decomposition", "Local minimum (Hessian certificate)",
                "Cor. 3.3 corrected"):
    assert not by[claim]["holds"] and "beta < 0" in by[claim]["note"], by[claim]
  assert by["Cor. 3.4 (hybrid)"]["holds"] and by["Cor. 3.2 (Eq. 9)"]["measured"] != "not computable"


def test_verify_theory_rows_react_to_broken_balanced_activation(tmp_path):
  """A spread comparable to the means (rank-2 covariance) breaks the balanced code: that row says
  so with a negative slack, while stationarity of the decomposed loss still holds."""
  cfg = dataclasses.replace(verify_theory.Config.smoke(), rank=2, spread=1.5, mean_norm=2.0)
  by = _rows_by_claim(verify_theory.run(cfg, str(tmp_path)))
  bal = by["Theorem 3.1 balanced code"]
  assert not bal["holds"] and "min slack=-" in bal["measured"]
  assert by["Theorem 3.1 (Eq. 8) stationarity"]["holds"]


def test_verify_theory_bad_flag_is_named(tmp_path):
  out = subprocess.run([sys.executable, "-m", "sims.verify_theory", "--smoke", "--d=3",
                        "--workdir", str(tmp_path / "w")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode != 0 and "--d=3 must be >= clusters + 1 + rank" in out.stderr
  assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------------------------
# phase_diagram, its figure, and the sweep benchmark
# ---------------------------------------------------------------------------------------------

from sims import phase_diagram  # noqa: E402


def test_phase_diagram_smoke_and_figure(tmp_path):
  out = phase_diagram.run(phase_diagram.Config.smoke(), str(tmp_path / "run"), log=None)
  meta = json.loads((tmp_path / "run" / "meta.json").read_text())
  res = np.load(tmp_path / "run" / "results.npz")
  for key, axes in meta["axes"].items():
    assert res[key].ndim == len(axes), key
  assert out["train_loss"].shape == (1, 2, 2, 1)  # (sigma, n, width, seed)
  assert np.all(out["status"] == -1)
  assert len(phase_diagram.boundary_summary(out)) == 1
  from figures import phase_diagram as fig

  config, arrays, summary = fig.style.load_run(str(tmp_path / "run"), "sims.phase_diagram")
  # written by the sim: the boundary lines, then the hypotheses line; the data card and hypotheses
  assert summary["lines"][:-1] == phase_diagram.boundary_summary(out)
  assert summary["lines"][-1].startswith("hypotheses:")
  assert set(summary) == {"lines", "data_cards", "hypotheses"}
  # evaluation time reported apart from training (issue 18): phase_diagram.timing_record's fields
  timing = json.loads((tmp_path / "run" / "timing.json").read_text())
  assert "timing.json" in meta["files"]
  assert set(timing) == {"train_time_s", "eval_time_s", "eval_closed_forms_s", "eval_compile_s",
                         "eval_metrics_s", "eval_programs", "eval_over_train", "chunks_on_disk"}
  assert timing["train_time_s"] > 0 and timing["eval_time_s"] > 0 and timing["chunks_on_disk"] == 0
  assert (timing["eval_closed_forms_s"] + timing["eval_compile_s"] + timing["eval_metrics_s"]
          <= timing["eval_time_s"] + 3e-3)  # the parts lie within the whole (3 roundings to 1 ms)
  assert timing["eval_programs"] >= 1
  paths, caption = fig.draw({"phase": (config, arrays, summary)}, str(tmp_path / "figs"))
  assert caption.startswith(" ".join(summary["lines"]) + " Data card: [") and caption.startswith("sigma=")
  assert [os.path.basename(p) for p in paths] == ["phase_diagram.png", "phase_diagram.pdf"]
  assert all(os.path.getsize(p) > 1000 for p in paths)


def test_figure_before_its_results_exist_says_what_to_run(tmp_path):
  from figures import style

  with pytest.raises(FileNotFoundError, match="python -m sims.phase_diagram --workdir"):
    style.load_run(str(tmp_path / "nothing"), "sims.phase_diagram")


@pytest.mark.parametrize("flag,message", [
    ("--widths=", "--widths must not be empty"),
    ("--widths=0,4", "--widths must all be >= 1"),
    ("--sample_sizes=4,64", "--sample_sizes: n=64 is larger than the data (--data_size=32)"),
    ("--sigmas=0", "--sigmas must all be > 0"),
    ("--dataset=celeba", "--dataset must be one of ('mixture', 'obtuse')"),
])
def test_phase_diagram_bad_flags_stop_before_compute(tmp_path, flag, message):
  out = subprocess.run([sys.executable, "-m", "sims.phase_diagram", "--smoke", flag, "--workdir",
                        str(tmp_path / "w")], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode != 0 and message in out.stderr
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("sim,flag,message", [
    ("image_dae", "--dataset=cifar", "--dataset must be one of ('digits', 'patches', 'folder')"),
    ("detection", "--sigmas=0.1,-1", "--sigmas must be a non-empty list of values > 0"),
    ("steering", "--target_class=12", "--target_class must be -1 or a digit 0-9"),
    ("transition", "--sizes=64,8", "--sizes must be increasing sizes >= 2"),
])
def test_new_sims_bad_flags_stop_before_compute(tmp_path, sim, flag, message):
  out = subprocess.run([sys.executable, "-m", f"sims.{sim}", flag, "--workdir", str(tmp_path / "w")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode != 0 and message in out.stderr, out.stderr
  assert not (tmp_path / "w").exists()


def test_benchmark_smoke_writes_the_tracked_keys(tmp_path):
  """The benchmarks' absl command lines, in fresh processes (the way a user runs them): the sweep
  benchmark, and the A/B of the engine against a commit (HEAD here; an unknown commit is named)."""
  path = tmp_path / "bench.json"
  # --noown_processes: every contender in this one process (the cache across processes is tested in
  # tests/test_cache.py, the fresh-process path by benchmarks/gpu_check.sh --cpu)
  out = subprocess.run([sys.executable, "-m", "benchmarks.sweep", "--smoke", "--noown_processes",
                        "--json", str(path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  r = json.loads(path.read_text())
  for key in ("peak_gflops", "sweep_useful_gflops", "sweep_model_steps_per_s",
              "jax_loop_model_steps_per_s", "torch_model_steps_per_s",
              "sweep_first_call_model_steps_per_s", "jax_loop_first_call_model_steps_per_s"):
    assert key in r, key
  assert r["peak_gflops"] > 0 and r["sweep_model_steps_per_s"] > 0
  try:
    import torch  # noqa: F401
    assert r["torch_model_steps_per_s"] > 0
    assert r["torch_stacked_model_steps_per_s"] > 0 and r["torch_peer"] == "torch_stacked"
    assert r["sweep_speedup_over_torch_peer"] > 0
  except ImportError:
    assert r["torch_model_steps_per_s"] is None
  ab = tmp_path / "ab.json"
  out = subprocess.run([sys.executable, "-m", "benchmarks.engine_ab", "--smoke", "--rounds", "1",
                        "--previous", "HEAD", "--json", str(ab)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr
  r = json.loads(ab.read_text())
  assert r["median_compiled_s"]["previous"] > 0 and r["median_compiled_s"]["today"] > 0
  bad = subprocess.run([sys.executable, "-m", "benchmarks.engine_ab", "--smoke",
                        "--previous", "0000000"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert bad.returncode != 0 and "--previous 0000000: cannot check it out" in bad.stderr


def test_every_sim_run_has_the_same_signature():
  """make_all calls every sim the same way, run(cfg, workdir, log=None): no per-sim special case."""
  import importlib
  import inspect

  from sims import make_all

  for module in make_all.SIMS.values():
    params = list(inspect.signature(importlib.import_module(module).run).parameters.values())
    assert [p.name for p in params[:3]] == ["cfg", "workdir", "log"], module
    assert params[2].default is print, module
    assert all(p.default is not inspect.Parameter.empty for p in params[2:]), module


def test_recipe_grid_writes_bounded_fractions_and_names_bad_flags(tmp_path):
  """sims.recipe at its smoke size: every fraction lies in [0, 1], and a scale-aware copy (relative
  error < 0.1, so cosine > 0.99) is always also a cosine copy, so the copy fraction never exceeds the
  cosine fraction in any cell. Bad grids are named."""
  from sims import recipe

  cfg = recipe.Config.smoke()
  out = recipe.run(cfg, str(tmp_path), log=None)
  for kind in ("mem", "gen"):
    c, cos = out[f"{kind}_copy"], out[f"{kind}_cosine"]
    assert c.shape == (1, 2, 1) and np.all((0 <= c) & (c <= cos) & (cos <= 1)), (kind, c, cos)
  summ = json.loads((tmp_path / "summary.json").read_text())
  assert set(summ["data_cards"]) == {"mem", "gen"} and summ["data_cards"]["gen"]["p"] == cfg.width
  # λ and the learning rate are swept, so the card states neither (the table has them per cell)
  assert summ["data_cards"]["gen"]["lam"] is None and summ["data_cards"]["mem"]["learning_rate"] is None
  for kwargs, message in ((dict(learning_rates=()), "--learning_rates must be a non-empty list"),
                          (dict(weight_decays=(-1.0,)), "--weight_decays must be a non-empty list")):
    with pytest.raises(ValueError, match=message):
      recipe.Config(**kwargs)
