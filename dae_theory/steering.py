r"""Representation steering (Eq. 11, docs/theory.md §10): f_steered(y) = g(h(y) + a·v), v = the mean
representation of a target set, and numbers for how smoothly a model responds to a.

:func:`steer` works for any encoder/decoder pair (a user's model); :func:`steered_dae` and
:func:`steered_diffusion_denoiser` are the lab's two models. :func:`path_metrics` scores a path of
outputs x(a) over a grid of a.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import diffusion
from dae_theory.model import DAEParams


def mean_representation(rep: Callable, x_target) -> jax.Array:
  """v = mean of ``rep(x)`` over the rows of ``x_target`` (the target set)."""
  h = jnp.asarray(rep(jnp.asarray(x_target)))
  if h.ndim != 2:
    raise ValueError(f"rep must map (n, d) to (n, p); it returned shape {h.shape}.")
  return jnp.mean(h, 0)


def steer(encode: Callable, decode: Callable, v, a) -> Callable:
  """Eq. 11 for any model: y ↦ decode(encode(y) + a·v)."""
  v = jnp.asarray(v)
  return lambda y: decode(encode(y) + a * v[None, :])


def steered_dae(params: DAEParams, v, a) -> Callable:
  """Eq. 11 in the DAE of Eq. 5: y ↦ W₂(relu(W₁ᵀy) + a·v)."""
  return steer(lambda y: jax.nn.relu(y @ params.w1), lambda h: h @ params.decoder.T, v, a)


def steered_diffusion_denoiser(params: diffusion.DiffusionParams, v, a) -> Callable:
  """Eq. 11 in the time-conditioned DAE (docs/theory.md §9), for use in the sampler:
  x̂₀(y, σ) = W((relu(Wᵀy) + a·v) ⊙ exp(MLP(log σ))) + s·y."""
  v = jnp.asarray(v)

  def den(y, sigma):
    h = diffusion.representation(params, y) + a * v[None, :]
    return (h * diffusion.modulation(params, sigma)) @ params.w.T + params.skip * y

  return den


def path_metrics(x, prob) -> dict[str, np.ndarray]:
  """Smoothness of steering paths.

  Args:
    x: ``(levels, paths, d)`` outputs over an increasing grid of a.
    prob: ``(levels, paths)`` similarity to the target (e.g. a classifier's probability).

  Returns:
    per path: ``jump_share`` = largest step ‖x(a_{k+1}) − x(a_k)‖ / path length (1/(levels − 1) for a
    path that moves evenly, 1 for a single jump); ``monotonicity`` = Spearman correlation of a and
    ``prob`` (NaN where ``prob`` is constant); ``reached`` = 1 where the last ``prob`` exceeds 0.5.
  """
  from scipy.stats import spearmanr

  x, prob = np.asarray(x), np.asarray(prob)
  if x.ndim != 3 or prob.shape != x.shape[:2] or x.shape[0] < 2:
    raise ValueError(f"need x (levels >= 2, paths, d) and prob (levels, paths); got {x.shape} and "
                     f"{prob.shape}.")
  steps = np.linalg.norm(np.diff(x, axis=0), axis=-1)  # (levels - 1, paths)
  jump = steps.max(0) / np.maximum(steps.sum(0), 1e-12)
  levels = np.arange(x.shape[0])
  rho = np.array([spearmanr(levels, prob[:, j]).statistic if np.ptp(prob[:, j]) > 0 else np.nan
                  for j in range(x.shape[1])])
  return {"jump_share": jump, "monotonicity": rho, "reached": (prob[-1] > 0.5).astype(float)}
