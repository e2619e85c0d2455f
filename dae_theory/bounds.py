r"""Closed-form loss values, bounds and certificates of the theory (THEORY §3–6).

Memorization loss (Cor. 3.2), the printed and corrected Cor. 3.3 limits, the paper's margin γ
(Theorem D.2), the Hessian local-minimum certificate and the explicit distance bound (ours).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import orthogonal_procrustes

from dae_theory import data as data_lib
from dae_theory import loss as loss_lib
from dae_theory.data import GaussianMixture
from dae_theory.model import DAEParams


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


# ----------------------------------------------------------------------------------------------
# Cor. 3.3: printed and corrected limits of the test loss
# ----------------------------------------------------------------------------------------------


class Cor33Limits(NamedTuple):
  r"""The λ → 0, n_k → ∞ limits of the test loss of the Eq. 8 construction on a Gaussian mixture.

  Attributes:
    printed: Σ_k ρ_k [Σ_{j≤p_k} s_jσ⁴/(s_j+σ²)² + Σ_{j>p_k} s_j] (Cor. 3.3 as printed, without its
      C_k p_k/(σ² n_k) term whose constant is not given).
    corrected: Σ_k ρ_k [Σ_{j≤p_k} s_jσ²/(s_j+σ²) + Σ_{j>p_k} s_j]: the same with the variance term
      σ²s_j²/(s_j+σ²)² restored, i.e. the exact loss of the rank-p_k Wiener filter (THEORY §3, ours).
    eig: ``(M, d)`` s_j = eigenvalues of S_k = μ_kμ_kᵀ + Σ_k, descending.
  """

  printed: float
  corrected: float
  eig: np.ndarray


def cor33_limits(mixture: GaussianMixture, widths: Sequence[int], sigma: float) -> Cor33Limits:
  """Printed and corrected Cor. 3.3 limits for block widths ``widths`` (one per mode)."""
  s2 = sigma**2
  eig = np.sort(np.linalg.eigvalsh(np.asarray(mixture.second_moments, np.float64)), axis=1)[:, ::-1]
  eig = np.maximum(eig, 0.0)
  rho = np.asarray(mixture.weights, np.float64)
  if len(widths) != len(rho):
    raise ValueError(f"widths needs one entry per mode ({len(rho)}), got {len(widths)}.")
  printed = corrected = 0.0
  for k, pk in enumerate(widths):
    kept, dropped = eig[k, :pk], eig[k, pk:]
    printed += rho[k] * (np.sum(kept * s2**2 / (kept + s2) ** 2) + np.sum(dropped))
    corrected += rho[k] * (np.sum(kept * s2 / (kept + s2)) + np.sum(dropped))
  return Cor33Limits(float(printed), float(corrected), eig)


def surrogate_population_loss(params: DAEParams, mixture: GaussianMixture, unit_block, sigma
                              ) -> jax.Array:
  r"""Exact test loss (no penalty) of the gated-linear surrogate on the mixture (ours):

  .. math::
      \sum_k \rho_k \big[\operatorname{tr}((A_k - I) S_k (A_k - I)^\top) + \sigma^2 \|A_k\|_F^2\big],
      \qquad A_k = W_2 D_k W_1^\top .

  Equal to the ReLU net's test loss up to the cross-talk of Theorem D.2.
  """
  unit_block = jnp.asarray(unit_block)
  m = mixture.means.shape[0]
  masks = (jnp.arange(m)[:, None] == unit_block[None, :]).astype(params.w1.dtype)
  a = jnp.einsum("ip,kp,jp->kij", params.decoder, masks, params.w1)
  r = a - jnp.eye(a.shape[1], dtype=a.dtype)[None]
  fit = jnp.einsum("kij,kjl,kil->k", r, mixture.second_moments, r)
  return jnp.sum(mixture.weights * (fit + sigma**2 * jnp.sum(a**2, axis=(1, 2))))


# ----------------------------------------------------------------------------------------------
# Theorem D.2: the paper's margin
# ----------------------------------------------------------------------------------------------


class PaperMargin(NamedTuple):
  r"""γ of Theorem D.2 with its parts.

  γ = min_k ‖x̄_k‖ · min{ s_min c_proj(α)/√p_k − s_max α, s_max |β|/2 }, with c_proj(α) = √(1 − α²)
  (the appendix does not define c_proj: our choice, the projection of a point within relative distance
  α of the mean onto the mean's direction is at least √(1 − α²) of its norm) and s_min, s_max the
  smallest and largest singular value √s_j over all blocks (our reading of "block shrinkage factors":
  the factors that scale a unit's pre-activation). Negative γ means the printed guarantee is vacuous.
  """

  gamma: float
  alpha: float
  beta: float
  s_min: float
  s_max: float
  per_cluster: np.ndarray


def paper_margin(x, labels, construction) -> PaperMargin:
  """γ of Theorem D.2 for a construction from :mod:`dae_theory.constructions` on labelled data."""
  sep = data_lib.separability(x, labels)
  sv = np.sqrt(np.asarray(construction.shrinkage, np.float64)[construction.unit_block >= 0])
  s_min, s_max = float(sv.min()), float(sv.max())
  c_proj = np.sqrt(max(0.0, 1.0 - sep.alpha**2))
  beta_term = s_max * abs(sep.beta) / 2 if np.isfinite(sep.beta) else np.inf
  per = []
  for k in range(len(sep.sizes)):
    pk = int(np.sum(construction.unit_block == k))
    if pk == 0:
      per.append(np.inf)
      continue
    first = s_min * c_proj / np.sqrt(pk) - s_max * sep.alpha
    per.append(sep.mean_norms[k] * min(first, beta_term))
  per = np.array(per)
  return PaperMargin(float(per.min()), sep.alpha, sep.beta, s_min, s_max, per)


# ----------------------------------------------------------------------------------------------
# Local-minimum certificate and distance bound (THEORY §6, ours)
# ----------------------------------------------------------------------------------------------


class HessianCertificate(NamedTuple):
  """Spectrum of the decomposed loss's Hessian at tied weights, modulo the block rotations.

  Attributes:
    eigenvalues: all eigenvalues of the (dp × dp) Hessian w.r.t. W, ascending.
    threshold: |λ| ≤ threshold counts as zero (``rel_tol`` × the largest |λ|).
    n_zero: number of zero eigenvalues.
    expected_zero: Σ_k p_k(p_k − 1)/2, the dimension of the rotation symmetry W_k → W_k Q.
    m0: smallest eigenvalue above the threshold (strong convexity modulo symmetry).
    min_eigenvalue: smallest eigenvalue (negative and below −threshold: not a local minimum).
    certified: no eigenvalue below −threshold and n_zero == expected_zero.
  """

  eigenvalues: np.ndarray
  threshold: float
  n_zero: int
  expected_zero: int
  m0: float
  min_eigenvalue: float
  certified: bool


def hessian_certificate(params: DAEParams, x, labels, unit_block, sigma, lam,
                        rel_tol: float = 1e-8) -> HessianCertificate:
  r"""Local-minimum certificate of THEORY §6 (ours): the Hessian of the decomposed loss (Thm D.2) at
  tied weights is PSD with exactly Σ_k p_k(p_k−1)/2 zero modes (the rotations O_k), the rest positive.

  ``rel_tol`` separates zero from positive relative to the largest eigenvalue. Use float64: round-off
  puts the symmetry modes near 1e-13 × max, so 1e-8 sits far from both sides (the tests check that the
  gap around it is wide).
  """
  if not params.tied:
    raise ValueError("hessian_certificate covers tied weights (the constructions); got untied params.")
  labels, unit_block = loss_lib.check_blocks(labels, unit_block, params.width)
  shape = params.w1.shape

  def f(flat):
    return loss_lib.decomposed_loss(DAEParams(flat.reshape(shape)), x, labels, unit_block, sigma, lam)

  h = jax.hessian(f)(params.w1.reshape(-1))
  ev = np.linalg.eigvalsh(np.asarray(h, np.float64))
  thr = rel_tol * float(np.max(np.abs(ev)))
  zero = np.abs(ev) <= thr
  pos = ev[ev > thr]
  widths = np.bincount(unit_block[unit_block >= 0], minlength=int(labels.max()) + 1)
  expected = int(np.sum(widths * (widths - 1) // 2))
  min_ev = float(ev[0])
  return HessianCertificate(ev, thr, int(zero.sum()), expected, float(pos[0]) if pos.size else 0.0,
                            min_ev, bool(min_ev >= -thr and int(zero.sum()) == expected))


def distance_modulo_rotation(w: jax.Array, w_star: jax.Array, unit_block) -> float:
  r"""min over block rotations Q_k of ‖W − W* diag(Q_k)‖_F (scipy's orthogonal Procrustes per block).

  Both weight sets must share the unit → block assignment ``unit_block`` (e.g. training started at
  the construction); unassigned units are compared directly.
  """
  w, w_star = np.asarray(w, np.float64), np.asarray(w_star, np.float64)
  unit_block = np.asarray(unit_block)
  sq = float(np.sum((w[:, unit_block < 0] - w_star[:, unit_block < 0]) ** 2))
  for k in np.unique(unit_block[unit_block >= 0]):
    cols = unit_block == k
    q, _ = orthogonal_procrustes(w_star[:, cols], w[:, cols])
    sq += float(np.sum((w_star[:, cols] @ q - w[:, cols]) ** 2))
  return float(np.sqrt(sq))


def distance_bound(eps_total: float, m0: float) -> float:
  r"""Theorem D.2 distance bound, made explicit (ours): √(2 ε / m₀).

  If W is a local minimizer of L near W*, and |L − L_dec| ≤ ε(·) at both, then
  L_dec(W) − L_dec(W*) ≤ L(W) + ε(W) − L(W*) + ε(W*) ≤ ε(W) + ε(W*) =: ε, while strong convexity
  modulo symmetry gives L_dec(W) − L_dec(W*) ≥ (m₀/2) dist². Pass ``eps_total`` = ε(W) + ε(W*) (the
  cross-talk bounds at both points); the quadratic lower bound is local, so the result is meaningful
  only when it is small against the scale of W*.
  """
  if m0 <= 0:
    raise ValueError(f"m0 must be > 0 (strong convexity modulo symmetry), got {m0}.")
  return float(np.sqrt(2.0 * eps_total / m0))
