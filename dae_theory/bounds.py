r"""Closed-form loss values and bounds of the theory (THEORY §3, §6)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def memorization_loss(x: jax.Array, sigma, lam) -> jax.Array:
  r"""Exact Eq. 6 loss of the gated-linear surrogate at W_mem (Cor. 3.2, Eq. 9) — ours, with λ.

  With s_i = r_i²‖x_i‖² = (‖x_i‖² − nλ)/(‖x_i‖² + σ²), unit i acts on x_i + σε as s_i x̂_i x̂_iᵀ, so

  .. math::
      L(W_{mem}) = \frac1n\sum_i \big[(1-s_i)^2\|x_i\|^2 + \sigma^2 s_i^2\big] + 2\lambda\sum_i s_i,

  which tends to (1/n) Σ_i σ²‖x_i‖²/(σ² + ‖x_i‖²) as λ → 0 (Cor. 3.2; < σ², independent of d). The ReLU
  loss equals this up to the cross-talk error of Theorem D.2 (see
  :func:`dae_theory.loss.crosstalk_bound`).

  Args:
    x: ``(n, d)`` training samples.
    sigma, lam: σ and λ of Eq. 6.
  """
  n = x.shape[0]
  sq = jnp.sum(x**2, axis=1)
  s = (sq - n * lam) / (sq + sigma**2)
  return jnp.mean((1 - s) ** 2 * sq + sigma**2 * s**2) + 2 * lam * jnp.sum(s)
