r"""Reference denoisers (docs/theory.md §8) and the closed-form Gaussian probability-flow trajectory.

Every denoiser here is an x0-predictor ``D(y (n, d), sigma (n,)) -> (n, d)``, the signature of
:func:`dae_theory.diffusion.sample`, so a trained DAE and its references are interchangeable.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory.data import GaussianMixture
from dae_theory.diffusion import empirical_denoiser  # noqa: F401  (Eq. 3, re-exported here)


class Gaussian(NamedTuple):
  """Mean ``(d,)`` and covariance ``(d, d)``."""

  mean: jax.Array
  cov: jax.Array


def gaussian_fit(x) -> Gaussian:
  """Empirical mean and covariance of ``x (N, d)`` with the 1/N normalization (docs/experiments.md §5.1, Li et al.)."""
  x = jnp.asarray(x)
  mu = jnp.mean(x, 0)
  xc = x - mu[None, :]
  return Gaussian(mu, xc.T @ xc / x.shape[0])


def _eig(cov):
  lam, u = jnp.linalg.eigh(cov)
  return jnp.maximum(lam, 0.0), u


def gaussian_denoiser(g: Gaussian) -> Callable:
  r"""Wiener filter of N(μ, Σ): D(y) = μ + Σ(Σ + σ²I)^{-1}(y − μ) (docs/theory.md §8), via Σ = U Λ Uᵀ."""
  lam, u = _eig(g.cov)

  def d(y, sigma):
    z = (y - g.mean[None, :]) @ u  # (n, d) eigen-coordinates
    shrink = lam[None, :] / (lam[None, :] + sigma[:, None] ** 2)
    return g.mean[None, :] + (z * shrink) @ u.T

  return d


def mixture_denoiser(mixture: GaussianMixture) -> Callable:
  r"""Optimal denoiser of a Gaussian mixture: f(y) = Σ_k w_k(y)[μ_k + Σ_k(Σ_k + σ²I)^{-1}(y − μ_k)],
  w_k ∝ ρ_k N(y; μ_k, Σ_k + σ²I) (docs/theory.md §8), with the log-densities from eigendecompositions."""
  covs = mixture.covariances
  lam, u = jax.vmap(_eig)(covs)  # (M, d), (M, d, d)
  logw = jnp.log(mixture.weights)

  def d(y, sigma):
    s2 = sigma[:, None, None] ** 2  # (n, 1, 1)
    z = jnp.einsum("nd,kde->nke", y, u) - jnp.einsum("kd,kde->ke", mixture.means, u)[None]
    var = lam[None] + s2  # (n, M, d)
    logp = -0.5 * jnp.sum(z**2 / var + jnp.log(2 * jnp.pi * var), -1) + logw[None]
    w = jax.nn.softmax(logp, axis=1)  # (n, M)
    post = mixture.means[None] + jnp.einsum("nke,kde->nkd", z * lam[None] / var, u)
    return jnp.einsum("nk,nkd->nd", w, post)

  return d


def gaussian_flow(g: Gaussian, y_start, sigma_start: float, sigmas) -> jax.Array:
  r"""Exact probability-flow ODE trajectory for Gaussian data under the VE process: each eigen-
  coordinate of x − μ scales as √(λ_i + σ²); returns ``(len(sigmas), n, d)`` states at ``sigmas``
  starting from ``y_start (n, d)`` at ``sigma_start``."""
  lam, u = _eig(g.cov)
  z = (jnp.asarray(y_start) - g.mean[None, :]) @ u
  sig = jnp.asarray(sigmas, lam.dtype)[:, None, None]
  scale = jnp.sqrt((lam[None, None, :] + sig**2) / (lam[None, None, :] + sigma_start**2))
  return g.mean[None, None, :] + (z[None] * scale) @ u.T


def euler_flow(denoiser: Callable, y_start, sigmas) -> jax.Array:
  r"""Deterministic Euler integration of the VE probability-flow ODE dx/dσ = (x − D(x, σ))/σ over the
  decreasing grid ``sigmas`` (no noise injected); returns the final state ``(n, d)``."""
  sigmas = jnp.asarray(sigmas)
  x = jnp.asarray(y_start)
  n = x.shape[0]

  def step(x, i):
    s, s_next = sigmas[i], sigmas[i + 1]
    drift = (x - denoiser(x, jnp.full((n,), s, x.dtype))) / s
    return x + (s_next - s) * drift, None

  x, _ = jax.lax.scan(step, x, jnp.arange(sigmas.shape[0] - 1))
  return x


def posterior_mean_mc(key: jax.Array, mixture: GaussianMixture, y, sigma: float, n_mc: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """Monte-Carlo posterior mean E[x | x + σε = y] for a mixture, by importance sampling from the prior
  (weights N(y; x, σ²I)); returns (mean, effective sample size) per row of ``y``. For tests."""
  from dae_theory.data import sample_mixture

  per = max(1, n_mc // mixture.weights.shape[0])
  xs = sample_mixture(key, mixture, per).x  # balanced draws: reweight by ρ_k·M
  labels = jnp.repeat(jnp.arange(mixture.weights.shape[0]), per)
  logw = (-jnp.sum((jnp.asarray(y)[:, None, :] - xs[None]) ** 2, -1) / (2 * sigma**2)
          + jnp.log(mixture.weights * mixture.weights.shape[0])[labels][None])
  w = jax.nn.softmax(logw, axis=1)
  return np.asarray(w @ xs), np.asarray(1.0 / jnp.sum(w**2, 1))
