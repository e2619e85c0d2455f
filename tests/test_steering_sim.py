"""Representation steering: the sim on the lab's diffusion DAEs, its flags, and the steering API."""

import numpy as np
import pytest
from conftest import assert_within_rounding

from dae_theory import steering as steer_lib
from sims import steering


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  """The smoke config (2 model seeds, 4 paths, 5 levels of a, 300 steps), run once for the tests
  below. Its numbers are meaningless (tiny models); only structure and invariants are checked."""
  import json

  cfg = steering.Config.smoke()
  workdir = tmp_path_factory.mktemp("steering")
  out = steering.run(cfg, str(workdir), log=lambda *_: None)
  with open(workdir / "summary.json") as f:
    summ = json.load(f)
  return cfg, out, summ


def test_steering_record_structure_and_invariants(smoke_run):
  """Probabilities in [0, 1] (NaN only for a non-finite output), on-manifold fractions in [0, 1],
  widths >= 0 and (where no kept step spans a gap) no smaller than 0.8 / max slope, reached in {0, 1}, jump shares >= 1 (the even
  path's); both target classes and the pixel baseline present; the two targets share their a = 0
  samples (same noise) and the pixel baseline starts from the generalizing model's; its motion is
  even (jump share 1)."""
  cfg, out, summ = smoke_run
  stored, other = (int(c) for c in out["target_classes"])
  assert stored != other and 0 <= other <= 9 and 0 <= stored <= 9
  shape = (cfg.seeds, cfg.levels, cfg.paths)
  for kind in steering.KINDS:
    for t in steering.TARGETS:
      prob, on = out[f"{kind}_{t}_prob"], out[f"{kind}_{t}_on"]
      assert prob.shape == shape and on.shape == shape and on.dtype == bool
      finite = ~out[f"{kind}_{t}_nonfinite"]
      assert np.all((prob[finite] >= 0) & (prob[finite] <= 1))
      assert np.isnan(prob[~finite]).all() and not on[~finite].any()
      for tag in ("g", "s", "u"):
        w, slope = out[f"{kind}_{t}_width_{tag}"], out[f"{kind}_{t}_max_slope_{tag}"]
        r = out[f"{kind}_{t}_reached_{tag}"]
        assert w.shape == (cfg.seeds, cfg.paths)
        ok = np.isfinite(w)
        assert np.all(w[ok] >= 0)
        if tag != "g":  # without gaps in the kept levels (guard "on" may skip some)
          assert np.all(w[ok] >= 0.8 / slope[ok] * (1 - 1e-12))
        assert set(np.unique(r[np.isfinite(r)])) <= {0.0, 1.0}
        js = out[f"{kind}_{t}_jump_share_{tag}"]
        assert np.all(js[np.isfinite(js)] >= 1 - 1e-9)
      so = out[f"{kind}_{t}_steepest_on"]
      assert set(np.unique(so[np.isfinite(so)])) <= {0.0, 1.0}
      assert np.all(out[f"{kind}_{t}_steepest_norm_before"][np.isfinite(so)] >= 0)
      e = summ["metrics"][kind][t]
      for key in ("off_fraction", "on_at_0", "steepest_on"):
        assert 0 <= float(e[key]["mean"]) <= 1
  for kind in ("mem", "gen"):  # a = 0: the steering term is 0·v, so both targets share the samples
    np.testing.assert_array_equal(out[f"{kind}_stored_norm_ratio"][:, 0],
                                  out[f"{kind}_other_norm_ratio"][:, 0])
  np.testing.assert_allclose(out["pixel_stored_norm_ratio"][:, 0], out["gen_stored_norm_ratio"][:, 0],
                             rtol=1e-12)  # the same samples: a = 0 is t = 0 of the interpolation
  js = out["pixel_stored_jump_share_u"]
  np.testing.assert_allclose(js[np.isfinite(js)], 1.0, rtol=1e-9)  # even motion, a few roundings
  assert set(summ["data_cards"]) == {"memorizing", "generalizing"}
  assert summ["data_cards"]["memorizing"]["n"] == cfg.n_memorize
  assert summ["data_cards"]["generalizing"]["learning_rate"] == cfg.learning_rate
  assert summ["lines"] == steering.summary(out, cfg)


def test_seed_intervals_contain_their_means(smoke_run):
  """With 2 model seeds every finite interval of the table contains its mean (the mean of the seeds'
  means lies inside the percentile interval of resampled means; 1e-12 relative slack for a sum taken
  in another order when all resamples agree) and says how many seeds it used."""
  cfg, _, summ = smoke_run
  assert cfg.seeds >= 2
  checked = 0
  for kind, per_t in summ["metrics"].items():
    for t, entry in per_t.items():
      for name, e in entry.items():
        if not isinstance(e, dict) or not np.isfinite(float(e["mean"])):
          continue
        m, lo, hi = float(e["mean"]), float(e["lo"]), float(e["hi"])
        slack = 1e-12 * max(1.0, abs(m))
        assert lo - slack <= m <= hi + slack, (kind, t, name, e)
        assert 1 <= e["seeds_used"] <= cfg.seeds
        checked += 1
  assert checked >= 30  # most of the 6 × 14 entries have a value even in the smoke run


@pytest.mark.parametrize("kwargs,message", [
    (dict(target_class=10), "--target_class must be -1 or a digit"),
    (dict(levels=1), "--levels must be >= 2"),
    (dict(a_max=0.0), "--a_max must be > 0"),
    (dict(other_class=11), "--other_class must be -1 or a digit"),
    (dict(learning_rate=0.0), "--learning_rate must be > 0"),
    (dict(weight_decay=-1e-4), "--weight_decay must be >= 0"),
    (dict(sigma_lo=-0.1), "--sigma_lo must be >= 0"),
    (dict(sigma_lo=3.0, sigma_hi=4.0), "--sigma_lo must be <= 2.0"),
    (dict(sigma_lo=0.5, sigma_hi=0.5), "--sigma_hi must be > --sigma_lo = 0.5"),
    (dict(sigma_lo=0.0, sigma_hi=0.01), "--sigma_hi must be >= 0.02"),
])
def test_bad_steering_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    steering.Config(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(target_class=0), r"--target_class=0 is not the class of a memorized image \(those are "
                           r"\[1, 3, 5, 6, 8\]\)"),
    (dict(other_class=5), r"--other_class=5 is the class of a memorized image"),
])
def test_targets_that_contradict_the_memorized_set_are_named_before_training(tmp_path, kwargs,
                                                                             message):
  """Default split: the 5 memorized digits are of classes 6, 5, 1, 8, 3. The check runs before any
  model is trained (nothing is written)."""
  with pytest.raises(ValueError, match=message):
    steering.run(steering.Config(**kwargs), str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()


def test_path_metrics_on_known_paths():
  """Even motion has jump share 1/(levels-1); a single jump has 1; a rising probability has rho 1."""
  levels = 11
  even = np.linspace(0, 1, levels)[:, None, None] * np.ones((1, 1, 3))
  step = (np.arange(levels) >= 5)[:, None, None] * np.ones((1, 1, 3))
  x = np.concatenate([even, step], 1)
  prob = np.stack([np.linspace(0, 1, levels), np.linspace(0, 1, levels)], 1)
  m = steer_lib.path_metrics(x, prob)
  np.testing.assert_allclose(m["jump_share"], [1 / (levels - 1), 1.0])
  np.testing.assert_allclose(m["monotonicity"], [1.0, 1.0])
  np.testing.assert_array_equal(m["reached"], [1.0, 1.0])


def test_steering_api_on_the_plain_dae_and_a_users_model():
  """steered_dae is W2(relu(W1^T y) + a v); a = 0 is the model itself; the generic steer takes any
  encoder/decoder (here NumPy-free lambdas standing for a user's model)."""
  import jax
  import jax.numpy as jnp

  from dae_theory import model

  p = model.init_params(jax.random.key(0), 6, 4, tied=False)
  y = jax.random.normal(jax.random.key(1), (3, 6))
  # float32 results against float64 references of the same inputs, to the worst-case rounding bound
  # of each computation (conftest.assert_within_rounding): d = 6 products, p = 4, a mean over 3 rows.
  y64, w1, w2 = (np.asarray(a, np.float64) for a in (y, p.w1, p.decoder))
  h64, h_abs = np.maximum(y64 @ w1, 0), np.abs(y64) @ np.abs(w1)
  v = steer_lib.mean_representation(lambda z: model.representation(p, z), y)
  assert_within_rounding(v, h64.mean(0), h_abs.mean(0), terms=6 + 3)
  assert_within_rounding(steer_lib.steered_dae(p, v, 0.0)(y), h64 @ w2.T, h_abs @ np.abs(w2).T,
                         terms=6 + 4)
  v64 = np.asarray(v, np.float64)
  assert_within_rounding(steer_lib.steered_dae(p, v, 2.0)(y), (h64 + 2.0 * v64) @ w2.T,
                         (h_abs + 2.0 * np.abs(v64)) @ np.abs(w2).T, terms=6 + 3 + 4 + 2)
  user = steer_lib.steer(lambda z: jnp.tanh(z), lambda h: 2 * h, jnp.ones(6), 0.5)
  # XLA's float32 tanh is a few-ulp approximation; with the add and the doubling, 8 u (4 ulps) of
  # the same computation on absolute values, 2 (|tanh y| + 0.5).
  exact = 2 * (np.tanh(y64) + 0.5)
  assert_within_rounding(user(y), exact, 2 * (np.abs(np.tanh(y64)) + 0.5), terms=8)
  with pytest.raises(ValueError, match="need x \\(levels >= 2"):
    steer_lib.path_metrics(np.ones((1, 2, 3)), np.ones((1, 2)))
