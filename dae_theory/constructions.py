r"""Closed-form local minimizers of the DAE loss (Theorem 3.1, Corollaries 3.2–3.4, Lemma D.1).

All constructions are tied (W₁ = W₂ = W) and return a :class:`Construction` carrying the weights and the
**unit → cluster** assignment ``unit_block (p,)`` (``-1`` = no cluster) that the decomposed loss, the
cross-talk bound and the mask checks use. Rows of ``x`` are samples.

Every function refuses data that break its hypothesis with a ``ValueError`` that names the condition
and by how much it fails, and refuses bad input before computing (:mod:`dae_theory.checks`): x not
``(n, d)``, empty, NaN/inf or float16; labels that are not ints taking every value ``0 … M-1``; NaN/inf
or negative σ or λ; widths that are not integers. **Integer x is cast** to the default float dtype
(float32, or float64 under ``jax.enable_x64``), so the weights are floats.

**Numerical rank.** A block of width p_k keeps the top p_k eigen-directions of its cluster's Gram
matrix. An eigenvalue at round-off level (Λ_j ≤ Λ₁ (max(n_k, d) eps)², NumPy's ``matrix_rank``
tolerance with the data dtype's eps) has an eigenvector that is an arbitrary vector of the null space,
not a property of the data; at λ = 0 nothing else refuses it. Such a width is refused; widths from a
trained net go through :func:`construction_for_allocation`, which clips them to the usable rank.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import checks
from dae_theory import data as data_lib
from dae_theory.model import DAEParams


class Construction(NamedTuple):
  """A closed-form minimizer.

  Attributes:
    params: tied DAEParams with ``w1 (d, p)``.
    unit_block: ``(p,)`` int NumPy array, the cluster of each unit (``-1`` = none).
    shrinkage: ``(p,)`` the per-direction shrinkage s_j of W Wᵀ on the unit's block, in unit order
      (the eigenvalues of the block's W_k W_kᵀ, which the rotation O_k mixes among the block's units);
      0 for unassigned units.
  """

  params: DAEParams
  unit_block: np.ndarray
  shrinkage: jax.Array


def balanced_rotation(p: int, dtype=jnp.float32) -> jax.Array:
  r"""The p × p Householder reflection O with first column 𝟙/√p (docs/theory.md §3, "choice of O_k", ours).

  O = I − 2vvᵀ/‖v‖², v = e₁ − 𝟙/√p; O is symmetric and orthogonal and maps e₁ to 𝟙/√p, so every
  column of W = U D Oᵀ has the same component D₁/√p along u₁: all units of the block fire together.
  """
  p = checks.check_width(p, "p", minimum=1)
  if p == 1:
    return jnp.ones((1, 1), dtype)
  v = jnp.zeros((p,), dtype).at[0].set(1.0) - jnp.full((p,), 1.0 / np.sqrt(p), dtype)
  return jnp.eye(p, dtype=dtype) - 2.0 * jnp.outer(v, v) / jnp.dot(v, v)


def top_eigenpairs(x: jax.Array, p: int) -> tuple[jax.Array, jax.Array]:
  r"""Top-p eigenpairs of the uncentred Gram matrix XᵀX (the paper's X Xᵀ with columns as samples).

  Computed from the SVD of ``x (n, d)``: Λ = singular values², U = right singular vectors. Each u_j is
  sign-fixed so that u_jᵀ x̄ ≥ 0 (x̄ the sample mean): the sign rule of docs/theory.md §3 for u₁, a
  deterministic convention for the rest.

  Returns:
    ``(U (d, p), Λ (p,))``, eigenvalues in decreasing order.

  Raises:
    ValueError: bad x (:func:`dae_theory.checks.check_data`), p not an integer >= 1, p > min(n, d).
  """
  x = checks.check_data(x)
  x = jnp.asarray(x)
  p = checks.check_width(p, "p", minimum=1)
  n, d = x.shape
  if p > min(n, d):
    raise ValueError(f"width p={p} exceeds the rank bound min(n, d) = {min(n, d)} of this cluster "
                     f"(n={n} samples in d={d}).")
  s, vt = _gram_spectrum(x)
  u = vt[:p].T
  sign = jnp.where(u.T @ jnp.mean(x, axis=0) < 0, -1.0, 1.0).astype(x.dtype)
  return u * sign[None, :], s[:p] ** 2


def _gram_spectrum(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Singular values and right singular vectors of ``x (n, d)`` (one routine for the construction and
  :func:`usable_rank`, so the two agree bit for bit on which eigenvalues are kept)."""
  _, s, vt = jnp.linalg.svd(x, full_matrices=False)
  return s, vt


def _eig_round_off(eig0: float, shape: tuple[int, int], dtype) -> float:
  """Gram eigenvalues ≤ this are round-off: (√Λ₁ · max(n, d) · eps)² (see "Numerical rank")."""
  return checks.rank_tolerance(np.sqrt(max(float(eig0), 0.0)), shape, dtype) ** 2


def _require_numerical_rank(eig: np.ndarray, shape: tuple[int, int], dtype, what: str) -> None:
  """Refuse kept eigenvalues at round-off level (see the module docstring, "Numerical rank")."""
  tol = _eig_round_off(eig[0], shape, dtype)
  if eig[-1] <= tol:
    r = int(np.sum(eig > tol))
    raise ValueError(
        f"{what}: width p = {len(eig)} exceeds the numerical rank {r} of the Gram matrix (n={shape[0]} "
        f"samples in d={shape[1]}): eigenvalue #{r + 1} is {eig[r]:.3g} <= {tol:.3g}, round-off for "
        f"{np.dtype(dtype).name} data, so its direction would be an arbitrary vector of the null "
        f"space. Use a width <= {r} (construction_for_allocation clips widths to the usable rank).")


def _require_kept_above(lam_prime: float, eig: np.ndarray, what: str) -> None:
  if lam_prime >= eig[-1]:
    j = int(np.argmax(eig <= lam_prime))
    raise ValueError(
        f"{what}: n*lambda = {lam_prime:.6g} must be < every kept eigenvalue of the Gram matrix, but "
        f"eigenvalue #{j + 1} (of {len(eig)} kept) is {eig[j]:.6g}, short by {lam_prime - eig[j]:.6g}; "
        f"the factor (I - n*lambda*Lambda^-1)^(1/2) is not real. Lower lambda or the width.")


def linear_ae_minimizer(x: jax.Array, p: int, sigma, lam_prime, rotation: jax.Array | None = None,
                        *, what: str = "Lemma D.1") -> tuple[jax.Array, jax.Array]:
  r"""Global minimizer of the regularized linear autoencoder (Lemma D.1):

  .. math::
      W_1 = W_2 = U^{(p)} (I + n\sigma^2\Lambda^{-1})^{-1/2} (I - \lambda'\Lambda^{-1})^{1/2} O^\top,

  with X Xᵀ = U Λ Uᵀ (here ``x`` is ``(n, d)`` so the Gram matrix is xᵀx). W Wᵀ has eigenvalues
  s_j = (Λ_j − λ')/(Λ_j + nσ²) on u_j.

  Args:
    x: ``(n, d)``.
    p: number of kept directions.
    sigma: σ ≥ 0.
    lam_prime: λ' ≥ 0, must be below the p-th eigenvalue.
    rotation: ``(p, p)`` orthogonal O (default identity).
    what: name of the result used in error messages.

  Returns:
    ``(W (d, p), s (p,))``.

  Raises:
    ValueError: bad x, p too large for the data's (numerical) rank, NaN/inf or negative σ or λ',
      or λ' ≥ Λ_p.
  """
  checks.check_sigma(sigma)
  checks.check_lam(lam_prime, "lam_prime", why="the decay factor n*lambda of Eq. 8")
  x = jnp.asarray(checks.check_data(x))
  u, lam_eig = top_eigenpairs(x, p)
  eig = np.asarray(lam_eig, np.float64)
  _require_numerical_rank(eig, x.shape, x.dtype, what)
  _require_kept_above(float(lam_prime), eig, what)
  n = x.shape[0]
  diag = jnp.sqrt((1.0 - lam_prime / lam_eig) / (1.0 + n * sigma**2 / lam_eig))
  rot = jnp.eye(p, dtype=x.dtype) if rotation is None else rotation
  return (u * diag[None, :]) @ rot.T, diag**2


def block_weights(xk: jax.Array, pk: int, n_total: int, sigma, lam) -> tuple[jax.Array, jax.Array]:
  r"""One block of Theorem 3.1 (Eq. 8):

  .. math::
      W_{X_k} = U_k^{(p_k)} (I + n_k\sigma^2\Lambda_k^{-1})^{-1/2} (I - n\lambda\Lambda_k^{-1})^{1/2} O_k^\top,

  with n_k = cluster size in the noise factor, n = total sample count in the decay factor, O_k the
  :func:`balanced_rotation` and u₁ signed so that u₁ᵀx̄_k > 0.

  Returns:
    ``(W_k (d, p_k), s (p_k,))`` with s_j = (Λ_j − nλ)/(Λ_j + n_kσ²).
  """
  rot = balanced_rotation(pk, xk.dtype)
  return linear_ae_minimizer(xk, pk, sigma, n_total * lam, rot, what="Eq. 8")


def _require_obtuse(x, labels, what: str) -> data_lib.Separability:
  sep = data_lib.separability(x, labels)
  if not sep.obtuse:
    k, l = np.unravel_index(np.argmax(np.where(np.eye(len(sep.sizes), dtype=bool), -np.inf,
                                               sep.cosines)), sep.cosines.shape)
    m, d = len(sep.sizes), np.shape(x)[1]
    hint = ""
    if m > d + 1:
      hint = (f" {m} pairwise-obtuse {'samples' if m == np.shape(x)[0] else 'means'} cannot exist in "
              f"d = {d} (at most d + 1 = {d + 1}): if x is (d, n), pass x.T, one sample per row.")
    raise ValueError(
        f"{what} needs pairwise-obtuse cluster means (beta < 0, Definition 3.1), but clusters {k} and "
        f"{l} have cosine {sep.beta:.4g} >= 0 (by {sep.beta:.4g}).{hint}")
  return sep


def memorization_weights(x: jax.Array, sigma, lam, width: int | None = None,
                         require_obtuse: bool = True) -> Construction:
  r"""The memorizing minimizer of Cor. 3.2 (Eq. 9, denominator ‖x_i‖⁴ corrected):

  .. math::
      W_1 = W_2 = [r_1x_1, \dots, r_nx_n, 0, \dots, 0],\qquad
      r_i = \sqrt{\frac{\|x_i\|^2 - n\lambda}{\|x_i\|^4 + \sigma^2\|x_i\|^2}}.

  Args:
    x: ``(n, d)`` samples, each its own cluster; pairwise cosines must be < 0.
    sigma: σ.
    lam: λ of Eq. 6; needs nλ < min_i ‖x_i‖².
    width: p ≥ n (default n); extra columns are zero and unassigned.
    require_obtuse: refuse data with a pair of samples at cosine ≥ 0 (Cor. 3.2's hypothesis). Pass
      False only to build the Eq. 9 matrix as a *reference* for data where it is not a minimizer
      (e.g. the distance to memorization in a phase diagram).

  Returns:
    Construction with unit j < n assigned to sample j.

  Raises:
    ValueError: width < n, a pair of samples with cosine ≥ 0, or nλ ≥ min ‖x_i‖²; bad input (x not
      ``(n, d)``, empty, NaN/inf or float16 — integer x is cast to float; NaN/inf or negative σ or
      λ; a width that is not an integer).
  """
  x = jnp.asarray(checks.check_data(x))
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  n, d = x.shape
  width = n if width is None else checks.check_width(width)
  if width < n:
    raise ValueError(f"Cor. 3.2 needs width p >= n = {n}, got p = {width} (short by {n - width}).")
  if n > 1 and require_obtuse:
    _require_obtuse(x, np.arange(n), "Cor. 3.2 (memorization)")
  sq = jnp.sum(x**2, axis=1)
  require_decay_below_norms(n, lam, sq, "Cor. 3.2")
  r = jnp.sqrt((sq - n * lam) / (sq**2 + sigma**2 * sq))
  w = jnp.zeros((d, width), x.dtype).at[:, :n].set((x * r[:, None]).T)
  unit_block = np.concatenate([np.arange(n), -np.ones(width - n, int)])
  shrink = jnp.zeros((width,), x.dtype).at[:n].set(r**2 * sq)
  return Construction(DAEParams(w), unit_block, shrink)


def require_decay_below_norms(n: int, lam, sq, what: str) -> None:
  """Refuse nλ ≥ min_i ‖x_i‖² (``sq`` the squared norms): the factor (‖x_i‖² − nλ) of Eq. 9 must be > 0."""
  sq = np.asarray(sq, np.float64)
  i = int(np.argmin(sq))
  if n * lam >= sq[i]:
    raise ValueError(f"{what} needs n*lambda < min_i ||x_i||^2, but n*lambda = {n * lam:.6g} >= "
                     f"||x_{i}||^2 = {sq[i]:.6g} (by {n * lam - sq[i]:.6g}): the memorizing "
                     "column's factor ||x_i||^2 - n*lambda is not positive. Lower lambda.")


def _widths_per_cluster(widths, m: int) -> list[int]:
  if isinstance(widths, (int, np.integer)) and not isinstance(widths, (bool, np.bool_)):
    widths = [int(widths)] * m
  widths = checks.check_widths(widths)
  if len(widths) != m:
    raise ValueError(f"widths must be an int or a sequence of one width per cluster ({m}), got "
                     f"{len(widths)} entries.")
  if m and sum(widths) < 1:
    raise ValueError(f"cluster widths must be >= 0 with at least one unit in all, got {widths}.")
  return widths


def generalization_weights(x: jax.Array, labels, widths: int | Sequence[int], sigma, lam
                           ) -> Construction:
  r"""The block minimizer of Theorem 3.1: W₁ = W₂ = [W_{X_1} … W_{X_M}] with each block from Eq. 8
  (see :func:`block_weights`) — the balanced representation (Cor. 3.3 for a Gaussian mixture).

  Args:
    x: ``(n, d)``.
    labels: ``(n,)`` ints ``0 … M-1``; cluster means must be pairwise obtuse (β < 0).
    widths: p_k per cluster (an int for all). p_k = 0 leaves cluster k unserved (no block: a trained
      net may allocate no unit to a cluster, which is also a stationary point of the decomposed loss).
    sigma, lam: σ and λ of Eq. 6.

  Returns:
    Construction with p = Σ_k p_k units, grouped by cluster.

  Raises:
    ValueError: β ≥ 0, a width larger than its cluster's (numerical) rank, or nλ ≥ a kept
      eigenvalue; bad input (see the module docstring).
  """
  x = jnp.asarray(checks.check_data(x))
  _, labels = data_lib.check_labels(x, labels)
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  m = int(labels.max()) + 1
  widths = _widths_per_cluster(widths, m)
  if m > 1:
    _require_obtuse(x, labels, "Theorem 3.1")
  n = x.shape[0]
  blocks, shrink = [], []
  for k in range(m):
    if widths[k] == 0:
      continue
    try:
      wk, sk = block_weights(x[labels == k], widths[k], n, sigma, lam)
    except ValueError as err:
      raise ValueError(f"cluster {k}: {err}") from None
    blocks.append(wk)
    shrink.append(sk)
  unit_block = np.repeat(np.arange(m), widths)
  return Construction(DAEParams(jnp.concatenate(blocks, 1)), unit_block, jnp.concatenate(shrink))


def hybrid_weights(x: jax.Array, labels, widths: int | Sequence[int], sigma, lam,
                   duplicated: Sequence[int] | None = None) -> Construction:
  r"""The hybrid minimizer of Cor. 3.4: W = [r₁x₁, …, r_mx_m, W_{X_{m+1}}, …, W_{X_K}].

  A duplicated cluster l (one point x repeated n_l times, a rank-one cluster) gets one memorizing column
  √s·x with (ours; Eq. 8 with Λ = n_l‖x‖², and Eq. 9 when n_l = 1)

  .. math::
      s = \frac{n_l\|x\|^2 - n\lambda}{n_l\|x\|^4 + n_l\sigma^2\|x\|^2};

  every other cluster gets a balanced Eq. 8 block.

  Args:
    x: ``(n, d)``; labels: ``(n,)``.
    widths: p_k for the non-duplicated clusters (an int for all, or one per such cluster, in order).
    sigma, lam: σ, λ.
    duplicated: ids of the duplicated clusters; ``None`` → every cluster whose rows are all equal.

  Returns:
    Construction with units grouped by cluster id.

  Raises:
    ValueError: β ≥ 0, a "duplicated" id that is not a cluster id, a "duplicated" cluster whose rows
      differ, or nλ ≥ n_l‖x‖²; bad input (see the module docstring).
  """
  x = jnp.asarray(checks.check_data(x))
  xn, labels = data_lib.check_labels(x, labels)
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  m = int(labels.max()) + 1
  identical = [bool(np.all(xn[labels == k] == xn[labels == k][0])) for k in range(m)]
  if duplicated is None:
    dup = [k for k in range(m) if identical[k]]
  else:
    if isinstance(duplicated, (str, bytes)) or not hasattr(duplicated, "__iter__"):
      raise ValueError(f"duplicated must be a sequence of cluster ids, got {duplicated!r}.")
    dup = sorted({checks.check_int(k, f"duplicated[{i}]", 0, "a cluster id")
                  for i, k in enumerate(duplicated)})
    bad = [k for k in dup if k >= m]
    if bad:
      raise ValueError(f"duplicated must list cluster ids in 0 … {m - 1} (labels have M = {m} "
                       f"clusters), got {bad}.")
  for k in dup:
    if not identical[k]:
      raise ValueError(f"cluster {k} is listed as duplicated but its rows are not all equal.")
  modes = [k for k in range(m) if k not in dup]
  widths = _widths_per_cluster(widths, len(modes))
  if m > 1:
    _require_obtuse(x, labels, "Cor. 3.4 (hybrid)")
  n = x.shape[0]
  cols, shrink, owner = [], [], []
  width_of = dict(zip(modes, widths))
  for k in range(m):
    xk = x[labels == k]
    if k in width_of:
      try:
        wk, sk = block_weights(xk, width_of[k], n, sigma, lam)
      except ValueError as err:
        raise ValueError(f"cluster {k}: {err}") from None
    else:
      nl, pt = xk.shape[0], xk[0]
      sq = jnp.sum(pt**2)
      if n * lam >= nl * float(sq):
        raise ValueError(f"duplicated cluster {k}: n*lambda = {n * lam:.6g} >= n_l*||x||^2 = "
                         f"{nl * float(sq):.6g}; its memorizing column is not real.")
      s = (nl * sq - n * lam) / (nl * sq**2 + nl * sigma**2 * sq)
      wk, sk = (jnp.sqrt(s) * pt)[:, None], (s * sq)[None]
    cols.append(wk)
    shrink.append(sk)
    owner += [k] * wk.shape[1]
  return Construction(DAEParams(jnp.concatenate(cols, 1)), np.array(owner), jnp.concatenate(shrink))


def usable_rank(xk: jax.Array, n_total: int, lam) -> int:
  """Number of eigenvalues of a cluster's Gram matrix above nλ and above round-off (the widest real,
  data-determined Eq. 8 block; see the module docstring, "Numerical rank")."""
  xk = jnp.asarray(checks.check_data(xk, "xk"))
  checks.check_lam(lam)
  s, _ = _gram_spectrum(xk)
  eig = np.asarray(s**2, np.float64)  # the Λ of top_eigenpairs, same routine and dtype
  tol = _eig_round_off(eig[0], xk.shape, xk.dtype)
  return int(np.sum((eig > n_total * lam) & (eig > tol)))


def construction_for_allocation(x: jax.Array, labels, unit_block, sigma, lam) -> Construction:
  r"""Eq. 8 construction with the widths a trained net chose (docs/theory.md §6, "learned allocation").

  p_k = number of units assigned to cluster k in ``unit_block`` (e.g. from
  :func:`dae_theory.metrics.learned_allocation`), clipped to [0, usable rank of cluster k]: units beyond
  the rank are redundant copies for the linear block and add nothing to W Wᵀ; a cluster with no unit gets
  no block.

  Raises:
    ValueError: bad input (see the module docstring; ``unit_block`` ints in ``-1 … M-1``), or what
      :func:`generalization_weights` refuses.
  """
  x = jnp.asarray(checks.check_data(x))
  _, labels_np = data_lib.check_labels(x, labels)
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  m = int(labels_np.max()) + 1
  ub = np.asarray(unit_block)
  unit_block = checks.check_unit_block(unit_block, ub.shape[0] if ub.ndim == 1 else -1, m)
  n = x.shape[0]
  widths = []
  for k in range(int(labels_np.max()) + 1):
    cap = usable_rank(x[labels_np == k], n, lam)
    widths.append(int(min(np.sum(unit_block == k), cap)))
  return generalization_weights(x, labels_np, widths, sigma, lam)
