"""The deep-denoiser sim (sims/deep_denoiser.py): a smoke run of the whole sim through the sweep
engine, its record's invariants, the reload of its orbax checkpoints (the figure never retrains), the
scale knob, flag checks, and the summary logic on hand-made rows."""

import json

import numpy as np
import pytest

from sims import deep_denoiser as dd
from sims import detection as det_sim


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  """The smoke config, run once (tiny nets, 40 steps: the numbers are meaningless; only structure,
  ranges and invariants are checked), then run again into the same workdir, which must reload every
  model from its checkpoint instead of training."""
  cfg = dd.Config.smoke()
  workdir = tmp_path_factory.mktemp("deep")
  first = dd.run(cfg, str(workdir), log=None)
  second = dd.run(cfg, str(workdir), log=None)
  with open(workdir / "summary.json") as f:
    summ = json.load(f)
  return cfg, workdir, first, second, summ


def test_the_record_holds_every_experiment_with_its_invariants(smoke):
  cfg, workdir, first, _, summ = smoke
  v, a = cfg.resolved(), first["arrays"]
  taps = dd.tap_names(cfg)
  seeds, k = v["seeds"], len(v["sizes"])
  assert summ["taps"] == list(taps) and list(summ["fig5"]) == list(taps)
  # lenses: one value per (seed, N); fractions in [0, 1]; the Jacobian per σ
  for key in dd.TRANSITION.values():
    assert a[f"lens/{key}"].shape == (seeds, k)
  assert np.all((a["lens/copy_fraction"] >= 0) & (a["lens/copy_fraction"] <= 1))
  assert a["lens/jac_trace"].shape == (seeds, k, len(cfg.jacobian_sigmas))
  assert set(summ["fits"]) == set(dd.TRANSITION)
  for f in summ["fits"].values():
    assert len(f["identified"]) == seeds
  # Fig. 5: draws per memorized image, one per generalizing image, std(h) >= 0
  n0 = v["sizes"][0]
  for t in taps:
    assert a[f"fig5/{t}/mem_std"].shape == (n0 * cfg.draws,)
    assert np.all(a[f"fig5/{t}/mem_std"] >= 0) and np.all(a[f"fig5/{t}/gen_std"] >= 0)
    e = summ["fig5"][t]
    assert len(e["mem_median"]) == seeds and all(0 <= x <= 1 for x in e["auroc"])
  # detection: every tap scored, rows well formed, intervals contain their estimate
  names = summ["detection"]["score_names"]
  assert all(any(n.startswith(f"{t}: std(h)") for n in names) for t in taps)
  assert det_sim.NEAREST in names
  for r in summ["detection"]["rows"]:
    if r["auroc"] is not None:
      assert 0 <= r["auroc"] <= 1 and 0 <= r["tpr"] <= 1
      # a percentile interval need not contain its estimate: only its order and range are invariants
      assert 0 <= r["auroc_ci"][0] <= r["auroc_ci"][1] <= 1
    assert r["models"] <= v["det_seeds"]
  counts = summ["detection"]["counts"]["copy"]
  assert len(counts) == v["det_seeds"]
  assert all(sum(c.values()) == v["samples"] for c in counts)
  # steering: P(target) in [0, 1] where finite; the pixel baseline moves evenly (jump share 1)
  st = summ["steering"]
  assert st is not None and 0 <= st["classifier_test_accuracy"] <= 1
  for kind in dd.KINDS:
    for t in ("stored", "other"):
      p = a[f"steer/{kind}_{t}_prob"]
      assert p.shape == (seeds, cfg.levels, cfg.paths)
      assert np.all((p[np.isfinite(p)] >= 0) & (p[np.isfinite(p)] <= 1))
  js = st["metrics"]["pixel"]["stored"]["jump_share_u"]["mean"]
  assert js == pytest.approx(1.0, abs=1e-6)  # equal steps of the straight line (float64 rounding)


def test_a_rerun_reloads_every_checkpoint_and_reproduces_the_numbers(smoke):
  """The second run trains nothing (every model comes from its orbax checkpoint) and, with the same
  keys, reproduces the first run's measurements exactly: the checkpoints hold the trained weights."""
  cfg, workdir, first, second, _ = smoke
  assert first["summary"]["models_trained"] == first["summary"]["models"] > 0
  assert second["summary"]["models_trained"] == 0
  for key in ("lens/copy_fraction", "lens/rmse_gaussian", "lens/jac_trace", "det/samples",
              f"fig5/{cfg.tap}/mem_std"):
    np.testing.assert_array_equal(first["arrays"][key], second["arrays"][key])
  assert (workdir / "checkpoints").is_dir()


def test_the_scale_knob_fills_only_the_fields_left_at_zero():
  cpu, gpu = dd.Config(), dd.Config(scale="gpu")
  assert cpu.resolved() == dd.SCALES["cpu"] and gpu.resolved() == dd.SCALES["gpu"]
  assert gpu.resolved()["side"] >= 32 and gpu.resolved()["width"] > cpu.resolved()["width"]
  mixed = dd.Config(scale="gpu", steps=123, sizes=(4, 8, 16, 32))
  assert mixed.resolved()["steps"] == 123 and mixed.resolved()["sizes"] == (4, 8, 16, 32)
  assert mixed.resolved()["width"] == dd.SCALES["gpu"]["width"]
  assert dd.Config(dataset="folder", folder="/x").resolved()["side"] == 32  # the folder's 32 × 32
  # one padded matrix for every sweep: the larger of the pool's largest N and the detection set
  c = dd.Config(sizes=(4, 8, 16, 600), det_n=100, multiplicities=(1, 10))
  assert dd.train_rows(c) == max(600, 100 + 1 + 10 - 2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(scale="tpu"), "--scale must be one of"),
    (dict(dataset="faces"), "--dataset must be one of"),
    (dict(dataset="folder"), "needs --folder"),
    (dict(sizes=(8, 32, 128)), "--sizes must be >= 4 increasing"),
    (dict(sizes=(32, 8, 64, 128)), "--sizes must be >= 4 increasing"),
    (dict(seeds=1), "--seeds must be >= 2"),
    (dict(det_seeds=1), "--det_seeds must be >= 2"),
    (dict(side=10, channel_mult=(1, 2, 2)), "--side must be >= 4 and divisible by 2**(levels - 1) = 4"),
    (dict(multiplicities=(10, 1)), "--multiplicities must be at least 2 increasing"),
    (dict(sigma_lo=5.0, sigma_hi=2.0), "--sigma_hi must be > --sigma_lo"),
    (dict(learning_rate=0.0), "--learning_rate must be > 0"),
])
def test_bad_flags_are_refused_naming_the_flag(kwargs, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
    dd.Config(**kwargs)


def test_an_unknown_tap_is_refused_before_any_training(tmp_path):
  with pytest.raises(ValueError, match="--tap must be one of the U-Net's taps"):
    dd.run(dataclass_replace(dd.Config.smoke(), tap="up3"), str(tmp_path), log=None)
  assert not (tmp_path / "checkpoints").exists()


def dataclass_replace(cfg, **kw):
  import dataclasses

  return dataclasses.replace(cfg, **kw)


def test_best_rows_and_targets():
  """best_rows keeps the copy label's rows of one group that have a number, best AUROC first;
  _targets names the memorizing set's first class and the smallest class it lacks, and refuses a
  set that holds every class."""
  row = lambda score, auc, group=det_sim.ANY, label="copy": dict(score=score, auroc=auc, label=label,
                                                                 group=group)
  rows = [row("a", 0.6), row("b", 0.9), row("c", None), row("d", 0.95, label="ratio"),
          row("e", 0.99, group=300)]
  assert [r["score"] for r in dd.best_rows(rows, det_sim.ANY)] == ["b", "a"]
  assert [r["score"] for r in dd.best_rows(rows, 300)] == ["e"]
  assert dd._targets(np.array([3, 1, 3, 0])) == (3, 2)
  with pytest.raises(ValueError, match="holds every digit class"):
    dd._targets(np.arange(10))
