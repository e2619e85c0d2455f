"""End-to-end: ``sims.make_all --smoke`` runs every sim at smoke size and draws every figure from the
run records (``summary.json`` included); the figure scripts' absl command lines, as captions.md prints
them, redraw the same figures; the acceptance claims of the image and hybrid runs are checked on their
saved results; bad inputs give clear messages."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sims import make_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  root = tmp_path_factory.mktemp("figs")
  logs = []
  res = make_all.make_all(str(root / "runs"), str(root / "out"), smoke=True, log=logs.append)
  return root, res, logs


def test_every_figure_is_drawn_with_a_caption(smoke):
  root, res, _ = smoke
  assert set(res) == set(make_all.FIGURES)
  for name, (paths, caption) in res.items():
    assert [os.path.basename(p) for p in paths] == [f"{name}.png", f"{name}.pdf"]
    assert all(os.path.getsize(p) > 5000 for p in paths), paths
    assert caption and "nan" not in caption.lower(), (name, caption)
  table = (root / "out" / "captions.md").read_text()
  assert all(f"| {n} |" in table for n in make_all.FIGURES)


def test_every_sim_writes_a_checksummed_summary(smoke):
  """Each sim's run record holds summary.json ({"lines": [...], ...}), listed in meta.json; the
  transition run also carries its TRANSITION table, which the figure reads instead of importing it."""
  from sims import transition

  root, _, _ = smoke
  for module in make_all.SIMS.values():
    run = root / "runs" / module.split(".")[-1]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["lines"] and all(isinstance(line, str) for line in summary["lines"]), module
    assert "summary.json" in json.loads((run / "meta.json").read_text())["files"], module
  summary = json.loads((root / "runs" / "transition" / "summary.json").read_text())
  assert summary["transition"] == transition.TRANSITION
  assert list(summary["transition"]) == list(transition.TRANSITION)  # the order of the lenses


@pytest.mark.parametrize("name", ["phase_diagram", "theory_checks", "transition", "fig4_std"])
def test_the_captions_command_redraws_the_figure(smoke, tmp_path, name):
  """The command a captions.md row prints (absl flags) draws the figure with the same caption."""
  root, res, _ = smoke
  row = next(line for line in (root / "out" / "captions.md").read_text().splitlines()
             if line.startswith(f"| {name} |"))
  cmd = row.split("`")[1].split()
  assert cmd[:3] == ["python", "-m", f"figures.{name}"], cmd
  out = subprocess.run([sys.executable, *cmd[1:], "--out", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines()[-1] == res[name][1]
  assert (tmp_path / f"{name}.png").stat().st_size > 5000


@pytest.mark.parametrize("args,message", [
    (["--bogus=1"], "Unknown command line flag 'bogus'"),
    (["--out="], "--out must not be empty"),
])
def test_a_bad_figure_flag_is_named(tmp_path, args, message):
  out = subprocess.run([sys.executable, "-m", "figures.fig6_hybrid", "--mixture_workdir",
                        str(tmp_path / "none"), *args], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
  assert out.returncode != 0 and message in out.stderr, out.stderr
  assert "Traceback" not in out.stderr, out.stderr


def test_a_record_without_a_summary_is_refused_by_the_figures_and_rerun_by_make_all(tmp_path):
  """A complete record written before summary.json existed: a figure names the rerun command, and
  make_all reruns the sim instead of reusing the record."""
  import time

  from dae_theory import io as dio
  from figures import style
  from sims import theory_checks

  run = tmp_path / "theory_checks"
  dio.write_run(str(run), theory_checks.Config.smoke(), {"a": np.zeros(1)}, time.time())
  with pytest.raises(FileNotFoundError, match="has no summary.json .* Rerun: python -m "
                                              "sims.theory_checks --workdir"):
    style.load_run(str(run), "sims.theory_checks")
  logs = []
  make_all.ensure_run("checks", str(tmp_path), smoke=True, log=logs.append)
  assert any("no summary.json (an older record): rerunning" in line for line in logs), logs
  assert style.load_run(str(run), "sims.theory_checks")[2]["lines"]


def test_saved_runs_are_reused_when_the_config_matches(smoke, tmp_path):
  root, _, _ = smoke
  logs = []
  before = os.path.getmtime(root / "runs" / "image_dae" / "results.npz")
  make_all.make_all(str(root / "runs"), str(root / "out"), smoke=True, only=["fig2_samples"],
                    log=logs.append)
  # --only remakes one row of captions.md and keeps the others.
  table = (root / "out" / "captions.md").read_text()
  assert all(f"| {n} |" in table for n in make_all.FIGURES), table
  assert any("reusing" in line for line in logs), logs
  assert os.path.getmtime(root / "runs" / "image_dae" / "results.npz") == before
  # A changed config is not reused: edit the saved config (of a copy: the shared record stays
  # intact for test_image_sim_records_the_scale_aware_copy_label_and_sample_quality) and the sim
  # runs again.
  image_cfg = make_all.importlib.import_module("sims.image_dae").Config.smoke()
  assert make_all._saved_config_matches(str(root / "runs" / "image_dae"), image_cfg)
  copy = tmp_path / "image_dae"
  shutil.copytree(root / "runs" / "image_dae", copy)
  assert make_all._saved_config_matches(str(copy), image_cfg)
  saved = json.loads((copy / "config.json").read_text())
  (copy / "config.json").write_text(json.dumps(dict(saved, seeds=saved["seeds"] + 1)))
  assert not make_all._saved_config_matches(str(copy), image_cfg)


def test_force_reruns_the_phase_sweep_and_keeps_the_old_run(smoke):
  """--force must rerun, not resume from the finished chunks nor refuse the workdir: the old run is
  moved to <run>.previous and a new one is written."""
  root, _, _ = smoke
  run = root / "runs" / "phase_diagram"
  old_results = (run / "results.npz").read_bytes()
  (run / "marker").write_text("old")
  logs = []
  make_all.make_all(str(root / "runs"), str(root / "out3"), smoke=True, only=["phase_diagram"],
                    force=True, log=logs.append)
  assert (root / "runs" / "phase_diagram.previous" / "marker").read_text() == "old"
  assert not (run / "marker").exists() and (run / "meta.json").exists()
  assert any("moved the earlier run" in line for line in logs), logs
  # Same code, same config: the rerun reproduces the old results exactly.
  np.testing.assert_array_equal(np.load(run / "results.npz")["w1"],
                                np.load(io.BytesIO(old_results))["w1"])


def test_unknown_figure_is_named():
  with pytest.raises(ValueError, match="unknown figures \\['fig99'\\]"):
    make_all.make_all("/nonexistent", "/nonexistent", smoke=True, only=["fig99"])


def test_figure_before_its_results_exist_names_the_command(tmp_path):
  out = subprocess.run([sys.executable, "-m", "figures.fig4_std", "--image_workdir",
                        str(tmp_path / "none"), "--out", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT)
  assert out.returncode != 0
  assert "--image_workdir: no finished run in" in out.stderr, out.stderr
  assert "python -m sims.image_dae --workdir" in out.stderr, out.stderr
  assert not list(tmp_path.glob("*.png"))


def test_memorization_set_needs_room(tmp_path):
  from sims import image_dae

  with pytest.raises(ValueError, match="--n_memorize/--obtuse_margin: only"):
    image_dae.run(image_dae.Config.smoke().__class__(n_memorize=30, obtuse_margin=0.2, seeds=1),
                  str(tmp_path))
  assert not (tmp_path / "meta.json").exists()


@pytest.mark.parametrize("kwargs,message", [
    (dict(dataset="cifar"), "--dataset must be one of"),
    (dict(dataset="folder"), "--image_folder must be given exactly when --dataset folder"),
    (dict(threshold=1.5), "--threshold must be in \\(0, 1\\]"),
    (dict(sigma=0.0), "--sigma must be > 0"),
    (dict(plain_recipe="mine"), "--plain_recipe must be one of \\('shared', 'reference'\\)"),
    (dict(plain_optimizer="lbfgs"), "--plain_optimizer must be one of"),
    (dict(plain_seeds=1), "--plain_seeds must be >= 2"),
    (dict(plain_weight_decay=-1.0), "--plain_weight_decay must be >= 0"),
    (dict(learning_rate=0.0), "--learning_rate must be > 0"),
])
def test_bad_image_flags_are_named(kwargs, message):
  from sims import image_dae

  with pytest.raises(ValueError, match=message):
    image_dae.Config(**kwargs)


def test_missing_image_folder_is_named(tmp_path):
  from sims import image_dae

  cfg = image_dae.Config.smoke()
  cfg = cfg.__class__(**{**cfg.__dict__, "dataset": "folder", "image_folder": str(tmp_path / "x")})
  with pytest.raises(FileNotFoundError, match="does not exist"):
    image_dae.run(cfg, str(tmp_path / "run"))


def test_image_sim_on_a_users_folder_keeps_good_images_and_names_the_bad_one(tmp_path, capsys):
  """The user-folder path of the image sim, on images this test writes (one of them corrupt)."""
  from PIL import Image

  from sims import image_dae

  folder = tmp_path / "imgs"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(12):
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i:02d}.png")
  (folder / "bad.png").write_bytes(b"not a png")
  base = image_dae.Config.smoke()
  cfg = base.__class__(**{**base.__dict__, "dataset": "folder", "image_folder": str(folder),
                          "side": 8, "n_memorize": 2, "obtuse_margin": 0.0})
  out = image_dae.run(cfg, str(tmp_path / "run"))
  assert out["train_images"].shape == (12, 64)
  assert "skipped unreadable image" in capsys.readouterr().out
  assert (tmp_path / "run" / "meta.json").exists()


def test_image_sim_records_the_scale_aware_copy_label_and_sample_quality(smoke, tmp_path):
  """Issue 13 A/B/F and item 9 on the smoke run of make_all (its saved record, read back: what the
  figures read; the data cards are recomputed from the config and the stored memorization set and
  must equal the record's): beside the cosine label the sim stores the
  scale-aware copy report per sample and the copy fraction per seed, and finite sample-quality medians;
  every model kind has a data card whose training settings are the config's (one recipe for both
  kinds of each pair); the plain DAEs' per-seed column statistics agree with the stored columns, and
  Fig. 4's AUROCs are the mean over model seeds of the AUROC recomputed from the stored scores, inside
  a bootstrap interval in [0, 1]. Figures 2-4 draw it with the cards in their captions. The copy
  fraction is not assumed to be at most the cosine fraction (the two labels need not nest)."""
  from dae_theory import detection
  from dae_theory import io as dio
  from figures import fig2_samples, fig3_columns, fig4_std, style
  from sims import image_dae

  root, _, _ = smoke
  run = root / "runs" / "image_dae"
  cfg = image_dae.Config.smoke()
  loaded = {"image": style.load_run(str(run), "sims.image_dae")}
  assert loaded["image"][0] == dio.to_jsonable(cfg)
  out = dict(loaded["image"][1])
  for name in ("mem", "gen"):
    shape = (cfg.seeds, cfg.n_samples)
    for k in ("ratio", "relative_error", "norm_ratio", "is_copy"):
      assert out[f"{name}_copy_{k}"].shape == shape, k
    assert out[f"{name}_copy_is_copy"].dtype == bool
    frac = out[f"{name}_copy_fraction"]
    assert frac.shape == (cfg.seeds,) and np.all((0 <= frac) & (frac <= 1))
    np.testing.assert_allclose(frac, out[f"{name}_copy_is_copy"].mean(1))
    assert out[f"{name}_fraction"].shape == (cfg.seeds,)  # the cosine label is kept
    for k in ("sample_nn_dist_median", "sample_confidence_median", "outside_fraction"):
      assert np.all(np.isfinite(out[f"{name}_{k}"])) and out[f"{name}_{k}"].shape == (cfg.seeds,), k
    assert np.isfinite(out[f"{name}_heldout_nn_dist_median"])
    assert np.all((0 <= out[f"{name}_outside_fraction"]) & (out[f"{name}_outside_fraction"] <= 1))
    # plain DAEs: one entry per model seed, consistent with the stored columns
    s = cfg.plain_seeds
    assert out[f"{name}_w"].shape == (s, 64, cfg.width)
    np.testing.assert_array_equal(out[f"{name}_live_count"], out[f"{name}_col_live"].sum(1))
    for i in range(s):
      live = out[f"{name}_col_live"][i]
      assert out[f"{name}_live_cos_min"][i] == out[f"{name}_col_cos"][i][live].min()
      assert out[f"{name}_live_cos_max"][i] == out[f"{name}_col_cos"][i][live].max()
    assert out[f"{name}_std"].shape == (s, cfg.n_memorize * cfg.draws)
  assert np.all((0 <= out["mem_images_stored"]) & (out["mem_images_stored"] <= cfg.n_memorize))
  # the memorization set satisfies Cor. 3.2's hypothesis after centring (the rule that picked it)
  assert out["mem_set_centred_cos"][1] < -cfg.obtuse_margin <= 0
  assert out["mem_set_raw_cos"][0] <= out["mem_set_raw_cos"][1]
  assert 0 < out["heldout_confidence_median"] <= 1
  # Fig. 4: per-seed AUROC = the AUROC of that seed's stored scores; the estimate is their mean
  labels = np.r_[np.ones(out["mem_std"].shape[1]), np.zeros(out["gen_std"].shape[1])]
  for score, sign, key in (("std", 1, "std"), ("pr", -1, "pr")):
    per = [detection.auroc(labels, sign * np.r_[m, g])
           for m, g in zip(out[f"mem_{key}"], out[f"gen_{key}"])]
    np.testing.assert_allclose(out[f"auroc_{score}_per_seed"], per, rtol=1e-12)
    np.testing.assert_allclose(out[f"auroc_{score}"], np.mean(per), rtol=1e-12)
    lo, hi = out[f"auroc_{score}_ci"]
    assert 0 <= lo <= hi <= 1
  lo, hi = out["auroc_pr_minus_std_ci"]
  assert -1 <= lo <= hi <= 1
  # data cards: the record's equal those recomputed from the config and the stored memorization
  # set; every kind, the config's settings, one recipe per pair
  cards = loaded["image"][2]["data_cards"]
  raw, _, held = image_dae.load_split(cfg)
  np.testing.assert_array_equal(out["train_images"], raw)
  centred = raw - raw.mean(0)
  assert cards == dio.to_jsonable(image_dae.data_cards(cfg, centred[out["mem_idx"]], centred,
                                                      held["labels"]))
  assert set(cards) == {"diffusion memorizing", "diffusion generalizing", "plain memorizing",
                        "plain generalizing"}
  for kind in ("memorizing", "generalizing"):
    dc, pc = cards[f"diffusion {kind}"], cards[f"plain {kind}"]
    assert (dc["learning_rate"], dc["lam"], dc["steps"], dc["seeds"], dc["p"]) == (
        cfg.learning_rate, 64 * cfg.weight_decay / 4, cfg.diffusion_steps, cfg.seeds,
        cfg.diffusion_width)
    assert (pc["learning_rate"], pc["lam"], pc["steps"], pc["seeds"], pc["p"]) == (
        cfg.plain_learning_rate, 64 * cfg.plain_weight_decay / 4, cfg.plain_steps, cfg.plain_seeds,
        cfg.width)
  assert cards["plain memorizing"]["n"] == cfg.n_memorize and cards["plain memorizing"]["obtuse"]
  lines = image_dae.summary(out, cfg)
  assert any("copy fraction (scale-aware" in l for l in lines)
  assert any("classifier confidence" in l for l in lines)
  paths, caption = fig2_samples.draw(loaded, str(tmp_path))
  assert all(os.path.exists(p) for p in paths)
  assert "scale-aware copy label" in caption and "by cosine" in caption
  assert "classifier confidence" in caption
  assert style.card_text(cards["diffusion memorizing"], "diffusion memorizing") in caption
  _, caption = fig3_columns.draw(loaded, str(tmp_path))
  assert f"Over {cfg.plain_seeds} model seeds" in caption
  assert style.card_text(cards["plain generalizing"], "plain generalizing") in caption
  # Fig. 4 against a one-model record (the mixture half may have no interval): said in the caption
  one = {k: v for k, v in loaded["image"][1].items() if not k.startswith("auroc_") or
         k in ("auroc_std", "auroc_pr")}
  loaded["mixture"] = (loaded["image"][0], one, {"lines": []})
  _, caption = fig4_std.draw(loaded, str(tmp_path))
  assert f"mean over {cfg.plain_seeds} model seeds" in caption
  assert "interval over model seeds" in caption and "no interval over model seeds" in caption


def test_the_plain_recipes_share_settings_or_name_the_reference():
  """--plain_recipe shared gives both kinds the same optimizer, rate, λ and steps; reference gives
  the reference code's per-kind values (λ = d·wd/4: 0.16 vs 1.6e-3 on digits), and the data cards say
  which (no training: the recipe and the cards only)."""
  from sims import image_dae

  x = np.random.default_rng(0).normal(size=(40, 64))
  shared = image_dae.Config.smoke()
  mem, gen = image_dae.plain_recipe(shared, "mem"), image_dae.plain_recipe(shared, "gen")
  assert mem == gen
  ref = shared.__class__(**{**shared.__dict__, "plain_recipe": "reference"})
  mem, gen = image_dae.plain_recipe(ref, "mem"), image_dae.plain_recipe(ref, "gen")
  assert (mem["optimizer"], gen["optimizer"]) == ("rmsprop", "adam")
  assert mem["steps"] == gen["steps"] == ref.plain_steps
  cards = image_dae.data_cards(ref, x[:3], x, np.arange(40) % 4)
  np.testing.assert_allclose([cards["plain memorizing"]["lam"], cards["plain generalizing"]["lam"]],
                             [0.16, 1.6e-3], rtol=1e-12)
  assert cards["plain memorizing"]["optimizer"] == "rmsprop (constant rate)"
  assert cards["diffusion memorizing"]["lam"] == cards["diffusion generalizing"]["lam"]


def test_non_finite_samples_are_never_copies():
  from sims import image_dae

  train = np.random.default_rng(0).normal(size=(5, 4))
  samples = np.stack([np.stack([train[0], np.full(4, np.nan), train[1] * 0.5])])
  f = image_dae._copy_fields("mem", samples, train)
  np.testing.assert_array_equal(f["mem_copy_is_copy"], [[True, False, False]])
  assert np.isnan(f["mem_copy_ratio"][0, 1])
  np.testing.assert_allclose(f["mem_copy_fraction"], [1 / 3])


def test_image_grid_draws_every_tile_on_one_scale():
  """The tiles keep their raw values on one grey scale (not each its own min-max): a tile at half the
  values of another is drawn darker; the default limits are symmetric."""
  import matplotlib.pyplot as plt

  from figures import style

  img = np.linspace(0.1, 1.0, 16)
  fig, ax = plt.subplots()
  style.image_grid(ax, np.stack([img, 0.5 * img]), 4, 2, vmin=-1, vmax=1)
  im = ax.images[0]
  assert im.get_clim() == (-1, 1)
  canvas = im.get_array()
  np.testing.assert_allclose(canvas[1:5, 1:5].ravel(), img)
  np.testing.assert_allclose(canvas[1:5, 6:10].ravel(), 0.5 * img)
  ax.clear()
  style.image_grid(ax, np.stack([img, -0.5 * img]), 4, 2)
  lo, hi = ax.images[0].get_clim()
  assert lo == -hi and 0.9 < hi <= 1.0
  plt.close(fig)
