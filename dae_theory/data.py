r"""Data for the balanced-representation theory: (α, β)-separable sets.

Convention used everywhere in the lab: a data matrix ``x`` has shape ``(n, d)``, one **row** per sample.
Cluster labels are integers ``0 … M-1`` of shape ``(n,)``.

Definition 3.1 (Zhang et al., ICLR 2026). A set partitioned into clusters X_1 … X_M with means x̄_k is
(α, β)-separable if

.. math::
    \frac{\|x_{k,j} - \bar x_k\|}{\|\bar x_k\|} \le \alpha, \qquad
    \frac{\langle \bar x_k, \bar x_l\rangle}{\|\bar x_k\|\,\|\bar x_l\|} \le \beta \quad (k \ne l).

The theorems need β < 0 (pairwise obtuse means), which forces M ≤ d + 1. The generators below build
such sets from centred-simplex means (pairwise cosine exactly −1/(M−1)) in a random orientation.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import checks


class LabelledData(NamedTuple):
  """A labelled data set.

  Attributes:
    x: ``(n, d)`` samples, one per row.
    labels: ``(n,)`` int cluster index in ``0 … M-1``.
    means: ``(M, d)`` the generating cluster centres (population means, not sample means).
  """

  x: jax.Array
  labels: jax.Array
  means: jax.Array


class GaussianMixture(NamedTuple):
  r"""Parameters of p = Σ_k ρ_k N(μ_k, Σ_k) with low-rank Σ_k = F_k F_kᵀ (docs/theory.md §2, Cor. 3.3).

  Attributes:
    weights: ``(M,)`` mixing weights ρ_k.
    means: ``(M, d)`` μ_k.
    factors: ``(M, d, r)`` F_k, so Σ_k = F_k F_kᵀ has rank ≤ r.
  """

  weights: jax.Array
  means: jax.Array
  factors: jax.Array

  @property
  def covariances(self) -> jax.Array:
    """``(M, d, d)`` Σ_k = F_k F_kᵀ."""
    return jnp.einsum("kdr,ker->kde", self.factors, self.factors)

  @property
  def second_moments(self) -> jax.Array:
    r"""``(M, d, d)`` S_k = μ_k μ_kᵀ + Σ_k (Eq. 10)."""
    return jnp.einsum("kd,ke->kde", self.means, self.means) + self.covariances


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
  return int(value)


def _check_positive(name: str, value) -> float:
  value = float(value)
  if not np.isfinite(value) or value <= 0:
    raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
  return value


def random_orthonormal(key: jax.Array, d: int, r: int) -> jax.Array:
  """``(d, r)`` matrix with orthonormal columns, Haar-distributed (QR of a Gaussian, sign-fixed)."""
  if r > d:
    raise ValueError(f"cannot have {r} orthonormal columns in dimension d={d}.")
  g = jax.random.normal(key, (d, r))
  q, rr = jnp.linalg.qr(g)
  return q * jnp.sign(jnp.diagonal(rr))[None, :]


def simplex_directions(key: jax.Array, m: int, d: int) -> jax.Array:
  r"""``(m, d)`` unit vectors with pairwise cosine exactly −1/(m−1): a centred regular simplex.

  The vertices e_k − 1/m·𝟙 of the standard simplex span the (m−1)-dimensional subspace 𝟙^⊥ of R^m;
  they are written in an orthonormal basis of 𝟙^⊥ and rotated into R^d by a random isometry.

  Args:
    key: PRNG key for the random orientation.
    m: number of directions, ``2 <= m <= d + 1`` (``m = 1`` gives one random unit vector).
    d: ambient dimension.

  Returns:
    ``(m, d)`` array of unit rows.

  Raises:
    ValueError: if ``m > d + 1`` (pairwise-obtuse directions cannot exist).
  """
  m = _check_positive_int("m", m)
  d = _check_positive_int("d", d)
  if m > d + 1:
    raise ValueError(
        f"m={m} pairwise-obtuse directions need d >= m - 1, got d={d} (Definition 3.1 with beta < 0 "
        f"forces M <= d + 1).")
  if m == 1:
    v = jax.random.normal(key, (d,))
    return (v / jnp.linalg.norm(v))[None, :]
  centred = jnp.eye(m) - jnp.full((m, m), 1.0 / m)
  # Orthonormal basis of 1-perp: the first m-1 left singular vectors of the centring matrix.
  u, _, _ = jnp.linalg.svd(centred)
  coords = centred @ u[:, : m - 1]  # (m, m-1)
  rot = random_orthonormal(key, d, m - 1)  # (d, m-1)
  dirs = coords @ rot.T
  return dirs / jnp.linalg.norm(dirs, axis=1, keepdims=True)


def obtuse_samples(key: jax.Array, n: int, d: int, norm_range: tuple[float, float] = (1.0, 1.0)
                   ) -> LabelledData:
  r"""Pairwise-obtuse samples for the memorization regime (Cor. 3.2: α = 0, β₁ < 0).

  Each sample is its own cluster. Directions are a centred simplex (pairwise cosine −1/(n−1)),
  norms are drawn uniformly in ``norm_range``.

  Args:
    key: PRNG key.
    n: number of samples, ``n <= d + 1``.
    d: dimension.
    norm_range: ``(lo, hi)`` with ``0 < lo <= hi``.

  Returns:
    LabelledData with ``labels = arange(n)`` and ``means = x``.
  """
  lo, hi = float(norm_range[0]), float(norm_range[1])
  if not 0 < lo <= hi:
    raise ValueError(f"norm_range must satisfy 0 < lo <= hi, got {norm_range!r}.")
  k_dir, k_norm = jax.random.split(key)
  dirs = simplex_directions(k_dir, n, d)
  norms = jax.random.uniform(k_norm, (n, 1), minval=lo, maxval=hi)
  x = dirs * norms
  return LabelledData(x=x, labels=jnp.arange(n), means=x)


def gaussian_mixture_params(key: jax.Array, clusters: int, d: int, rank: int, mean_norm: float,
                            spread: float, orthogonal_to_means: bool = True) -> GaussianMixture:
  r"""A mixture with centred-simplex means and low-rank covariances (Cor. 3.3 setting).

  μ_k = ``mean_norm`` · (simplex direction k); Σ_k = F_k F_kᵀ with F_k = ``spread`` · (d × r orthonormal),
  so each mode has ``rank`` directions of standard deviation ``spread``. With ``orthogonal_to_means``
  the covariance directions are drawn in the orthogonal complement of all the means, which keeps every
  in-cluster point's projection on its own mean equal to ‖μ_k‖ (so the balanced code of docs/theory.md §3 holds
  with a margin that is set by ``spread / mean_norm``).

  Args:
    key: PRNG key.
    clusters: M, number of modes, ``M <= d + 1``.
    d: dimension.
    rank: r, covariance rank per mode.
    mean_norm: ‖μ_k‖ > 0.
    spread: per-direction standard deviation > 0.
    orthogonal_to_means: draw the covariance factors in span{μ}^⊥ (needs d >= M + r).

  Returns:
    GaussianMixture with equal weights.
  """
  clusters = _check_positive_int("clusters", clusters)
  rank = _check_positive_int("rank", rank)
  mean_norm = _check_positive("mean_norm", mean_norm)
  spread = _check_positive("spread", spread)
  k_mean, k_cov = jax.random.split(key)
  means = mean_norm * simplex_directions(k_mean, clusters, d)
  if orthogonal_to_means and rank > d - clusters:
    raise ValueError(f"rank={rank} covariance directions orthogonal to the {clusters} means need "
                     f"d >= clusters + rank = {clusters + rank}, got d={d}.")
  factors = []
  for k in range(clusters):
    g = jax.random.normal(jax.random.fold_in(k_cov, k), (d, rank))
    if orthogonal_to_means:
      q_means, _ = jnp.linalg.qr(means.T)  # (d, M): columns span the means
      g = g - q_means @ (q_means.T @ g)
    q, rr = jnp.linalg.qr(g)
    factors.append(spread * q * jnp.sign(jnp.diagonal(rr))[None, :])
  weights = jnp.full((clusters,), 1.0 / clusters)
  return GaussianMixture(weights=weights, means=means, factors=jnp.stack(factors))


def sample_mixture(key: jax.Array, mixture: GaussianMixture, per_cluster: int,
                   max_radius: float | None = None) -> LabelledData:
  r"""Draw ``per_cluster`` samples from every mode (balanced clusters; rows grouped by cluster).

  Args:
    key: PRNG key.
    mixture: the mixture.
    per_cluster: samples per mode.
    max_radius: if given, each latent z ~ N(0, I_r) is shrunk to norm ≤ R (z ← z·min(1, R/‖z‖)), so
      every sample satisfies ‖x − μ_k‖ ≤ ‖F_k‖_op·R: a **stated** separability margin,
      α_k ≤ spread·R/‖μ_k‖ against the population mean (the samples are then no longer Gaussian).

  Returns:
    LabelledData with ``n = M · per_cluster`` rows.
  """
  per_cluster = _check_positive_int("per_cluster", per_cluster)
  m, d, r = mixture.factors.shape
  z = jax.random.normal(key, (m, per_cluster, r), mixture.means.dtype)
  if max_radius is not None:
    max_radius = _check_positive("max_radius", max_radius)
    nz = jnp.linalg.norm(z, axis=-1, keepdims=True)
    z = z * jnp.minimum(1.0, max_radius / jnp.maximum(nz, 1e-30))
  x = mixture.means[:, None, :] + jnp.einsum("kdr,knr->knd", mixture.factors, z)
  labels = jnp.repeat(jnp.arange(m), per_cluster)
  return LabelledData(x=x.reshape(m * per_cluster, d), labels=labels, means=mixture.means)


def gaussian_mixture(key: jax.Array, clusters: int, per_cluster: int, d: int, rank: int = 2,
                     mean_norm: float = 4.0, spread: float = 0.5, orthogonal_to_means: bool = True,
                     max_radius: float | None = None) -> tuple[LabelledData, GaussianMixture]:
  """Generate a mixture (see :func:`gaussian_mixture_params`) and sample it (see
  :func:`sample_mixture` for ``max_radius``). Returns (data, mixture)."""
  k_par, k_smp = jax.random.split(key)
  mix = gaussian_mixture_params(k_par, clusters, d, rank, mean_norm, spread, orthogonal_to_means)
  return sample_mixture(k_smp, mix, per_cluster, max_radius), mix


def hybrid(key: jax.Array, duplicated: int, multiplicity: int, modes: int, per_mode: int, d: int,
           rank: int = 2, mean_norm: float = 4.0, spread: float = 0.5) -> LabelledData:
  r"""Hybrid data of Cor. 3.4: ``duplicated`` points each repeated ``multiplicity`` times, plus
  ``modes`` Gaussian modes of ``per_mode`` samples each.

  All m + K centres form one centred simplex (pairwise cosine −1/(m+K−1)), so the set is
  (α, β)-separable with β < 0; a duplicated cluster is rank one (α = 0 for it). Clusters
  ``0 … duplicated-1`` are the duplicated points, the rest are the modes.

  Returns:
    LabelledData with ``n = duplicated·multiplicity + modes·per_mode`` rows.
  """
  duplicated = _check_positive_int("duplicated", duplicated)
  multiplicity = _check_positive_int("multiplicity", multiplicity)
  modes = _check_positive_int("modes", modes)
  total = duplicated + modes
  k_par, k_smp = jax.random.split(key)
  mix = gaussian_mixture_params(k_par, total, d, rank, mean_norm, spread)
  dup_x = jnp.repeat(mix.means[:duplicated], multiplicity, axis=0)
  dup_labels = jnp.repeat(jnp.arange(duplicated), multiplicity)
  gm = GaussianMixture(mix.weights[duplicated:], mix.means[duplicated:], mix.factors[duplicated:])
  modes_data = sample_mixture(k_smp, gm, per_mode)
  x = jnp.concatenate([dup_x, modes_data.x])
  labels = jnp.concatenate([dup_labels, modes_data.labels + duplicated])
  return LabelledData(x=x, labels=labels, means=mix.means)


@dataclasses.dataclass(frozen=True)
class Separability:
  r"""(α, β) of a labelled set (Definition 3.1) with per-cluster details.

  Attributes:
    alpha: max over clusters of α_k (the smallest α for which the set is separable).
    beta: max pairwise cosine of distinct cluster means; ``-inf`` when there is one cluster (vacuous).
    sizes: ``(M,)`` cluster sizes n_k.
    means: ``(M, d)`` sample means x̄_k.
    mean_norms: ``(M,)`` ‖x̄_k‖.
    alpha_per_cluster: ``(M,)`` max_j ‖x_{k,j} − x̄_k‖ / ‖x̄_k‖.
    cosines: ``(M, M)`` cosine matrix of the means (diagonal 1).
  """

  alpha: float
  beta: float
  sizes: np.ndarray
  means: np.ndarray
  mean_norms: np.ndarray
  alpha_per_cluster: np.ndarray
  cosines: np.ndarray

  @property
  def obtuse(self) -> bool:
    """Whether β < 0 (the hypothesis of Theorem 3.1 and its corollaries)."""
    return self.beta < 0


def check_labels(x, labels) -> tuple[np.ndarray, np.ndarray]:
  """Validate ``x (n, d)`` and ``labels (n,)`` with values exactly ``0 … M-1`` (each present).

  The rules are those of :mod:`dae_theory.checks`: x finite, 2-D, non-empty, float32/float64 (integer
  x is cast to the default float dtype, float16 refused); labels integers, none negative, no gap.

  Returns:
    ``(x, labels)`` as NumPy arrays.

  Raises:
    ValueError: naming the argument, the value and the rule (see :func:`dae_theory.checks.check_data`
      and :func:`dae_theory.checks.check_labels`).
  """
  x = np.asarray(checks.check_data(x))
  labels = checks.check_labels(labels, x.shape[0], x_shape=x.shape)
  return x, labels


def separability(x, labels) -> Separability:
  r"""Measure (α, β) of Definition 3.1 for any labelled set (real data included).

  α_k = max_j ‖x_{k,j} − x̄_k‖/‖x̄_k‖ with x̄_k the sample mean; β = max_{k≠l} cos(x̄_k, x̄_l).

  Args:
    x: ``(n, d)`` samples.
    labels: ``(n,)`` ints ``0 … M-1``.

  Returns:
    Separability. Computed in float64 NumPy (a measurement, not a traced function).

  Raises:
    ValueError: on a shape mismatch, empty or non-finite x, bad labels (non-integer, negative, or a
      gap such as {0, 2, 5}), or a cluster whose mean is zero (α undefined).
  """
  x, labels = check_labels(x, labels)
  x = x.astype(np.float64)
  m = int(labels.max()) + 1
  sizes = np.bincount(labels, minlength=m)
  means = np.stack([x[labels == k].mean(axis=0) for k in range(m)])
  norms = np.linalg.norm(means, axis=1)
  if np.any(norms == 0):
    raise ValueError(f"cluster(s) {np.flatnonzero(norms == 0).tolist()} have a zero mean: alpha is "
                     "undefined (Definition 3.1 divides by the mean's norm).")
  dev = np.linalg.norm(x - means[labels], axis=1) / norms[labels]
  alpha_k = np.array([dev[labels == k].max() for k in range(m)])
  unit = means / norms[:, None]
  cos = unit @ unit.T
  off = cos[~np.eye(m, dtype=bool)]
  beta = float(off.max()) if m > 1 else float("-inf")
  return Separability(alpha=float(alpha_k.max()), beta=beta, sizes=sizes, means=means,
                      mean_norms=norms, alpha_per_cluster=alpha_k, cosines=cos)


def obtuse_subset(x, k: int, start: int = 0, max_cosine: float = 0.0) -> np.ndarray:
  """Greedily pick ``k`` rows of ``x (n, d)`` whose pairwise cosines are all < ``max_cosine`` ≤ 0
  (Cor. 3.2's β₁ < 0; a negative ``max_cosine`` asks for a margin), scanning rows in order from
  ``start``. Use it on centred real data to build a memorization set that satisfies the theorem's
  hypothesis.

  Returns:
    ``(k,)`` row indices.

  Raises:
    ValueError: fewer than ``k`` such rows exist in scan order (the number found is given); bad ``x``
      (see :func:`dae_theory.checks.check_data`), ``k`` or ``start``.
  """
  checks.check_scalar(max_cosine, "max_cosine", minimum=-1.0)
  if max_cosine > 0:
    raise ValueError(f"max_cosine must be <= 0 (pairwise obtuse), got {max_cosine}.")
  x = np.asarray(checks.check_data(x), np.float64)
  k = checks.check_int(k, "k", 1, "rows to pick")
  start = checks.check_int(start, "start", 0, "a row index")
  if start >= x.shape[0]:
    raise ValueError(f"start must be a row index < n = {x.shape[0]}, got {start}.")
  norms = np.linalg.norm(x, axis=1)
  if np.any(norms == 0):
    raise ValueError("x has zero rows: their cosine is undefined.")
  u = x / norms[:, None]
  chosen = [start]
  for i in range(start + 1, x.shape[0]):
    if len(chosen) == k:
      break
    if np.all(u[chosen] @ u[i] < max_cosine):
      chosen.append(i)
  if len(chosen) < k:
    raise ValueError(f"only {len(chosen)} rows with pairwise cosine < {max_cosine} found (asked for "
                     f"{k}); at most d + 1 "
                     f"= {x.shape[1] + 1} can exist.")
  return np.array(chosen)


def data_card(x, labels=None, *, p: int | None = None, lam: float | None = None,
              optimizer: str | None = None, learning_rate: float | None = None,
              steps: int | None = None, seeds: int | None = None) -> dict:
  r"""The data card of a run (docs/experiments.md §1): what the data and the training settings were, as
  plain JSON-able numbers, for every run record and caption.

  Data fields: ``d``, ``n``, ``clusters`` (M, 1 without labels); ``alpha`` and ``beta`` of
  Definition 3.1 (:func:`separability`; None when undefined: a cluster mean is zero, e.g. unlabelled
  centred data, and β for one cluster); ``within_cos_min`` / ``within_cos_max``: the range of the
  cosines between distinct samples of one cluster (the ReLU-mask argument of Theorem 3.1 needs them
  > 0 for the balanced blocks; None when no cluster has two samples); ``obtuse`` (β < 0). Undefined
  numbers are None, not NaN, so the card goes into JSON as it is. Model fields, each
  None when not given: ``p``, ``p_over_d``, ``lam`` (λ of Eq. 6), ``optimizer``, ``learning_rate``,
  ``steps``, ``seeds``.

  Raises:
    ValueError: as :func:`check_labels` (labels given) or :func:`dae_theory.checks.check_data`.
  """
  x = np.asarray(checks.check_data(x), np.float64)
  if labels is None:
    labels = np.zeros(x.shape[0], np.int64)
  x, labels = check_labels(x, labels)
  x = x.astype(np.float64)
  m = int(labels.max()) + 1
  try:
    sep = separability(x, labels)
    alpha, beta = sep.alpha, (sep.beta if m > 1 else float("nan"))
  except ValueError:  # a zero cluster mean: α undefined (reported as NaN, not refused)
    alpha, beta = float("nan"), float("nan")
  lo, hi = np.inf, -np.inf
  for k in range(m):
    xk = x[labels == k]
    norms = np.linalg.norm(xk, axis=1)
    xk = xk[norms > 0] / norms[norms > 0, None]
    if len(xk) < 2:
      continue
    c = xk @ xk.T
    off = c[~np.eye(len(xk), dtype=bool)]
    lo, hi = min(lo, float(off.min())), max(hi, float(off.max()))
  if not np.isfinite(lo):
    lo = hi = float("nan")
  d = int(x.shape[1])
  undefined = lambda v: None if not np.isfinite(v) else float(v)  # JSON has no NaN
  return {"d": d, "n": int(x.shape[0]), "clusters": m, "alpha": undefined(alpha),
          "beta": undefined(beta), "obtuse": bool(beta < 0), "within_cos_min": undefined(lo),
          "within_cos_max": undefined(hi),
          "p": None if p is None else int(p), "p_over_d": None if p is None else p / d,
          "lam": None if lam is None else float(lam), "optimizer": optimizer,
          "learning_rate": None if learning_rate is None else float(learning_rate),
          "steps": None if steps is None else int(steps), "seeds": None if seeds is None else int(seeds)}


def cluster_geometry(key: jax.Array, clusters: int, per_cluster: int, d: int, max_cosine: float,
                     alpha: float = 0.0, mean_norm: float = 1.0) -> LabelledData:
  r"""Clusters whose two Definition 3.1 numbers are knobs: the largest cosine between cluster means
  (β) and the within-cluster spread (α), both hit exactly by the drawn sample (the data card measures
  them, :func:`data_card`).

  Means: M vectors of norm ``mean_norm`` with every pairwise cosine equal to ``max_cosine`` = c (an
  equiangular set, Gram matrix ``mean_norm²·((1 − c)I + c𝟙𝟙ᵀ)``, positive semi-definite exactly for
  −1/(M−1) ≤ c ≤ 1), in a random orientation: c > 0 acute (Cor. 3.2's hypothesis fails), c = 0
  orthogonal, c = −1/(M−1) the centred simplex of :func:`simplex_directions`. Samples: x_kj = μ_k +
  δ_kj with δ Gaussian, projected onto the orthogonal complement of the means, centred within each
  cluster (so each cluster's sample mean is μ_k exactly, and β measured on sample means is c) and
  scaled so that the largest ‖δ_kj‖ of cluster k is α·‖μ_k‖ (so Definition 3.1's α is attained).
  With δ ⊥ μ_k every within-cluster cosine is ≥ (1 − α²)/(1 + α²), positive for α < 1.
  ``per_cluster = 1`` (or α = 0) is a memorization set: each sample its own cluster, pairwise cosine
  c (pairwise obtuse exactly when c < 0).

  Args:
    key: PRNG key.
    clusters: M ≥ 1.
    per_cluster: samples per cluster ≥ 1.
    d: dimension; needs d ≥ M (d ≥ M + 1 when α > 0, so that the spread has room).
    max_cosine: c in [−1/(M−1), 1).
    alpha: α ≥ 0 (α > 0 needs per_cluster ≥ 2: one sample is its own mean).
    mean_norm: ‖μ_k‖ > 0.

  Returns:
    LabelledData (rows cluster by cluster: cluster k is rows k·per_cluster … (k+1)·per_cluster − 1).

  Raises:
    ValueError: naming the argument and the rule it breaks.
  """
  m = _check_positive_int("clusters", clusters)
  per = _check_positive_int("per_cluster", per_cluster)
  d = _check_positive_int("d", d)
  mean_norm = _check_positive("mean_norm", mean_norm)
  c = float(max_cosine)
  lo = -1.0 / (m - 1) if m > 1 else -1.0
  if not np.isfinite(c) or c >= 1 or c < lo - 1e-12:
    raise ValueError(f"max_cosine must lie in [-1/(M-1), 1) = [{lo:.6g}, 1) for M = {m} clusters, "
                     f"got {max_cosine!r}.")
  alpha = float(alpha)
  if not np.isfinite(alpha) or alpha < 0:
    raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}.")
  if alpha > 0 and per < 2:
    raise ValueError(f"alpha = {alpha} > 0 needs per_cluster >= 2 (one sample is its own mean), "
                     f"got {per}.")
  if d < m + (alpha > 0):
    raise ValueError(f"d = {d} must be >= M{' + 1' if alpha > 0 else ''} = {m + (alpha > 0)} "
                     "(the means, and the spread orthogonal to them, need the room).")
  c = max(c, lo)
  k_rot, k_dev = jax.random.split(key)
  gram = (1 - c) * np.eye(m) + c * np.ones((m, m))
  eig, vec = np.linalg.eigh(gram)
  coords = vec * np.sqrt(np.clip(eig, 0, None))[None, :]  # (M, M), coords @ coords.T = gram
  rot = np.asarray(random_orthonormal(k_rot, d, m), np.float64)  # (d, M)
  means = mean_norm * coords @ rot.T  # (M, d)
  labels = np.repeat(np.arange(m), per)
  x = means[labels]
  if alpha > 0:
    dev = np.asarray(jax.random.normal(k_dev, (m * per, d)), np.float64)
    dev -= (dev @ rot) @ rot.T  # orthogonal to every mean
    for k in range(m):
      rows = labels == k
      dk = dev[rows] - dev[rows].mean(0)
      dev[rows] = dk * (alpha * mean_norm / np.linalg.norm(dk, axis=1).max())
    x = x + dev
  dtype = jnp.result_type(float)
  return LabelledData(x=jnp.asarray(x, dtype), labels=jnp.asarray(labels),
                      means=jnp.asarray(means, dtype))
