r"""The two-layer ReLU denoising autoencoder of Eq. 5 (no biases, no skip).

.. math::
    f(y) = W_2\,\mathrm{relu}(W_1^\top y), \qquad W_1, W_2 \in \mathbb{R}^{d\times p},

with representation h(y) = relu(W₁ᵀy) ∈ R^p and Jacobian J(y) = W₂ diag(1[W₁ᵀy > 0]) W₁ᵀ. The net is
positively homogeneous, so f(y) = J(y) y.

Weights are tied (W₂ = W₁, the reference code) when ``params.w2 is None``.
Every function accepts a single input ``(d,)`` or a batch ``(..., d)``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp


class DAEParams(NamedTuple):
  """Weights of the DAE (Eq. 5).

  Attributes:
    w1: ``(d, p)`` encoder; column j is unit j's weight vector w_j.
    w2: ``(d, p)`` decoder, or ``None`` for tied weights (W₂ = W₁).
  """

  w1: jax.Array
  w2: Optional[jax.Array] = None

  @property
  def tied(self) -> bool:
    """Whether W₂ = W₁ (``w2 is None``)."""
    return self.w2 is None

  @property
  def decoder(self) -> jax.Array:
    """W₂ (equal to W₁ when tied)."""
    return self.w1 if self.w2 is None else self.w2

  @property
  def width(self) -> int:
    """Hidden width p (the number of columns of W₁)."""
    return self.w1.shape[1]


def unit_columns(key: jax.Array, d: int, p: int, scale, dtype, width=None) -> jax.Array:
  """``(d, p)`` columns N(0, scale² I_d), column j drawn from ``fold_in(key, j)``; columns j ≥ ``width``
  (default p) are zero. So the first columns do not depend on p (common random numbers across widths
  and paddings)."""
  cols = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(key, j), (d,), dtype))(
      jnp.arange(p))
  width = p if width is None else width
  mask = (jnp.arange(p) < width).astype(dtype)
  return (jnp.asarray(scale, dtype) * cols * mask[:, None]).T


def init_params(key: jax.Array, d: int, p: int, tied: bool = True, scale: float | None = None,
                dtype=jnp.float32, width=None) -> DAEParams:
  """Gaussian init, entries N(0, scale²) with default scale 1/√d (unit-norm columns on average).

  Unit j's column of W₁ is drawn from ``fold_in(fold_in(key, 0), j)`` and of W₂ from
  ``fold_in(fold_in(key, 1), j)`` (:func:`unit_columns`), so a net of width p' > p starts with the
  same first p units: seed i is the same run at any width padding or grid size.

  Args:
    key: PRNG key.
    d: data dimension.
    p: number of columns (the padded width).
    tied: return tied params (``w2=None``).
    scale: entry standard deviation; ``None`` → 1/√d.
    dtype: float dtype.
    width: the true width ≤ p (may be traced); columns j ≥ width are zero (default p).
  """
  if d < 1 or p < 1:
    raise ValueError(f"d and p must be >= 1, got d={d}, p={p}.")
  scale = (1.0 / jnp.sqrt(d)) if scale is None else scale
  w1 = unit_columns(jax.random.fold_in(key, 0), d, p, scale, dtype, width)
  w2 = None if tied else unit_columns(jax.random.fold_in(key, 1), d, p, scale, dtype, width)
  return DAEParams(w1, w2)


def preactivation(params: DAEParams, y: jax.Array) -> jax.Array:
  """W₁ᵀy: ``(..., d) -> (..., p)``."""
  return y @ params.w1


def representation(params: DAEParams, y: jax.Array) -> jax.Array:
  r"""h(y) = relu(W₁ᵀy) (Eq. 5): ``(..., d) -> (..., p)``."""
  return jax.nn.relu(preactivation(params, y))


def decode(params: DAEParams, h: jax.Array) -> jax.Array:
  """g(h) = W₂ h: ``(..., p) -> (..., d)`` (the decoder used for steering, Eq. 11)."""
  return h @ params.decoder.T


def apply(params: DAEParams, y: jax.Array) -> jax.Array:
  r"""f(y) = W₂ relu(W₁ᵀy) (Eq. 5): ``(..., d) -> (..., d)``."""
  return decode(params, representation(params, y))


def gates(params: DAEParams, y: jax.Array) -> jax.Array:
  """Activation pattern 1[W₁ᵀy > 0]: ``(..., d) -> (..., p)`` bool."""
  return preactivation(params, y) > 0


def jacobian(params: DAEParams, y: jax.Array) -> jax.Array:
  r"""J(y) = W₂ diag(1[W₁ᵀy > 0]) W₁ᵀ: ``(..., d) -> (..., d, d)``.

  Exact away from the measure-zero set where a pre-activation is 0 (there autodiff uses relu'(0) = 0,
  which this matches).
  """
  g = gates(params, y).astype(params.w1.dtype)
  return jnp.einsum("ip,...p,jp->...ij", params.decoder, g, params.w1)
