r"""Closed-form loss values, bounds and certificates of the theory (docs/theory.md §3–6).

Memorization loss (Cor. 3.2), the printed and corrected Cor. 3.3 limits, the paper's margin γ
(Theorem D.2), the Hessian local-minimum certificate and the explicit distance bound (ours).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import orthogonal_procrustes

from dae_theory import checks
from dae_theory import constructions as constructions_lib
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

  Raises:
    ValueError: nλ ≥ min_i ‖x_i‖² (W_mem does not exist there: the formula would return a
      meaningless, possibly negative, loss; :func:`dae_theory.constructions.memorization_weights`
      refuses the same input); bad x, NaN/inf or negative σ or λ.
  """
  x = jnp.asarray(checks.check_data(x))
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  n = x.shape[0]
  constructions_lib.require_decay_below_norms(n, lam, jnp.sum(x**2, axis=1), "Cor. 3.2 (Eq. 9)")
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
      σ²s_j²/(s_j+σ²)² restored, i.e. the exact loss of the rank-p_k Wiener filter (docs/theory.md §3, ours).
    eig: ``(M, d)`` s_j = eigenvalues of S_k = μ_kμ_kᵀ + Σ_k, descending.
  """

  printed: float
  corrected: float
  eig: np.ndarray


def cor33_limits(mixture: GaussianMixture, widths: Sequence[int], sigma: float) -> Cor33Limits:
  """Printed and corrected Cor. 3.3 limits for block widths ``widths`` (one per mode).

  Args:
    mixture: the Gaussian mixture (finite parameters).
    widths: p_k per mode, integers in ``0 … d``.
    sigma: σ > 0.

  Raises:
    ValueError: a width that is not an integer in ``0 … d``, the wrong number of widths, σ ≤ 0 or not
      finite, or non-finite mixture parameters.
  """
  checks.check_sigma(sigma, positive=True, why="the limits divide by s_j + sigma^2, 0 for a zero "
                     "eigenvalue at sigma = 0")
  widths = checks.check_widths(widths)
  for label, arr in zip(("weights", "means", "factors"), mixture):
    if not np.all(np.isfinite(np.asarray(arr))):
      raise ValueError(f"mixture.{label} has non-finite entries (NaN or inf).")
  s2 = sigma**2
  eig = np.sort(np.linalg.eigvalsh(np.asarray(mixture.second_moments, np.float64)), axis=1)[:, ::-1]
  eig = np.maximum(eig, 0.0)
  rho = np.asarray(mixture.weights, np.float64)
  if len(widths) != len(rho):
    raise ValueError(f"widths needs one entry per mode ({len(rho)}), got {len(widths)}.")
  d = eig.shape[1]
  for k, pk in enumerate(widths):
    if pk > d:
      raise ValueError(f"widths[{k}] = {pk} exceeds the dimension d = {d} (S_k has d eigenvalues).")
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

  Raises:
    ValueError: ``unit_block`` not ``(p,)`` ints in ``-1 … M-1``, NaN/inf or negative σ, non-finite
      weights.
  """
  m = mixture.means.shape[0]
  checks.check_sigma(sigma)
  checks.check_finite_params(params)
  unit_block = jnp.asarray(checks.check_unit_block(unit_block, params.width, m))
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

  **s is the square root of the shrinkage**: s_min = min_j √s_j and s_max = max_j √s_j, where s_j is
  :attr:`Construction.shrinkage` (the eigenvalue of W_k W_kᵀ, Eq. 8's diagonal factor squared), not
  s_j itself. The β-term carries the /2 of Theorem D.2. Since β < 0 is required, |β| = −β.

  Attributes:
    gamma: γ = min over clusters of ``per_cluster``.
    alpha, beta: (α, β) of the data (Definition 3.1).
    s_min, s_max: smallest and largest √(shrinkage) over the assigned units.
    per_cluster: ``(M,)`` ‖x̄_k‖ · min{first term, β-term}; +inf for a cluster with no unit.
  """

  gamma: float
  alpha: float
  beta: float
  s_min: float
  s_max: float
  per_cluster: np.ndarray


def paper_margin(x, labels, construction) -> PaperMargin:
  r"""γ of Theorem D.2 for a construction from :mod:`dae_theory.constructions` on labelled data:

  .. math::
      \gamma = \min_k \|\bar x_k\| \min\Big\{ \frac{s_{min}\sqrt{1-\alpha^2}}{\sqrt{p_k}} - s_{max}\alpha,
      \frac{s_{max}|\beta|}{2} \Big\}, \qquad s = \sqrt{\text{shrinkage}}

  (see :class:`PaperMargin`; s is the square root of :attr:`Construction.shrinkage`).

  Args:
    x: ``(n, d)`` samples; labels: ``(n,)`` ints ``0 … M-1``.
    construction: a :class:`~dae_theory.constructions.Construction` built on this data.

  Raises:
    ValueError: acute data (β ≥ 0: Theorem D.2 assumes pairwise-obtuse means, and |β| would turn an
      acute pair into a *positive* margin), a construction whose ``unit_block`` does not fit the
      labels, no assigned unit, or bad x/labels.
  """
  x = checks.check_data(x)
  sep = data_lib.separability(x, labels)
  if not sep.obtuse:
    raise ValueError(f"paper_margin needs pairwise-obtuse cluster means (beta < 0, Definition 3.1; "
                     f"the hypothesis of Theorem D.2), got beta = {sep.beta:.4g} >= 0: the margin "
                     "s_max*|beta|/2 would be positive for acute data. There is no margin to report.")
  unit_block = checks.check_unit_block(construction.unit_block, construction.params.width,
                                       len(sep.sizes), "construction.unit_block")
  if np.shape(construction.params.w1)[0] != np.shape(x)[1]:
    raise ValueError(f"construction has d = {np.shape(construction.params.w1)[0]} but x has d = "
                     f"{np.shape(x)[1]}: build the construction on this data.")
  if not np.any(unit_block >= 0):
    raise ValueError("construction has no unit assigned to a cluster (unit_block all -1).")
  construction = construction._replace(unit_block=unit_block)
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
# Local-minimum certificate and distance bound (docs/theory.md §6, ours)
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
  r"""Local-minimum certificate of docs/theory.md §6 (ours): the Hessian of the decomposed loss (Thm D.2) at
  tied weights is PSD with exactly Σ_k p_k(p_k−1)/2 zero modes (the rotations O_k), the rest positive.

  ``rel_tol`` separates zero from positive **relative to the largest |eigenvalue|** (so the certificate
  is invariant to the data's scale: x → cx, σ → cσ, λ → c²λ multiplies the loss, hence the Hessian, by
  c²). Use float64: round-off puts the symmetry modes near 1e-13 × max, so 1e-8 sits far from both
  sides (the tests check that the gap around it is wide). In float32 the symmetry modes sit near
  1e-7 × max, above the default threshold: a "not certified" there is **warned** as possibly
  round-off (rerun under ``jax.enable_x64(True)`` with float64 inputs).

  Raises:
    ValueError: untied params, ``rel_tol`` not in (0, 1), bad x/labels/unit_block, NaN/inf or
      negative σ or λ.

  Warns:
    UserWarning: not certified while the Hessian was computed in float32 (or lower).
  """
  if not params.tied:
    raise ValueError("hessian_certificate covers tied weights (the constructions); got untied params.")
  checks.check_scalar(rel_tol, "rel_tol", strict=True, why="relative to the largest |eigenvalue|")
  if rel_tol >= 1:
    raise ValueError(f"rel_tol must be < 1 (a fraction of the largest |eigenvalue|), got {rel_tol}.")
  x, labels, unit_block = loss_lib.check_net_inputs(params, x, labels, unit_block, sigma, lam)
  shape = params.w1.shape

  def f(flat):
    return loss_lib.decomposed_loss(DAEParams(flat.reshape(shape)), x, labels, unit_block, sigma, lam)

  h = jax.jit(jax.hessian(f))(params.w1.reshape(-1))  # one compiled program: ~5x faster than eager
  ev = np.linalg.eigvalsh(np.asarray(h, np.float64))
  thr = rel_tol * float(np.max(np.abs(ev)))
  zero = np.abs(ev) <= thr
  pos = ev[ev > thr]
  widths = np.bincount(unit_block[unit_block >= 0], minlength=int(labels.max()) + 1)
  expected = int(np.sum(widths * (widths - 1) // 2))
  min_ev = float(ev[0])
  certified = bool(min_ev >= -thr and int(zero.sum()) == expected)
  eps = float(jnp.finfo(h.dtype).eps)
  if not certified and eps > 1e-10:
    warnings.warn(
        f"hessian_certificate: not certified in {h.dtype} ({int(zero.sum())} zero modes, expected "
        f"{expected}; smallest eigenvalue {min_ev:.3g}, threshold {thr:.3g}). {h.dtype} round-off "
        f"(eps = {eps:.1e}, about {eps:.0e} x the largest eigenvalue {float(np.max(np.abs(ev))):.3g}) "
        f"exceeds rel_tol = {rel_tol:g} and may hide the certificate: rerun with float64 inputs "
        "under jax.enable_x64(True).", stacklevel=2)
  return HessianCertificate(ev, thr, int(zero.sum()), expected, float(pos[0]) if pos.size else 0.0,
                            min_ev, certified)


def distance_modulo_rotation(w: jax.Array, w_star: jax.Array, unit_block) -> float:
  r"""min over block rotations Q_k of ‖W − W* diag(Q_k)‖_F (scipy's orthogonal Procrustes per block).

  Both weight sets must share the unit → block assignment ``unit_block`` (e.g. training started at
  the construction); unassigned units are compared directly.

  Raises:
    ValueError: ``w`` and ``w_star`` of different shapes, non-finite entries, or a ``unit_block``
      that is not ``(p,)`` integers >= -1.
  """
  w, w_star = np.asarray(w, np.float64), np.asarray(w_star, np.float64)
  if w.ndim != 2 or w.shape != w_star.shape:
    raise ValueError(f"w and w_star must be (d, p) of the same shape, got {w.shape} and "
                     f"{w_star.shape}.")
  if not (np.all(np.isfinite(w)) and np.all(np.isfinite(w_star))):
    raise ValueError("w and w_star must be finite (NaN or inf entries found).")
  ub = np.asarray(unit_block)
  unit_block = checks.check_unit_block(unit_block, w.shape[1],
                                       int(ub.max()) + 1 if ub.size and ub.ndim == 1 else 0)
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

  Raises:
    ValueError: ``eps_total`` negative or not finite (it is a sum of bounds on |L − L_dec|, so ≥ 0),
      or ``m0`` ≤ 0 or not finite.
  """
  checks.check_scalar(eps_total, "eps_total", why="a sum of cross-talk bounds on |L - L_dec|")
  checks.check_scalar(m0, "m0", strict=True, why="strong convexity modulo symmetry")
  if m0 <= 0:
    raise ValueError(f"m0 must be > 0 (strong convexity modulo symmetry), got {m0}.")
  return float(np.sqrt(2.0 * eps_total / m0))
