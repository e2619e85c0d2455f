"""sims.mechanism_map and figures.mechanism_map: the per-net labels on constructed weights (spiky,
split, rotated), the smoke run's record (shapes, bounds, the Eq. 9 blanks exactly where Cor. 3.2's
hypothesis fails, measured β), the figure, bad flags, and SIGKILL-and-resume of the sim."""

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import kill_and_resume

from dae_theory import constructions, data
from sims import mechanism_map as mm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _eval(w, x, sigma=0.2, lam=1e-3, draws=8):
  x = jnp.asarray(x)
  ref = jnp.asarray(mm.eq9_matrix(np.asarray(x), sigma, lam), x.dtype)
  eps_tr = jax.random.normal(jax.random.key(1), (draws,) + x.shape, x.dtype)
  test = jax.random.normal(jax.random.key(2), (64, x.shape[1]), x.dtype)
  test = test / jnp.linalg.norm(test, axis=1, keepdims=True)
  eps_te = jax.random.normal(jax.random.key(3), test.shape, x.dtype)
  out = jax.jit(mm._evaluate)(jnp.asarray(w, x.dtype), x, test, jnp.asarray(sigma, x.dtype), eps_tr, eps_te,
                     ref)
  return {k: float(v) for k, v in out.items()}


def test_the_labels_of_spiky_split_and_rotated_memorizing_weights():
  """On 8 pairwise-obtuse samples (simplex, d = 16): W_mem of Eq. 9 stores every sample (fraction
  1), is at distance 0 from Eq. 9 and has 8 live columns; W_mem with every column split in two
  parallel halves (c/√2 each, the same f and ‖W‖²) is the same net modulo splitting: stored 1,
  distance 0, grouped participation ratio unchanged, 16 live columns; W_mem Q for a random
  orthogonal Q of the hidden space has the same W Wᵀ (distance 0: the Gram distance is blind to the
  mechanism) but no column is aligned with a sample, so it stores none. All identities of float64
  constructions (tolerance 1e-9 for the round-off of a 16 x 16 product)."""
  with jax.enable_x64(True):
    x = np.asarray(data.cluster_geometry(jax.random.key(0), 8, 1, 16, -1 / 7).x, np.float64)
    w = np.asarray(constructions.memorization_weights(x, 0.2, 1e-3).params.w1)
    spiky = _eval(w, x)
    assert spiky["stored_fraction"] == 1 and spiky["live_columns"] == 8
    assert spiky["dist_eq9"] < 1e-9 and spiky["ratio"] > mm.MEMORIZING_RATIO
    split = _eval(np.concatenate([w, w], 1) / np.sqrt(2), x)
    assert split["stored_fraction"] == 1 and split["live_columns"] == 16
    assert split["dist_eq9"] < 1e-9
    assert abs(split["grouped_pr"] - spiky["grouped_pr"]) < 1e-9
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))
    rot = _eval(w @ q, x)
    assert rot["dist_eq9"] < 1e-9 and rot["stored_fraction"] == 0
    assert rot["stored_cosine_fraction"] == 0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  wd = tmp_path_factory.mktemp("mm") / "run"
  started = time.time()
  cfg = mm.Config.smoke()
  mm.run(cfg, str(wd), log=None)
  return cfg, wd, time.time() - started


def test_the_smoke_run_writes_a_bounded_record(smoke):
  """Shapes (β, optimizer, λ, width, seed, checkpoint); every fraction in [0, 1]; live columns in
  0 … p; the grouped participation ratio in [1, n] (0 where nothing fires); the test/train ratio > 0; the Eq. 9 distance
  blank (NaN) exactly where Cor. 3.2's hypothesis fails (β ≥ 0, nλ ≥ min‖x_i‖² or p < n) and finite
  elsewhere; the data cards measure the requested β (cluster_geometry hits it to 1e-6); the last
  checkpoint's metrics come from the final weights. The smoke run takes seconds (bound 60 s on a
  loaded 2-core machine)."""
  cfg, wd, _ = smoke
  r = np.load(wd / "results.npz")
  shape = (len(cfg.betas), len(cfg.optimizers), len(cfg.lams), len(cfg.widths), cfg.seeds,
           len(cfg.checkpoints))
  for k in ("stored_fraction", "stored_cosine_fraction", "grouped_pr", "ratio", "dist_eq9",
            "live_columns", "status", "train_loss", "test_loss"):
    assert r[k].shape == shape, k
  assert np.all(r["status"] < 0)
  for k in ("stored_fraction", "stored_cosine_fraction"):
    assert np.all((r[k] >= 0) & (r[k] <= 1)), k
  widths = np.array(cfg.widths)[None, None, None, :, None, None]
  assert np.all((r["live_columns"] >= 0) & (r["live_columns"] <= widths))
  # a net that weight decay switched off (no live column, nothing fires) has grouped_pr 0
  pr = r["grouped_pr"]
  assert np.all((pr == 0) | ((pr >= 1 - 1e-6) & (pr <= cfg.n + 1e-6)))
  assert np.all((pr == 0) <= (r["live_columns"] == 0) | (r["stored_fraction"] == 0))
  assert np.all(r["ratio"] > 0)
  beta = r["betas_measured"][:, None, None, None, None, None]
  holds = (beta < 0) & (r["n_lam_over_min_sq"] < 1) & (widths >= cfg.n)
  assert np.array_equal(np.isnan(r["dist_eq9"]), ~np.broadcast_to(holds, shape))
  np.testing.assert_allclose(r["betas_measured"], [max(b, -1 / (cfg.clusters - 1))
                                                   for b in cfg.betas], atol=1e-6)
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["lines"] and summary["models"] == np.prod(shape[:5])
  assert set(summary["spiky_share"]) == set(cfg.optimizers)
  assert len(summary["data_cards"]) == len(cfg.betas)


def test_the_figure_draws_from_the_record(smoke, tmp_path):
  from figures import mechanism_map as fig
  from figures import style

  _, wd, _ = smoke
  paths, caption = fig.draw({"map": style.load_run(str(wd), "sims.mechanism_map")}, str(tmp_path))
  assert [os.path.basename(p) for p in paths] == ["mechanism_map.png", "mechanism_map.pdf"]
  assert all(os.path.getsize(p) > 5000 for p in paths)
  assert "model seeds" in caption and "nan" not in caption.lower()


@pytest.mark.parametrize("kwargs,match", [
    (dict(betas=(-0.5,)), r"--betas must lie in \[-1/\(M-1\), 1\)"),
    (dict(learning_rates=(1e-2,)), "--learning_rates needs one rate per optimizer"),
    (dict(optimizers=("adam", "lion", "sgd")), "--optimizers must be names of"),
    (dict(checkpoints=(100, 50)), "--checkpoints must be increasing"),
    (dict(schedule="step"), "--schedule must be one of"),
])
def test_bad_flags_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    mm.Config(**kwargs)


def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
  """The sim (optimizer axis, checkpoints) is SIGKILLed after its first chunk file is on disk; the
  same command resumes and its results equal an uninterrupted run's bit for bit."""
  args = ["--smoke", "--betas=-0.3333333", "--chunk_size=4"]
  a, b, n_before, killed = kill_and_resume(tmp_path, "sims.mechanism_map", args,
                                            "sweeps/beta_0/chunks", 4)
  for k in ("stored_fraction", "ratio", "live_columns", "train_loss", "status"):
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  lines = [json.loads(line) for line in
           (killed / "sweeps" / "beta_0" / "metrics.jsonl").read_text().splitlines()]
  assert sum(r["from_disk"] for r in lines[-4:]) == n_before
