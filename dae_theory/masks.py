r"""ReLU-mask stability and margins (docs/theory.md §3 and §5).

The decomposition of Theorem D.2 holds while every input of cluster k switches on exactly the units of
block k. This module measures how far a set of weights is from breaking that: the activation pattern
against the block assignment, the clean margins, the chance that noise flips a gate, the weight
perturbation that can flip one, and the balanced-activation slack of each cluster.

Shapes: ``x (n, d)`` rows are samples, ``labels (n,)``, ``unit_block (p,)`` (``-1`` = no cluster).

Every function validates its concrete inputs first (:mod:`dae_theory.checks`; ``ValueError`` naming the
argument, the value and the rule): x finite ``(n, d)`` matching W₁, labels ints taking every value
``0 … M-1``, ``unit_block`` ints in ``-1 … M-1``, σ > 0 where the result divides by it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from dae_theory import checks
from dae_theory.loss import MCMoments, block_masks, check_net_inputs, gaussian_draws, mc_moments
from dae_theory.model import DAEParams, gates

_SIGMA_WHY = ("the margins are in units of the noise std sigma*||w_j||; at sigma = 0 every flip "
              "probability would read 0 and every margin +inf whatever the weights")


class Pattern(NamedTuple):
  """Activation pattern of clean inputs against the block assignment.

  Attributes:
    on: ``(n, p)`` bool, unit j fires on x_i.
    expected: ``(n, p)`` bool, unit j belongs to the block of x_i's cluster.
    agree: ``(n,)`` bool, the whole pattern of x_i is the expected one.
    missing: ``(n,)`` number of in-block units that are off (a broken balanced code).
    extra: ``(n,)`` number of off-block units that are on (cross-talk).
  """

  on: jax.Array
  expected: jax.Array
  agree: jax.Array
  missing: jax.Array
  extra: jax.Array


def activation_pattern(params: DAEParams, x: jax.Array, labels, unit_block) -> Pattern:
  """Compare the gates 1[W₁ᵀx_i > 0] with the block assignment (in-block on, off-block off).

  Raises:
    ValueError: bad x, labels or unit_block (:func:`dae_theory.loss.check_blocks`).
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block)
  on = gates(params, x)
  expected = block_masks(labels, unit_block).astype(bool)
  return Pattern(on=on, expected=expected, agree=jnp.all(on == expected, 1),
                 missing=jnp.sum(expected & ~on, 1), extra=jnp.sum(~expected & on, 1))


def signed_margins(params: DAEParams, x: jax.Array, labels, unit_block) -> jax.Array:
  r"""Clean signed margins ``(n, p)``: w_jᵀx_i for in-block units, −w_jᵀx_i for off-block units.

  Positive means the gate agrees with the block assignment. (docs/theory.md §5, clean margin t_j s_j.)

  Raises:
    ValueError: bad x, labels or unit_block (:func:`dae_theory.loss.check_blocks`).
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block)
  pre = x @ params.w1
  return jnp.where(block_masks(labels, unit_block).astype(bool), pre, -pre)


def normalized_margins(params: DAEParams, x: jax.Array, labels, unit_block, sigma) -> jax.Array:
  r"""t_ij = (signed margin) / (σ‖w_j‖): the margin in units of the noise's std on unit j ``(n, p)``.

  Units with a zero column get +inf (their gate never fires, noise or not).

  Raises:
    ValueError: σ ≤ 0 or not finite (at σ = 0 every margin would be ±inf); bad x, labels or
      unit_block.
  """
  checks.check_sigma(sigma, positive=True, why=_SIGMA_WHY)
  s = sigma * jnp.linalg.norm(params.w1, axis=0)
  m = signed_margins(params, x, labels, unit_block)
  live = (s > 0)[None, :]
  return jnp.where(live, m / jnp.where(live, s[None, :], 1.0), jnp.inf)


def empirical_margin(params: DAEParams, x: jax.Array, labels, unit_block) -> jax.Array:
  """γ_emp = min over samples and live units of the signed margin (docs/theory.md §5)."""
  m = signed_margins(params, x, labels, unit_block)
  live = (jnp.linalg.norm(params.w1, axis=0) > 0)[None, :]
  return jnp.min(jnp.where(live, m, jnp.inf))


class FlipProbabilities(NamedTuple):
  r"""Noise flip probabilities (docs/theory.md §5).

  Attributes:
    per_unit: ``(n, p)`` Φ(−t_ij): the chance that noise σε flips gate j of x_i (exact: the
      pre-activation w_jᵀ(x_i + σε) is N(w_jᵀx_i, σ²‖w_j‖²)).
    any_lower: ``(n,)`` max_j Φ(−t_ij) ≤ P(some gate of x_i flips).
    any_upper: ``(n,)`` min(1, Σ_j Φ(−t_ij)) ≥ P(some gate of x_i flips) (union bound).
  """

  per_unit: jax.Array
  any_lower: jax.Array
  any_upper: jax.Array


def flip_probabilities(params: DAEParams, x: jax.Array, labels, unit_block, sigma
                       ) -> FlipProbabilities:
  """Per-unit flip probabilities Φ(−t) and two-sided bounds on the chance that any gate flips.

  Raises:
    ValueError: σ ≤ 0 or not finite (at σ = 0 every probability would read 0); bad x, labels or
      unit_block.
  """
  checks.check_sigma(sigma, positive=True, why=_SIGMA_WHY)
  t = normalized_margins(params, x, labels, unit_block, sigma)
  q = norm.cdf(-t)
  return FlipProbabilities(q, jnp.max(q, 1), jnp.minimum(1.0, jnp.sum(q, 1)))


def measured_flip_rates(key: jax.Array, params: DAEParams, x: jax.Array, sigma, n_mc: int,
                        chunk: int = 1000, *, reference: jax.Array | None = None,
                        pooled: bool = False) -> MCMoments:
  r"""Measured gate flips under noise, by Monte Carlo: what :func:`flip_probabilities` predicts.

  Gate j of sample i flips on a draw ε_i ~ N(0, I_d) when 1[w_jᵀ(x_i + σε_i) > 0] differs from its
  reference, by default the clean gate 1[w_jᵀx_i > 0]. Each draw perturbs every sample at once; the
  draws are those of :func:`dae_theory.loss.mc_moments` (chunk c uses ``fold_in(key, c)``), whose
  chunk loop is a compiled ``lax.scan``; the function itself is not jitted (it may be called under a
  caller's jit, with ``n_mc``, ``chunk`` and ``pooled`` static), so its numbers are bit for bit those
  of the same scan written inline.

  Args:
    key: PRNG key of the noise draws.
    params: DAE weights ``(d, p)``.
    x: ``(n, d)`` clean samples.
    sigma: noise std σ ≥ 0.
    n_mc: number of noise draws (rounded up to a multiple of ``chunk``).
    chunk: draws per chunk (bounds the memory: ``chunk·n·d`` noise entries at a time).
    reference: ``(n, p)`` bool gate pattern that counts as "not flipped" (default: the clean gates).
      :func:`flip_probabilities` gives the chance of disagreeing with the block assignment, so pass
      ``loss.block_masks(labels, unit_block)`` to measure exactly what it predicts even where the
      clean pattern is not the block pattern (where it is, both references are the same).
    pooled: ``False``: one rate per gate. ``True``: one number per draw, the fraction of the n·p gates
      that flip, so ``mean`` is the overall flip rate and ``stderr`` its standard error (the gates of
      one draw share its noise: the per-gate standard errors do not combine into it).

  Returns:
    :class:`dae_theory.loss.MCMoments`: ``mean`` the flip rate per (sample, unit) ``(n, p)`` (a scalar
    when ``pooled``), ``stderr`` its standard error (per gate the binomial √(q(1 − q)/(n_mc − 1)) of
    the measured rate q), ``n_mc`` the number of draws used.

  Raises:
    ValueError: bad x (:func:`dae_theory.checks.check_data`) or non-finite weights, σ negative or not
      finite, ``n_mc`` < 2 or ``chunk`` < 1, or a ``reference`` that is not ``(n, p)``.
  """
  x = checks.check_data(x, d=params.w1.shape[0], weights="params.w1")
  checks.check_finite_params(params)
  checks.check_sigma(sigma)
  n_mc = checks.check_int(n_mc, "n_mc", 2, "Monte-Carlo draws")
  chunk = checks.check_int(chunk, "chunk", 1, "draws per chunk")
  x = jnp.asarray(x)
  if reference is None:
    reference = gates(params, x)
  elif not checks.is_traced(reference):
    shape = (x.shape[0], params.width)
    if np.shape(reference) != shape:
      raise ValueError(f"reference must be the (n, p) = {shape} gate pattern to compare with, got "
                       f"shape {np.shape(reference)}.")
  reference = jnp.asarray(reference).astype(bool)

  def per_draw(eps):  # (c, n, d) -> (c, n, p) flipped gates of each draw, or (c,) their fraction
    flipped = (gates(params, x[None] + sigma * eps) != reference[None]).astype(x.dtype)
    return jnp.mean(flipped, axis=(1, 2)) if pooled else flipped

  return mc_moments(key, gaussian_draws(per_draw, x.shape, x.dtype), n_mc, chunk)


class StabilityRadius(NamedTuple):
  r"""Weight-perturbation stability radius δ* = min_{i,j} |w_jᵀx_i| / ‖x_i‖ over live units.

  Any ΔW₁ with ‖ΔW₁‖_F < δ* leaves every clean gate unchanged, because |Δw_jᵀx_i| ≤ ‖Δw_j‖‖x_i‖.
  The bound is attained: ΔW₁ = −(1 + ε) (w_jᵀx_i/‖x_i‖²) x_i e_jᵀ at the minimizing (i, j) has norm
  (1 + ε)δ* and flips that gate (see :func:`flipping_perturbation`).

  Units with a zero column are excluded (any perturbation can switch a dead unit on; with them δ* = 0).

  Attributes:
    radius: δ*.
    sample: i at the minimum.
    unit: j at the minimum.
  """

  radius: float
  sample: int
  unit: int


def stability_radius(params: DAEParams, x: jax.Array) -> StabilityRadius:
  """δ* of the clean gate pattern of ``x`` under perturbations of W₁ (docs/theory.md §5).

  Raises:
    ValueError: bad x (see :func:`dae_theory.checks.check_data`), an all-zero row of x (its gates are
      0 for every W₁: δ* divides by ‖x_i‖), non-finite weights, or no live unit.
  """
  x = checks.check_data(x, d=params.w1.shape[0], weights="params.w1")
  checks.check_finite_params(params)
  checks.nonzero_rows(x, why="the stability radius divides by ||x_i|| (a zero input has every "
                      "pre-activation 0 for any W1, so no radius exists)")
  if not np.any(np.linalg.norm(np.asarray(params.w1), axis=0) > 0):
    raise ValueError("params.w1 has no non-zero column: every unit is dead, the stability radius of "
                     "an all-dead net is undefined.")
  ratio = np.abs(np.asarray(x @ params.w1)) / np.linalg.norm(np.asarray(x), axis=1, keepdims=True)
  live = np.linalg.norm(np.asarray(params.w1), axis=0) > 0
  ratio = np.where(live[None, :], ratio, np.inf)
  i, j = np.unravel_index(np.argmin(ratio), ratio.shape)
  return StabilityRadius(float(ratio[i, j]), int(i), int(j))


def flipping_perturbation(params: DAEParams, x: jax.Array, factor: float) -> jax.Array:
  r"""The rank-one ΔW₁ of norm ``factor`` · δ* that moves the tightest pre-activation w_jᵀx_i to
  (1 − factor)·w_jᵀx_i: for ``factor`` > 1 it changes that gate's sign. ``(d, p)``."""
  checks.check_scalar(factor, "factor", strict=True, why="a multiple of the stability radius")
  r = stability_radius(params, x)
  x = checks.check_data(x)
  xi = x[r.sample]
  pre = xi @ params.w1[:, r.unit]
  col = -factor * pre / jnp.sum(xi**2) * xi
  return jnp.zeros_like(params.w1).at[:, r.unit].set(col)


def balanced_slack(params: DAEParams, x: jax.Array, labels, unit_block) -> jax.Array:
  r"""Balanced-activation slack per cluster (docs/theory.md §3, "choice of O_k"): ``(M,)``

  slack_k = min over points x of cluster k and units j of block k of cos(w_j, x).

  Positive iff every point of the cluster switches on every unit of its block, the condition under
  which Eq. 8 with the constant-first-column O_k is a stationary point of the ReLU loss (for the
  construction w_jᵀx = D₁/√p_k·u₁ᵀx + Σ_{i≥2} D_i O_{j,i} u_iᵀx, so the sign is that of "first term
  minus the rest"). +inf for a cluster with no block.

  Raises:
    ValueError: bad x, labels or unit_block (:func:`dae_theory.loss.check_blocks`), or an all-zero
      row of x (its cosine is undefined).
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block)
  checks.nonzero_rows(x, why="the slack is a cosine to x_i")
  xn = x / jnp.linalg.norm(x, axis=1, keepdims=True)
  wn = params.w1 / jnp.maximum(jnp.linalg.norm(params.w1, axis=0, keepdims=True), 1e-300)
  cos = xn @ wn  # (n, p)
  inblock = block_masks(labels, unit_block).astype(bool)
  per_sample = jnp.min(jnp.where(inblock, cos, jnp.inf), 1)
  m = int(labels.max()) + 1
  return jnp.stack([jnp.min(jnp.where(jnp.asarray(labels) == k, per_sample, jnp.inf))
                    for k in range(m)])
