r"""Two further lenses on the memorization → generalization transition (docs/experiments.md §5).

* **Gaussian lens** (Li, Dai, Qu, NeurIPS 2024): linear distillation, RMSE/NMSE between denoisers, the
  linearity score LS and the generalization score GL.
* **Agreement and Jacobian lens** (Kadkhodaie et al., ICLR 2024): cosines between samples of models
  trained on disjoint data, denoising PSNR, and the eigen-analysis of the symmetrized Jacobian.

Denoisers are x0-predictors ``D(y (n, d), sigma (n,)) -> (n, d)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies


def _noisy(key, x, sigma: float):
  x = jnp.asarray(x)
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def _sig(n: int, sigma: float, dtype=jnp.float32):
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0, got {sigma}.")
  return jnp.full((n,), sigma, dtype)


def linear_distillation(denoiser: Callable, y, sigma: float) -> tuple[np.ndarray, np.ndarray]:
  r"""Affine least-squares fit D(y) ≈ y A + b over the noisy inputs ``y (N, d)`` (closed form, NumPy's
  lstsq). Needs N ≥ d + 1. Fit on *held-out* noisy inputs: on noisy training inputs of the empirical
  optimum it returns the Gaussian denoiser whatever the data (tower property), which says nothing.

  Returns:
    ``(A (d, d), b (d,))``; the distilled denoiser is y ↦ y A + b.
  """
  y = np.asarray(y, np.float64)
  n, d = y.shape
  if n < d + 1:
    raise ValueError(f"linear distillation needs at least d + 1 = {d + 1} noisy inputs, got {n}.")
  target = np.asarray(denoiser(jnp.asarray(y, jnp.float32), _sig(n, sigma)), np.float64)
  coef, *_ = np.linalg.lstsq(np.c_[y, np.ones(n)], target, rcond=None)
  return coef[:d], coef[d]


def affine_denoiser(a, b) -> Callable:
  """The denoiser y ↦ y A + b (e.g. a linear distillation)."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  return lambda y, sigma: y @ a.astype(y.dtype) + b.astype(y.dtype)[None, :]


def rmse(d1: Callable, d2: Callable, y, sigma: float) -> float:
  """Score difference: mean over the noisy inputs ``y`` of √(‖D₁(y) − D₂(y)‖²/d)."""
  y = jnp.asarray(y)
  s = _sig(y.shape[0], sigma, y.dtype)
  return float(jnp.mean(jnp.sqrt(jnp.mean((d1(y, s) - d2(y, s)) ** 2, 1))))


def nmse(d1: Callable, d2: Callable, y, sigma: float) -> float:
  """Normalized difference: mean of ‖D₁(y) − D₂(y)‖ / ‖D₁(y)‖."""
  y = jnp.asarray(y)
  s = _sig(y.shape[0], sigma, y.dtype)
  a, b = d1(y, s), d2(y, s)
  return float(jnp.mean(jnp.linalg.norm(a - b, axis=1) / jnp.linalg.norm(a, axis=1)))


def linearity_score(key: jax.Array, denoiser: Callable, x, sigma: float, pairs: int = 100,
                    alpha: float = 2**-0.5) -> float:
  r"""LS(σ) = mean over pairs of |cos(D(αy₁ + βy₂), αD(y₁) + βD(y₂))|, β = √(1 − α²), with
  y = data + σ·noise for ``pairs`` random pairs of rows of ``x``."""
  x = jnp.asarray(x)
  k1, k2, k3 = jax.random.split(key, 3)
  i = jax.random.randint(k1, (2, pairs), 0, x.shape[0])
  y1, y2 = _noisy(k2, x[i[0]], sigma), _noisy(k3, x[i[1]], sigma)
  beta = (1 - alpha**2) ** 0.5
  s = _sig(pairs, sigma, x.dtype)
  lhs = denoiser(alpha * y1 + beta * y2, s)
  rhs = alpha * denoiser(y1, s) + beta * denoiser(y2, s)
  cos = jnp.sum(lhs * rhs, 1) / (jnp.linalg.norm(lhs, axis=1) * jnp.linalg.norm(rhs, axis=1))
  return float(jnp.mean(jnp.abs(cos)))


def gl_score(samples, x_train) -> float:
  """GL = mean over generated samples of ‖x − NN(x)‖/‖x‖ (NN = nearest training point)."""
  s = np.asarray(samples, np.float64)
  d1 = copies.nearest(s, x_train)[0][:, 0]  # the lab's one nearest-neighbour search
  return float(np.mean(d1 / np.linalg.norm(s, axis=1)))


def pair_cosine(a, b) -> np.ndarray:
  """Row-wise cosine between two sample sets of the same shape (e.g. two models, shared noise)."""
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"sample sets must have the same shape, got {a.shape} and {b.shape}.")
  return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def psnr(key: jax.Array, denoiser: Callable, x, sigma: float, data_range: float = 2.0
         ) -> tuple[float, float]:
  """(input PSNR, output PSNR) in dB of denoising ``x`` at noise σ: 10 log10(range²/MSE), range 2 for
  data in [−1, 1] (the same as [0, 1] data with range 1)."""
  x = jnp.asarray(x)
  y = _noisy(key, x, sigma)
  out = denoiser(y, _sig(x.shape[0], sigma, x.dtype))
  db = lambda mse: float(10 * np.log10(data_range**2 / float(mse)))
  return db(jnp.mean((y - x) ** 2)), db(jnp.mean((out - x) ** 2))


class JacobianSpectrum(NamedTuple):
  """Eigen-analysis of the symmetrized Jacobian at each input.

  Attributes:
    eigenvalues: ``(n, d)`` descending.
    eigenvectors: ``(n, d, d)``, column j of row i belongs to eigenvalue j.
    effective_dim: ``(n,)`` trace of the Jacobian (Kadkhodaie et al.).
  """

  eigenvalues: np.ndarray
  eigenvectors: np.ndarray
  effective_dim: np.ndarray


def jacobian_spectrum(denoiser: Callable, y, sigma: float) -> JacobianSpectrum:
  """Eigenvalues/vectors of (J + Jᵀ)/2, J = ∂D/∂y at each row of ``y``, and tr J."""
  y = jnp.asarray(y)
  one = lambda v: denoiser(v[None], _sig(1, sigma, v.dtype))[0]
  jac = jax.vmap(jax.jacfwd(one))(y)
  sym = 0.5 * (jac + jnp.swapaxes(jac, 1, 2))
  lam, vec = jnp.linalg.eigh(sym)
  return JacobianSpectrum(np.asarray(lam[:, ::-1]), np.asarray(vec[:, :, ::-1]),
                          np.asarray(jnp.trace(jac, axis1=1, axis2=2)))


def top_alignment(spec: JacobianSpectrum, x_train, basis) -> tuple[np.ndarray, np.ndarray]:
  """For each input: max |cosine| of the top eigenvector to a training sample (≈ 1 when memorizing),
  and the fraction of its energy in the span of the orthonormal columns of ``basis (d, k)`` (e.g. the
  training data's principal subspace; ≈ 1 when generalizing)."""
  top = spec.eigenvectors[:, :, 0]  # (n, d), unit norm
  xt = np.asarray(x_train)
  u = xt / np.linalg.norm(xt, axis=1, keepdims=True)
  sample = np.abs(top @ u.T).max(1)
  sub = np.sum((top @ np.asarray(basis)) ** 2, 1)
  return sample, sub
