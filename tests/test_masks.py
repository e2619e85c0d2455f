"""Tests of dae_theory.masks: gate patterns, margins, noise flips (vs Monte Carlo), the weight
stability radius (probed from both sides), and the balanced-activation slack."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import constructions, data, loss, masks, model


def _construction(seed=0, rank=1, spread=0.5, per_cluster=60, sigma=0.2, width=2, mean_norm=4.0):
  ds = data.gaussian_mixture(jax.random.key(seed), 3, per_cluster, 12, rank, mean_norm, spread)[0]
  return ds, constructions.generalization_weights(ds.x, ds.labels, width, sigma, 1e-4)


def test_pattern_and_margins_agree_with_each_other(x64):
  ds, con = _construction()
  pat = masks.activation_pattern(con.params, ds.x, ds.labels, con.unit_block)
  assert bool(jnp.all(pat.agree)) and int(jnp.sum(pat.missing + pat.extra)) == 0
  m = masks.signed_margins(con.params, ds.x, ds.labels, con.unit_block)
  # The pattern agrees with the blocks exactly where every signed margin is positive.
  np.testing.assert_array_equal(np.asarray(pat.agree), np.asarray(jnp.all(m > 0, 1)))
  assert float(masks.empirical_margin(con.params, ds.x, ds.labels, con.unit_block)) == float(m.min())
  # Normalized margins are the t of the cross-talk bound (two code paths).
  t = masks.normalized_margins(con.params, ds.x, ds.labels, con.unit_block, 0.7)
  cb = loss.crosstalk_bound(con.params, ds.x, ds.labels, con.unit_block, 0.7)
  np.testing.assert_allclose(t, cb.t, rtol=1e-12)


def test_noise_flip_rates_match_phi_of_minus_t(x64):
  """Per-unit flip frequency on n_mc = 20 000 noise draws vs Phi(-t): every (sample, unit) within
  5 binomial standard errors sqrt(q(1-q)/n_mc) (+1e-4 for q ~ 0); the rate of 'any gate flips' lies
  between max_j Phi(-t_j) and the union bound (again up to 5 standard errors)."""
  ds, con = _construction(per_cluster=10, mean_norm=2.5, sigma=0.8)
  sigma, n_mc = 0.8, 20_000
  fp = masks.flip_probabilities(con.params, ds.x, ds.labels, con.unit_block, sigma)
  q = np.asarray(fp.per_unit)
  assert 0.01 < q.max() < 0.5, "instance must have measurable flip rates"
  eps = jax.random.normal(jax.random.key(1), (n_mc,) + ds.x.shape, jnp.float64)
  on = np.asarray(model.gates(con.params, ds.x[None] + sigma * eps))
  expected = np.asarray(ds.labels)[:, None] == con.unit_block[None, :]
  flipped = on != expected[None]
  rate = flipped.mean(0)
  se = np.sqrt(q * (1 - q) / n_mc)
  assert np.all(np.abs(rate - q) <= 5 * se + 1e-4), np.abs(rate - q).max()
  any_rate = flipped.any(-1).mean(0)
  se_any = np.sqrt(np.maximum(any_rate * (1 - any_rate), 1e-6) / n_mc)
  assert np.all(any_rate >= np.asarray(fp.any_lower) - 5 * se_any)
  assert np.all(any_rate <= np.asarray(fp.any_upper) + 5 * se_any)


def test_measured_flip_rates_match_the_closed_form(x64):
  """masks.measured_flip_rates against flip_probabilities: per (sample, unit) within 5 binomial
  standard errors of Phi(-t) (+1e-4 for q ~ 0); its reported standard error is the binomial one; the
  clean pattern is the block pattern here, so the default reference and the blocks give the same
  rates; pooled, the overall rate is the mean of the per-gate rates."""
  ds, con = _construction(per_cluster=10, mean_norm=2.5, sigma=0.8)
  sigma, n_mc = 0.8, 20_000
  assert bool(jnp.all(masks.activation_pattern(con.params, ds.x, ds.labels, con.unit_block).agree))
  q = np.asarray(masks.flip_probabilities(con.params, ds.x, ds.labels, con.unit_block, sigma).per_unit)
  assert 0.01 < q.max() < 0.5, "instance must have measurable flip rates"
  key = jax.random.key(1)
  mom = masks.measured_flip_rates(key, con.params, ds.x, sigma, n_mc, chunk=5000)
  rate = np.asarray(mom.mean)
  assert rate.shape == q.shape and mom.n_mc == n_mc
  assert np.all(np.abs(rate - q) <= 5 * np.sqrt(q * (1 - q) / n_mc) + 1e-4), np.abs(rate - q).max()
  np.testing.assert_allclose(mom.stderr, np.sqrt(rate * (1 - rate) / (n_mc - 1)), rtol=1e-6,
                             atol=1e-12)
  blocks = loss.block_masks(ds.labels, con.unit_block)
  by_block = masks.measured_flip_rates(key, con.params, ds.x, sigma, n_mc, chunk=5000,
                                       reference=blocks)
  np.testing.assert_array_equal(by_block.mean, mom.mean)
  pooled = masks.measured_flip_rates(key, con.params, ds.x, sigma, n_mc, chunk=5000, pooled=True)
  assert np.shape(pooled.mean) == () and float(pooled.mean) == pytest.approx(rate.mean(), rel=1e-12)


def test_measured_flip_rates_equal_a_brute_force_count(x64):
  """A tiny case counted in NumPy on the same draws (chunk c of the draws is normal(fold_in(key, c)));
  n_mc = 50 in chunks of 20 is rounded up to 60 draws; a reference pattern counts disagreements with
  it, the pooled form is the per-draw fraction of flipped gates with its own standard error."""
  rng = np.random.default_rng(4)
  x, w1 = rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
  params, sigma, key = model.DAEParams(jnp.asarray(w1)), 0.7, jax.random.key(9)
  eps = np.concatenate([np.asarray(jax.random.normal(jax.random.fold_in(key, c), (20, 3, 2),
                                                     jnp.float64)) for c in range(3)])
  noisy_on = np.einsum("rnd,dp->rnp", x[None] + sigma * eps, w1) > 0
  clean_on = x @ w1 > 0
  reference = rng.random((3, 4)) < 0.5
  for ref, mine in ((clean_on, None), (reference, reference)):
    flipped = noisy_on != ref[None]
    mom = masks.measured_flip_rates(key, params, x, sigma, 50, chunk=20, reference=mine)
    assert mom.n_mc == 60
    np.testing.assert_allclose(mom.mean, flipped.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mom.stderr, flipped.std(0, ddof=1) / np.sqrt(60), rtol=1e-9,
                               atol=1e-15)
    pooled = masks.measured_flip_rates(key, params, x, sigma, 50, chunk=20, reference=mine,
                                       pooled=True)
    frac = flipped.mean((1, 2))
    assert float(pooled.mean) == pytest.approx(frac.mean(), rel=1e-12)
    assert float(pooled.stderr) == pytest.approx(frac.std(ddof=1) / np.sqrt(60), rel=1e-9)
  with pytest.raises(ValueError, match=r"reference must be the \(n, p\) = \(3, 4\)"):
    masks.measured_flip_rates(key, params, x, sigma, 50, reference=clean_on.T)


@pytest.mark.parametrize("which", ["eq8", "eq9"])
def test_stability_radius_from_both_sides(x64, which):
  if which == "eq8":
    ds, con = _construction()
    x, params = ds.x, con.params
  else:
    ds = data.obtuse_samples(jax.random.key(3), 6, 10, (1.0, 2.0))
    x, params = ds.x, constructions.memorization_weights(ds.x, 0.1, 1e-3, width=8).params
  r = masks.stability_radius(params, x)
  assert r.radius > 0
  clean = np.asarray(model.gates(params, x))
  live = np.linalg.norm(np.asarray(params.w1), axis=0) > 0
  eps = 1e-3
  # Inside: 200 random directions and the worst one, all of norm (1 - eps) delta*, flip nothing.
  worst = masks.flipping_perturbation(params, x, 1 - eps)
  np.testing.assert_allclose(jnp.linalg.norm(worst), (1 - eps) * r.radius, rtol=1e-10)
  rng = np.random.default_rng(0)
  for k in range(201):
    delta = np.asarray(worst) if k == 0 else rng.normal(size=params.w1.shape)
    delta = delta * (1 - eps) * r.radius / np.linalg.norm(delta)
    delta[:, ~live] = 0.0  # dead units are excluded from delta* (any perturbation can revive them)
    on = np.asarray(model.gates(model.DAEParams(params.w1 + delta), x))
    np.testing.assert_array_equal(on, clean)
  # Outside: the constructed perturbation of norm (1 + eps) delta* flips the tightest gate.
  bad = masks.flipping_perturbation(params, x, 1 + eps)
  np.testing.assert_allclose(jnp.linalg.norm(bad), (1 + eps) * r.radius, rtol=1e-10)
  on = np.asarray(model.gates(model.DAEParams(params.w1 + bad), x))
  assert on[r.sample, r.unit] != clean[r.sample, r.unit]
  assert np.sum(on != clean) >= 1


def test_balanced_slack_is_positive_iff_every_block_unit_fires():
  """Across instances with growing spread (rank-2 covariance, so the kept second direction competes
  with the mean), the slack of a cluster is negative exactly when some point of it has an in-block
  unit off."""
  seen_neg = seen_pos = 0
  with jax.enable_x64(True):
    for seed in range(3):
      for spread in (0.3, 1.0, 2.0):
        ds, con = _construction(seed=seed, rank=2, spread=spread, mean_norm=2.0)
        slack = np.asarray(masks.balanced_slack(con.params, ds.x, ds.labels, con.unit_block))
        pat = masks.activation_pattern(con.params, ds.x, ds.labels, con.unit_block)
        missing = np.asarray(pat.missing)
        for k in range(3):
          broken = missing[np.asarray(ds.labels) == k].max() > 0
          assert (slack[k] <= 0) == broken, (seed, spread, k, slack[k])
          seen_neg += broken
          seen_pos += not broken
  assert seen_neg > 0 and seen_pos > 0


def test_max_radius_gives_a_stated_alpha(x64):
  """With latent radius R, every point is within spread * R of its population mean (stated margin)."""
  spread, norm_mu, radius = 0.5, 4.0, 1.5
  ds, mix = data.gaussian_mixture(jax.random.key(4), 3, 500, 12, 2, norm_mu, spread,
                                  max_radius=radius)
  dev = np.linalg.norm(np.asarray(ds.x) - np.asarray(mix.means)[np.asarray(ds.labels)], axis=1)
  assert dev.max() <= spread * radius * (1 + 1e-12)
  assert dev.max() > 0.9 * spread * radius  # the clip is active (500 draws of a 2-d Gaussian)
