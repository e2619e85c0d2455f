r"""Representation and weight metrics: spiky vs balanced (docs/theory.md §7).

Code metrics take ``h (..., p)`` (any leading batch shape) and reduce over the last axis. The paper's
detector is the population standard deviation of h across its p coordinates; the others are
scale-free (invariant to h → c·h, c > 0) so they separate *shape* (one spike vs spread) from energy.
All code metrics of an all-zero h are defined as 0 (nothing fired), except ``max_over_mean`` which is 0
too. Weight metrics take weights ``(d, p)`` (columns are units) and data ``(n, d)`` (rows are samples).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from dae_theory import checks
from dae_theory.model import DAEParams

LIVE_COLUMN = 0.1
"""A column (unit) of a net's weights ``(d, p)`` is *live* when its norm exceeds LIVE_COLUMN × the
largest column norm of the same net (the other columns are switched off); see :func:`live_columns`."""


def live_columns(w: jax.Array, fraction: float = LIVE_COLUMN) -> jax.Array:
  """Boolean mask ``(p,)`` of the live columns of ``w (d, p)``: ‖w_j‖ > ``fraction`` · max_k ‖w_k‖
  (:data:`LIVE_COLUMN` by default). Jit-friendly; an all-zero ``w`` has no live column."""
  w = jnp.asarray(w)
  if w.ndim != 2:
    raise ValueError(f"w must be a (d, p) weight matrix (columns are units), got shape {w.shape}.")
  norms = jnp.linalg.norm(w, axis=0)
  return norms > fraction * jnp.max(norms)


def _safe_div(a, b):
  return jnp.where(b > 0, a / jnp.where(b > 0, b, 1.0), 0.0)


def code_std(h: jax.Array) -> jax.Array:
  """Population std of h across its p coordinates (the paper's metric, Sec. 4.1): ``(..., p) -> (...)``."""
  return jnp.std(h, axis=-1)


def participation_ratio(h: jax.Array) -> jax.Array:
  r"""PR = ‖h‖₂⁴ / ‖h‖₄⁴ ∈ [1, p]: 1 for one-hot, p for a flat code. ``(..., p) -> (...)``."""
  h2 = jnp.sum(h**2, -1)
  return _safe_div(h2**2, jnp.sum(h**4, -1))


def l4_over_l2(h: jax.Array) -> jax.Array:
  r"""‖h‖₄/‖h‖₂ ∈ [p^{-1/4}, 1]: 1 for one-hot. ``(..., p) -> (...)``."""
  return _safe_div(jnp.sum(h**4, -1) ** 0.25, jnp.sqrt(jnp.sum(h**2, -1)))


def max_over_mean(h: jax.Array) -> jax.Array:
  """max_j h_j / mean_j h_j ∈ [1, p] for h ≥ 0: p for one-hot. ``(..., p) -> (...)``."""
  return _safe_div(jnp.max(h, -1), jnp.mean(h, -1))


def active_count(h: jax.Array, rel_tol: float = 1e-3) -> jax.Array:
  """Number of units with h_j > rel_tol · max_j h_j. ``(..., p) -> (...)`` int."""
  return jnp.sum(h > rel_tol * jnp.max(h, -1, keepdims=True), -1) * (jnp.max(h, -1) > 0)


def gini(h: jax.Array) -> jax.Array:
  r"""Gini coefficient of |h| ∈ [0, 1 − 1/p]: 0 for a flat code, 1 − 1/p for one-hot.

  G = Σ_i (2i − p − 1) h_(i) / (p Σ h), with h_(i) sorted ascending (i = 1 … p). ``(..., p) -> (...)``.
  """
  p = h.shape[-1]
  hs = jnp.sort(jnp.abs(h), -1)
  weight = (2 * jnp.arange(1, p + 1, dtype=hs.dtype) - p - 1).reshape((1,) * (hs.ndim - 1) + (p,))
  return _safe_div(jnp.sum(weight * hs, -1), p * jnp.sum(hs, -1))


def code_metrics(h: jax.Array) -> dict[str, jax.Array]:
  """All code metrics of ``h (..., p)`` as a dict of ``(...)`` arrays."""
  return {"std": code_std(h), "participation_ratio": participation_ratio(h),
          "l4_over_l2": l4_over_l2(h), "max_over_mean": max_over_mean(h),
          "active_count": active_count(h), "gini": gini(h)}


def grouped_code(h: jax.Array, unit_group, num_groups: int) -> jax.Array:
  r"""Sum the code over groups of units: ``(..., p) -> (..., G)``, units with group ``-1`` dropped.

  Use it to read a code *modulo column splitting*: with tied weights, replacing a column c·x by two
  parallel columns c₁x, c₂x with c₁² + c₂² = c² leaves f and ‖W‖² unchanged (relu is positively
  homogeneous), so a memorizing net may store one sample in several units. Grouping units by the sample
  they store (``column_sample_cosine``'s argmax) turns such a code back into one entry per sample.
  Since every unit of a group scales the same relu(xᵀy) by c_j, the grouped value is
  Σ_j c_j relu(xᵀy), a positive multiple of the unsplit unit's activation.
  """
  unit_group = jnp.asarray(unit_group)
  onehot = (unit_group[:, None] == jnp.arange(num_groups)[None, :]).astype(h.dtype)  # (p, G)
  return h @ onehot


def _unit_rows(a: jax.Array) -> jax.Array:
  nrm = jnp.linalg.norm(a, axis=-1, keepdims=True)
  return a / jnp.where(nrm > 0, nrm, 1.0)


def cosine_matrix(a: jax.Array, b: jax.Array) -> jax.Array:
  """Cosines between the rows of ``a (na, d)`` and of ``b (nb, d)``: ``(na, nb)`` (zero rows give 0)."""
  return _unit_rows(a) @ _unit_rows(b).T


def column_sample_cosine(w: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """For each column of ``w (d, p)``, the largest cosine to any row of ``x (n, d)`` and its index.

  ≈ 1 means the unit stores a raw training sample (memorization, Eq. 9). A zero column gets cosine 0.

  Returns:
    ``(best_cos (p,), argmax (p,))``.
  """
  cos = cosine_matrix(w.T, x)  # (p, n)
  return jnp.max(cos, 1), jnp.argmax(cos, 1)


def cluster_bases(x: jax.Array, labels, rank: int) -> list[jax.Array]:
  """Orthonormal bases ``(d, rank)`` of each cluster's top uncentred principal subspace.

  Raises:
    ValueError: bad x or labels (:func:`dae_theory.data.check_labels` rules), ``rank`` not an int >= 1.
  """
  x = jnp.asarray(checks.check_data(x))
  labels = checks.check_labels(labels, x.shape[0], x_shape=x.shape)
  rank = checks.check_int(rank, "rank", 1, "subspace dimension")
  out = []
  for k in range(int(labels.max()) + 1):
    _, _, vt = jnp.linalg.svd(x[labels == k], full_matrices=False)
    out.append(vt[: min(rank, vt.shape[0])].T)
  return out


def column_subspace_alignment(w: jax.Array, bases: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
  r"""For each column w_j, max_k ‖P_k w_j‖/‖w_j‖ over cluster subspaces (bases from :func:`cluster_bases`)
  and the argmax k. ≈ 1 means the unit lives in one cluster's subspace (a balanced block's column).

  Returns:
    ``(alignment (p,), cluster (p,))``.
  """
  wn = _unit_rows(w.T)  # (p, d)
  al = jnp.stack([jnp.linalg.norm(wn @ b, axis=1) for b in bases], 1)  # (p, M)
  return jnp.max(al, 1), jnp.argmax(al, 1)


def end_to_end(params: DAEParams) -> jax.Array:
  """W₂W₁ᵀ ``(d, d)``: the linear map summed over all units (W Wᵀ when tied)."""
  return params.decoder @ params.w1.T


def gram_distance(a: DAEParams, b: DAEParams) -> jax.Array:
  r"""‖W₂W₁ᵀ(a) − W₂W₁ᵀ(b)‖_F / ‖W₂W₁ᵀ(b)‖_F.

  Invariant to column permutation, column sign and any rotation of the hidden space (so to the block
  rotations O_k of Theorem 3.1): the comparison "modulo symmetry" of docs/theory.md §6. ``b`` is the reference.
  """
  ref = end_to_end(b)
  return jnp.linalg.norm(end_to_end(a) - ref) / jnp.linalg.norm(ref)


def matched_column_distance(w: jax.Array, w_ref: jax.Array) -> tuple[float, np.ndarray]:
  r"""Distance between weight sets modulo column permutation and sign.

  Columns of ``w (d, p)`` are matched to columns of ``w_ref (d, q)`` by the assignment maximising
  Σ|cos| (scipy's ``linear_sum_assignment``), signs aligned, and the relative Frobenius distance
  ‖w[:, π] ∘ sign − w_ref‖/‖w_ref‖ taken over the matched pairs plus, unmatched, the extra columns of
  the wider one (counted in full). Not invariant to in-block rotations: use :func:`gram_distance` for
  that.

  Returns:
    ``(distance, match)`` where ``match[j]`` is the column of ``w`` matched to reference column j
    (``-1`` if none).
  """
  w = np.asarray(w, np.float64)
  w_ref = np.asarray(w_ref, np.float64)
  if w.shape[0] != w_ref.shape[0]:
    raise ValueError(f"weights must share d: got {w.shape} and {w_ref.shape}.")
  cos = np.asarray(cosine_matrix(jnp.asarray(w_ref.T), jnp.asarray(w.T)))  # (q, p)
  rows, cols = linear_sum_assignment(-np.abs(cos))
  match = -np.ones(w_ref.shape[1], int)
  match[rows] = cols
  sq = 0.0
  for r, c in zip(rows, cols):
    sgn = 1.0 if cos[r, c] >= 0 else -1.0
    sq += np.sum((sgn * w[:, c] - w_ref[:, r]) ** 2)
  unmatched_ref = np.setdiff1d(np.arange(w_ref.shape[1]), rows)
  unmatched = np.setdiff1d(np.arange(w.shape[1]), cols)
  sq += np.sum(w_ref[:, unmatched_ref] ** 2) + np.sum(w[:, unmatched] ** 2)
  return float(np.sqrt(sq) / np.linalg.norm(w_ref)), match


def learned_allocation(params: DAEParams, x: jax.Array, labels, min_fraction: float = 0.5,
                       rel_norm: float = 1e-2) -> np.ndarray:
  """Assign each unit to the cluster it serves: the cluster on which it is active most often.

  A unit is assigned to cluster k when it fires (pre-activation > 0) on at least ``min_fraction`` of
  cluster k's clean points and on more of k's points than any other cluster's; units whose column norm is
  below ``rel_norm`` × the largest, or that fire on no cluster often enough, get ``-1``. This is the
  *learned allocation* of docs/theory.md §6 (training chooses p_k; equal p_k is a choice, not a prediction).

  Returns:
    ``(p,)`` int NumPy array, the unit → cluster map.

  Raises:
    ValueError: bad x or labels (:func:`dae_theory.data.check_labels` rules), ``min_fraction`` not in
      [0, 1], ``rel_norm`` negative.
  """
  x = checks.check_data(x, d=params.w1.shape[0], weights="params.w1")
  labels = checks.check_labels(labels, np.shape(x)[0], x_shape=np.shape(x))
  checks.check_scalar(min_fraction, "min_fraction", why="a fraction of a cluster's points")
  if min_fraction > 1:
    raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction}.")
  checks.check_scalar(rel_norm, "rel_norm", why="a fraction of the largest column norm")
  m = int(labels.max()) + 1
  fire = np.asarray(x @ params.w1 > 0, np.float64)  # (n, p)
  frac = np.stack([fire[labels == k].mean(0) for k in range(m)])  # (M, p)
  best = frac.argmax(0)
  norms = np.asarray(jnp.linalg.norm(params.w1, axis=0))
  ok = (frac.max(0) >= min_fraction) & (norms > rel_norm * norms.max())
  return np.where(ok, best, -1)
