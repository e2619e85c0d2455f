"""Tests of dae_theory.reference (docs/theory.md §8 reference denoisers, Gaussian flow) and dae_theory.lenses,
each against an independent computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import data, lenses, reference


def _gaussian(d, seed):
  rng = np.random.default_rng(seed)
  f = rng.normal(size=(d, d))
  return reference.Gaussian(jnp.asarray(rng.normal(size=d)), jnp.asarray(f @ f.T / d + 0.05 * np.eye(d)))


def test_gaussian_denoiser_is_the_wiener_formula(x64):
  g = _gaussian(5, 0)
  y = jnp.asarray(np.random.default_rng(1).normal(size=(7, 5)))
  s = jnp.full((7,), 0.6)
  cov, mu = np.asarray(g.cov), np.asarray(g.mean)
  direct = mu + (cov @ np.linalg.solve(cov + 0.36 * np.eye(5), (np.asarray(y) - mu).T)).T
  np.testing.assert_allclose(reference.gaussian_denoiser(g)(y, s), direct, rtol=1e-10)


def test_euler_flow_with_the_gaussian_denoiser_approaches_the_closed_form(x64):
  """First-order Euler: the endpoint error against the exact Gaussian flow falls about 4x per 4x steps
  (measured ratios 0.23-0.26); 0.35 fails a non-converging integrator."""
  g = _gaussian(4, 2)
  y0 = 2.0 * jnp.asarray(np.random.default_rng(3).normal(size=(6, 4)))
  exact = reference.gaussian_flow(g, y0, 2.0, [0.02])[0]
  errs = []
  for steps in (10, 40, 160, 640):
    grid = np.geomspace(2.0, 0.02, steps + 1)
    errs.append(float(jnp.max(jnp.abs(reference.euler_flow(reference.gaussian_denoiser(g), y0, grid)
                                      - exact))))
  ratios = np.array(errs[1:]) / np.array(errs[:-1])
  assert np.all(ratios < 0.35), (errs, ratios)
  assert errs[-1] < 1e-2, errs


def test_gaussian_flow_keeps_standardized_coordinates(x64):
  """The exact flow at sigma equals the start when sigma = sigma_start, and along the flow
  (x - mu)^T (Sigma + sigma^2 I)^{-1} (x - mu) is constant (each eigen-coordinate scales with
  sqrt(lambda + sigma^2))."""
  g = _gaussian(4, 4)
  y0 = jnp.asarray(np.random.default_rng(5).normal(size=(3, 4)))
  traj = reference.gaussian_flow(g, y0, 1.5, [1.5, 0.7, 0.1])
  np.testing.assert_allclose(traj[0], y0, rtol=1e-12)
  for x, s in zip(traj, (1.5, 0.7, 0.1)):
    m = np.asarray(g.cov) + s**2 * np.eye(4)
    z = np.asarray(x) - np.asarray(g.mean)
    z0 = np.asarray(y0) - np.asarray(g.mean)
    q = np.einsum("nd,nd->n", z, np.linalg.solve(m, z.T).T)
    q0 = np.einsum("nd,nd->n", z0, np.linalg.solve(np.asarray(g.cov) + 1.5**2 * np.eye(4), z0.T).T)
    np.testing.assert_allclose(q, q0, rtol=1e-10)


def test_distilling_the_empirical_optimum_on_noisy_training_inputs_gives_the_gaussian_denoiser(x64):
  """Tower property: the best affine fit of E[x | y] over y = x_i + sigma*eps is the Wiener filter of
  the empirical mean/covariance (1/N). 20 points in d = 3, 4000 draws each: measured max |A - A_g| 0.006,
  |b - b_g| 0.004; 0.03 is about 5 Monte-Carlo standard errors of an entry (each ~0.005)."""
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.normal(size=(20, 3)) * np.array([1.0, 0.5, 0.2]) + np.array([0.3, -0.2, 0.1]))
  sigma = 0.5
  y = jnp.tile(x, (4000, 1)) + sigma * jax.random.normal(jax.random.key(0), (80_000, 3), jnp.float64)
  a, b = lenses.linear_distillation(reference.empirical_denoiser(x), y, sigma)
  g = reference.gaussian_fit(x)
  m = np.asarray(g.cov) @ np.linalg.inv(np.asarray(g.cov) + sigma**2 * np.eye(3))
  a_g, b_g = m.T, np.asarray(g.mean) - np.asarray(g.mean) @ m.T
  assert np.abs(a - a_g).max() < 0.03 and np.abs(b - b_g).max() < 0.03, (a - a_g, b - b_g)


def test_mixture_denoiser_matches_monte_carlo_posterior_means(x64):
  """Importance sampling from the prior with 4e5 draws at sigma = 0.8. Measured over the OpenBLAS
  kernels (which change the generated mixture): effective sample sizes >= 39,000, max error 0.0039
  (Haswell), 0.0044 (SkylakeX), 0.0098 (Prescott). The Monte-Carlo standard error is about the
  posterior spread (< 0.7) over sqrt(ESS), <= 0.0035 at ESS 39,000, so 0.03 is about 8 standard errors
  while a wrong posterior mean (off by O(0.1) or more) fails; ESS > 5000 guards that precondition."""
  mix = data.gaussian_mixture_params(jax.random.key(1), 3, 3, 2, 2.0, 0.7, orthogonal_to_means=False)
  mix = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), mix)
  y = jnp.asarray(np.random.default_rng(7).normal(size=(5, 3)) * 1.5)
  sigma = 0.8
  got = reference.mixture_denoiser(mix)(y, jnp.full((5,), sigma))
  mc, ess = reference.posterior_mean_mc(jax.random.key(2), mix, y, sigma, 400_000)
  assert ess.min() > 5000, ess
  np.testing.assert_allclose(got, mc, atol=0.03)


def test_lenses_on_known_denoisers(x64):
  rng = np.random.default_rng(8)
  a = rng.normal(size=(4, 4))
  a = a + a.T
  b = rng.normal(size=4)
  lin = lenses.affine_denoiser(a, b)
  y = jnp.asarray(rng.normal(size=(50, 4)))
  a_fit, b_fit = lenses.linear_distillation(lin, y, 0.3)
  np.testing.assert_allclose(a_fit, a, atol=1e-5)
  np.testing.assert_allclose(b_fit, b, atol=1e-5)
  assert lenses.rmse(lin, lin, y, 0.3) == 0.0
  shift = lambda v, s: v + 0.5
  assert lenses.rmse(shift, lambda v, s: v, y, 0.3) == pytest.approx(0.5)
  bias_free = lenses.affine_denoiser(a, np.zeros(4))
  assert lenses.linearity_score(jax.random.key(0), bias_free, y, 0.3) == pytest.approx(1.0)
  assert lenses.linearity_score(jax.random.key(0), lambda v, s: jnp.abs(v), y, 0.3) < 0.99
  spec = lenses.jacobian_spectrum(lin, y[:3], 0.3)
  np.testing.assert_allclose(spec.eigenvalues[0], np.sort(np.linalg.eigvalsh(a))[::-1], atol=1e-5)
  np.testing.assert_allclose(spec.effective_dim, np.trace(a), atol=1e-5)
  xt = rng.normal(size=(6, 4))
  brute = np.mean([min(np.linalg.norm(s - t) for t in xt) / np.linalg.norm(s) for s in np.asarray(y)])
  assert lenses.gl_score(y, xt) == pytest.approx(brute, rel=1e-6)
  p_in, p_out = lenses.psnr(jax.random.key(1), lambda v, s: v, xt, 0.2)
  assert p_in == pytest.approx(p_out)


def test_lens_inputs_are_checked():
  with pytest.raises(ValueError, match="at least d \\+ 1 = 5 noisy inputs"):
    lenses.linear_distillation(lambda v, s: v, np.ones((3, 4)), 0.1)
  with pytest.raises(ValueError, match="sigma must be > 0"):
    lenses.rmse(lambda v, s: v, lambda v, s: v, np.ones((3, 4)), 0.0)
  with pytest.raises(ValueError, match="same shape"):
    lenses.pair_cosine(np.ones((3, 4)), np.ones((2, 4)))
