r"""Representation steering (Eq. 11, docs/theory.md §10): f_steered(y) = g(h(y) + a·v), v = the mean
representation of a target set, and numbers for how smoothly a model responds to a.

:func:`steer` works for any encoder/decoder pair (a user's model); :func:`steered_dae` and
:func:`steered_diffusion_denoiser` are the lab's two models. :func:`path_metrics` scores a path of
outputs x(a) over a grid of a.

Metrics that do not saturate (docs/experiments.md §4.2, the protocol's open items): a memorizing path
is soon blown far off the data (several times the data norm, onto one image), and from there "reached"
and the Spearman correlation only report that it left. :func:`transition_metrics` measures the
transition itself (the 10–90% width in a, the steepest ΔP/Δa, the jump share against an even path),
optionally only up to the first level that :func:`on_manifold` calls off the data;
:func:`pixel_interpolation` is the model-free baseline path scored with the same numbers.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import checks, copies, diffusion
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


def steered_diffusion_denoiser(params: diffusion.DiffusionParams, v, a, window=None) -> Callable:
  r"""Eq. 11 in the time-conditioned DAE (docs/theory.md §9), for use in the sampler:

  .. math::
      \hat x_0(y, \sigma) = W\big((\mathrm{relu}(W^\top y) + a\,1[\sigma \in \Omega]\,v)
      \odot \exp(\mathrm{MLP}(\log\sigma))\big) + s\,y,

  with the steering window Ω = [σ_lo, σ_hi] (``window``; default: every σ, Ω = [0, ∞)). Outside Ω
  the denoiser is the model's own, exactly (the steering term is multiplied by 0), so a sampler
  steered only at high noise finishes the image with the unsteered model.

  Args:
    params: the model.
    v: ``(p,)`` steering vector.
    a: steering strength (a scalar, may be traced).
    window: optional ``(sigma_lo, sigma_hi)`` with 0 <= sigma_lo < sigma_hi (finite).

  Returns:
    ``den(y (n, d), sigma (n,)) -> (n, d)``.

  Raises:
    ValueError: a bad window.
  """
  v = jnp.asarray(v)
  if window is not None:
    lo, hi = window_bounds(window)

  def den(y, sigma):
    step = a
    if window is not None:
      inside = (sigma >= lo) & (sigma <= hi)  # (n,)
      step = a * inside.astype(y.dtype)[:, None]
    h = diffusion.representation(params, y) + step * v[None, :]
    return (h * diffusion.modulation(params, sigma)) @ params.w.T + params.skip * y

  return den


def window_bounds(window) -> tuple[float, float]:
  """``(sigma_lo, sigma_hi)`` as floats after checking 0 <= sigma_lo < sigma_hi, both finite
  (ValueError naming ``window`` otherwise)."""
  try:
    lo, hi = (float(w) for w in window)
  except (TypeError, ValueError):
    raise ValueError(f"window must be a pair (sigma_lo, sigma_hi), got {window!r}.") from None
  if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
    raise ValueError(f"window must satisfy 0 <= sigma_lo < sigma_hi (finite), got ({lo}, {hi}).")
  return lo, hi


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


# The P(target) levels between which :func:`transition_metrics` measures the width of the transition.
TRANSITION_LOW, TRANSITION_HIGH = 0.1, 0.9


def _grid(name: str, a) -> np.ndarray:
  """A strictly increasing, finite 1-D grid of a, as float64 (ValueError naming ``name`` otherwise)."""
  a = np.asarray(a)
  if a.ndim != 1 or a.shape[0] < 2:
    raise ValueError(f"{name} must be a 1-D grid of at least 2 levels, got shape {a.shape}.")
  a = checks.real_finite(a, name)
  steps = np.diff(a)
  if np.any(steps <= 0):
    k = int(np.argmax(steps <= 0))
    raise ValueError(f"{name} must be strictly increasing, but {name}[{k}] = {a[k]:g} >= "
                     f"{name}[{k + 1}] = {a[k + 1]:g}.")
  return a


def _first_crossing(a: np.ndarray, p: np.ndarray, level: float) -> float:
  """The a at which the piecewise-linear interpolant of p(a) first reaches ``level`` from below: with
  k the first index where p[k] >= level, a[k-1] + (level - p[k-1]) / (p[k] - p[k-1]) · (a[k] - a[k-1]).
  NaN where p never reaches ``level`` or already starts at or above it (k = 0: the crossing, if any,
  lies left of the grid)."""
  above = np.flatnonzero(p >= level)
  if above.size == 0 or above[0] == 0:
    return np.nan
  k = above[0]
  return a[k - 1] + (level - p[k - 1]) / (p[k] - p[k - 1]) * (a[k] - a[k - 1])


def transition_metrics(a, prob, *, x=None, manifold=None, guard: str = "stop"
                       ) -> dict[str, np.ndarray]:
  r"""How sharp the rise of P(target) along each steering path is, in numbers that do not saturate
  (docs/experiments.md §4.2: the width in a from 0.1 to 0.9 and the largest ΔP per Δa; docs/theory.md
  §10.2 for the jump share).

  Per path, over the levels k = 0 … K−1 it keeps (all L levels; with ``manifold``, those before the
  first level off the manifold for ``guard="stop"``, or every level on it, in order, for
  ``guard="on"``; a_k, P_k and x_k below are the kept levels' values):

  * ``a_10``, ``a_90``: the first crossing of P = 0.1 and of P = 0.9 (:data:`TRANSITION_LOW`,
    :data:`TRANSITION_HIGH`), by linear interpolation between the grid points around it: with k the
    first level where P_k >= c, a_c = a_{k−1} + (c − P_{k−1}) / (P_k − P_{k−1}) · (a_k − a_{k−1}).
    NaN where the level is never reached, or where the path already starts at or above it (the
    crossing lies left of the grid); ``crossed_10`` / ``crossed_90`` say which.
  * ``width_10_90`` = a_90 − a_10 (NaN unless both are crossed). It is >= 0 (P must pass 0.1 before
    it first reaches 0.9) and, when the kept levels are adjacent (always except for ``guard="on"``),
    >= 0.8 / max_slope; a single jump from 0 to 1 within one grid step Δa
    gives the grid's resolution 0.8 Δa, an even ramp from 0 at a_0 to 1 at a_{L−1} gives
    0.8 (a_{L−1} − a_0).
  * ``max_slope`` = max_k (P_{k+1} − P_k) / (a_{k+1} − a_k), the steepest rise between consecutive
    levels (signed: negative for a path that only falls). ΔP / Δa for a single jump, the constant
    slope 1 / (a_{L−1} − a_0) for an even ramp from 0 to 1. NaN where there is no step.
  * ``jump_share_even`` = J · S, the jump share J = max_k s_k / Σ_k s_k of the S steps s_k divided
    by the jump share 1/S of an even path: 1 for a path of equal steps, S for a single jump. The
    steps are s_k = ‖x_{k+1} − x_k‖ when ``x`` is given (the jump share of :func:`path_metrics`),
    else s_k = |P_{k+1} − P_k|. NaN where there is no step or the path does not move.

  The steps of ``max_slope`` and ``jump_share_even`` join **adjacent** grid levels that are both
  kept: S = K − 1 without a manifold and with ``guard="stop"``; with ``guard="on"`` a step across an
  off-manifold stretch (kept levels k and k + j, j > 1) is not one (it was taken off the manifold),
  so a path that moves evenly still has jump share 1. The crossings a_10 and a_90 interpolate between
  consecutive kept levels, across such a stretch too.
  * ``reached_90``: some kept level has P >= 0.9 (True also for a path that starts there, which
    has no crossing; False where K = 0).
  * ``levels_kept`` = K.

  Args:
    a: ``(levels,)`` the strictly increasing grid of a.
    prob: ``(levels, paths)`` P(target) at each level, in [0, 1] at every kept level (entries at levels
      dropped by ``manifold`` are not read and may be NaN).
    x: optional ``(levels, paths, d)`` outputs, for the jump share (finite at every kept level).
    manifold: optional ``(levels, paths)`` bool, e.g. ``on_manifold(...).on``. With ``guard="stop"``
      a path keeps only its levels before its first False, so the metrics describe the transition on
      the data and not the blow-up after it; with ``guard="on"`` it keeps every level where it is
      True (a path that starts off the manifold, e.g. a sample at half the data norm, and is steered
      onto it keeps the levels where it is on; see above for the steps).
    guard: ``"stop"`` or ``"on"`` (only read with ``manifold``).

  Returns:
    dict of ``(paths,)`` arrays with the keys above.

  Raises:
    ValueError: a bad grid, shapes that do not match, or a kept P outside [0, 1] or a kept x not
      finite.
  """
  a = _grid("a", a)
  levels = a.shape[0]
  prob = np.asarray(prob)
  if prob.ndim != 2 or prob.shape[0] != levels or prob.shape[1] == 0:
    raise ValueError(f"prob must have shape (levels, paths) = ({levels}, paths >= 1) to match a, got "
                     f"{prob.shape}.")
  if not np.issubdtype(prob.dtype, np.number) or np.iscomplexobj(prob):
    raise ValueError(f"prob must be real numbers, got dtype {prob.dtype}.")
  prob = prob.astype(np.float64)
  paths = prob.shape[1]
  if guard not in ("stop", "on"):
    raise ValueError(f"guard must be 'stop' or 'on', got {guard!r}.")
  if manifold is None:
    mask = np.ones((levels, paths), dtype=bool)
  else:
    manifold = np.asarray(manifold)
    if manifold.shape != prob.shape or manifold.dtype != np.bool_:
      raise ValueError(f"manifold must be a bool array of shape {prob.shape} like prob, got "
                       f"{manifold.dtype} of shape {manifold.shape}.")
    if guard == "stop":
      off = ~manifold
      stop = np.where(off.any(0), np.argmax(off, 0), levels)
      mask = np.arange(levels)[:, None] < stop[None, :]  # (levels, paths): the kept levels
    else:
      mask = manifold.copy()
  kept = mask.sum(0).astype(np.int64)
  bad = mask & ~((prob >= 0) & (prob <= 1))
  if bad.any():
    k, j = np.argwhere(bad)[0]
    raise ValueError(f"prob must lie in [0, 1] at every kept level, but prob[{k}, {j}] = "
                     f"{float(prob[k, j])} ({int(bad.sum())} such entries).")
  if x is not None:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[:2] != prob.shape:
      raise ValueError(f"x must have shape (levels, paths, d) = {prob.shape + ('d',)} like prob, got "
                       f"{x.shape}.")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
      raise ValueError(f"x must be real numbers, got dtype {x.dtype}.")
    x = x.astype(np.float64)
    bad = mask & ~np.all(np.isfinite(x), -1)
    if bad.any():
      k, j = np.argwhere(bad)[0]
      raise ValueError(f"x must be finite at every kept level, but x[{k}, {j}] is not "
                       f"({int(bad.sum())} such rows).")

  out = {name: np.full(paths, np.nan) for name in
         ("a_10", "a_90", "width_10_90", "max_slope", "jump_share_even")}
  for j in range(paths):
    K = int(kept[j])
    rows = np.flatnonzero(mask[:, j])
    aj, pj = a[rows], prob[rows, j]
    out["a_10"][j] = _first_crossing(aj, pj, TRANSITION_LOW)
    out["a_90"][j] = _first_crossing(aj, pj, TRANSITION_HIGH)
    adjacent = np.diff(rows) == 1  # steps between neighbouring grid levels, both kept
    if not adjacent.any():
      continue
    out["max_slope"][j] = np.max((np.diff(pj) / np.diff(aj))[adjacent])
    if x is not None:
      steps = np.linalg.norm(np.diff(x[rows, j], axis=0), axis=-1)[adjacent]
    else:
      steps = np.abs(np.diff(pj))[adjacent]
    total = steps.sum()
    if total > 0:
      out["jump_share_even"][j] = steps.max() / total * steps.size
  out["width_10_90"] = out["a_90"] - out["a_10"]
  out["crossed_10"] = np.isfinite(out["a_10"])
  out["crossed_90"] = np.isfinite(out["a_90"])
  out["reached_90"] = np.any(mask & (np.nan_to_num(prob, nan=-1.0) >= TRANSITION_HIGH), 0)
  out["levels_kept"] = kept
  return out


class ManifoldReport(NamedTuple):
  """Per steered output (arrays of the leading shape of ``x``, e.g. ``(levels, paths)``).

  Attributes:
    on: ``norm_lo <= norm_ratio <= norm_hi`` and ``nearest_distance <= distance_threshold``.
    norm_ratio: ‖x‖ / median_i ‖x_train_i‖ (NaN or inf for a non-finite output).
    nearest_distance: Euclidean distance to the nearest training row (inf for a non-finite output).
    nearest: index of that training row (−1 for a non-finite output).
    distance_threshold: the ``quantile`` of the held-out rows' nearest-training distances (a float).
    median_norm: median_i ‖x_train_i‖ (a float).
  """

  on: np.ndarray
  norm_ratio: np.ndarray
  nearest_distance: np.ndarray
  nearest: np.ndarray
  distance_threshold: float
  median_norm: float


def on_manifold(x, x_train, x_heldout, *, norm_lo: float = 0.5, norm_hi: float = 2.0,
                quantile: float = 0.99) -> ManifoldReport:
  r"""Is each steered output still data-like? (docs/experiments.md §4.2: the on-manifold guard, norm
  ratio and nearest-training distance against held-out data.)

  An output s is on the manifold when both

  * its norm ratio ‖s‖ / median_i ‖x_train_i‖ lies in [``norm_lo``, ``norm_hi``], and
  * its distance to the nearest training row (:func:`dae_theory.copies.nearest`) is at most the
    ``quantile`` of the same distance for real held-out rows.

  Defaults. ``norm_lo, norm_hi = 0.5, 2.0``: a factor 2 either side of the typical training norm. Real
  data sit well inside it (centred digits: every training and test image has a ratio in
  [0.70, 1.40]), while the memorizing paths the band is there to catch are blown up to ~3.7×.
  ``quantile = 0.99``: by construction about 1% of real held-out data are called off the manifold (the
  guard's false-alarm rate), and anything farther from the training set than 99% of real unseen data
  is not data-like. Neither test alone would do: a typical training digit scaled by 0.4 sits 0.6 of
  its norm (about 2.6) from itself, nearer than the 99% held-out distance (3.17 for centred digits),
  and only the band refuses it; a random direction at the median norm passes the band and only the
  distance refuses it.

  Args:
    x: ``(..., d)`` outputs, e.g. ``(levels, paths, d)``. Non-finite rows (a diverged path) are off the
      manifold, not an error.
    x_train: ``(n, d)`` the training data (finite, median norm > 0).
    x_heldout: ``(m, d)`` real data not in ``x_train``, in the same coordinates (finite).
    norm_lo, norm_hi: the norm-ratio band, 0 <= norm_lo < norm_hi (finite).
    quantile: in (0, 1].

  Returns:
    ManifoldReport.

  Raises:
    ValueError: bad shapes or values, thresholds out of range, or held-out rows whose ``quantile`` of
      nearest-training distances is 0 (the held-out set is mostly contained in the training set).
  """
  for name, v in (("norm_lo", norm_lo), ("norm_hi", norm_hi), ("quantile", quantile)):
    if not (isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v)):
      raise ValueError(f"{name} must be a finite number, got {v!r}.")
  if not 0 <= norm_lo < norm_hi:
    raise ValueError(f"need 0 <= norm_lo < norm_hi, got norm_lo = {norm_lo}, norm_hi = {norm_hi}.")
  if not 0 < quantile <= 1:
    raise ValueError(f"quantile must lie in (0, 1], got {quantile}.")
  x_train = np.asarray(checks.check_data(x_train, "x_train"), np.float64)
  x_heldout = np.asarray(checks.check_data(x_heldout, "x_heldout", d=x_train.shape[1],
                                           weights="x_train"), np.float64)
  x = np.asarray(x)
  if x.ndim < 2 or x.shape[-1] != x_train.shape[1] or x.size == 0:
    raise ValueError(f"x must have shape (..., d) with d = {x_train.shape[1]} like x_train (e.g. "
                     f"(levels, paths, d)), got {x.shape}.")
  if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
    raise ValueError(f"x must be real numbers, got dtype {x.dtype}.")
  median_norm = float(np.median(np.linalg.norm(x_train, axis=1)))
  if median_norm == 0:
    raise ValueError("x_train has median row norm 0: the norm ratio is undefined.")
  threshold = float(np.quantile(copies.nearest(x_heldout, x_train)[0][:, 0], quantile))
  if threshold == 0:
    raise ValueError(f"x_heldout's {quantile} quantile of nearest-training distances is 0: the "
                     f"held-out rows are (mostly) copies of x_train rows; pass data not trained on.")
  rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
  finite = np.all(np.isfinite(rows), 1)
  dist = np.full(len(rows), np.inf)
  idx = np.full(len(rows), -1, dtype=np.int64)
  if finite.any():
    d, i = copies.nearest(rows[finite], x_train)
    dist[finite], idx[finite] = d[:, 0], i[:, 0]
  with np.errstate(invalid="ignore", over="ignore"):
    ratio = np.linalg.norm(rows, axis=1) / median_norm
  on = finite & (ratio >= norm_lo) & (ratio <= norm_hi) & (dist <= threshold)
  shape = x.shape[:-1]
  return ManifoldReport(on.reshape(shape), ratio.reshape(shape), dist.reshape(shape),
                        idx.reshape(shape), threshold, median_norm)


def pixel_interpolation(x_source, x_target, a_grid) -> np.ndarray:
  r"""The model-free baseline path: x(a) = (1 − t) x_source + t x_target with t = a / a_max, a_max the
  last grid value, so it spans the same grid of a as a steering run and is scored by the same metrics
  (:func:`transition_metrics`, :func:`on_manifold`; docs/experiments.md §4.2, docs/theory.md §10.2).

  Args:
    x_source: ``(paths, d)`` or ``(d,)`` the starting images.
    x_target: ``(paths, d)`` or ``(d,)`` the end images (a single row is shared by every path).
    a_grid: ``(levels,)`` strictly increasing, a_grid[0] >= 0 and a_max = a_grid[-1] > 0.

  Returns:
    ``(levels, paths, d)`` float64.

  Raises:
    ValueError: bad shapes, non-finite images, or a bad grid.
  """
  a = _grid("a_grid", a_grid)
  if a[0] < 0:
    raise ValueError(f"a_grid must start at >= 0 (t = a / a_max lies in [0, 1]), got a_grid[0] = "
                     f"{a[0]:g}.")
  src = np.asarray(x_source)
  src = np.asarray(checks.check_data(src[None] if src.ndim == 1 else src, "x_source"), np.float64)
  tgt = np.asarray(x_target)
  tgt = np.asarray(checks.check_data(tgt[None] if tgt.ndim == 1 else tgt, "x_target",
                                     d=src.shape[1], weights="x_source"), np.float64)
  if len(src) != len(tgt) and 1 not in (len(src), len(tgt)):
    raise ValueError(f"x_source has {len(src)} rows and x_target {len(tgt)}: they must be equal or one "
                     f"of them a single row.")
  t = (a / a[-1])[:, None, None]
  return (1 - t) * src[None] + t * tgt[None]


class SeedInterval(NamedTuple):
  """A mean over model seeds with a two-level bootstrap interval (:func:`seed_bootstrap`).

  Attributes:
    mean: mean over the seeds that have a value of each seed's mean over its paths (NaN if none).
    lo, hi: the percentile interval of the resample means (NaN if no resample has a value).
    seeds_used: seeds with at least one finite path value.
    paths_used: finite path values in all.
  """

  mean: float
  lo: float
  hi: float
  seeds_used: int
  paths_used: int


def seed_bootstrap(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> SeedInterval:
  r"""The mean of a per-path quantity over **model seeds**, with an interval that resamples seeds,
  then paths within each drawn seed (the two-stage bootstrap of hierarchical data, as
  :func:`dae_theory.detection.hierarchical_bootstrap` for detection).

  The estimate is :math:`\bar m = \frac1{S'}\sum_s \bar v_s`, :math:`\bar v_s` the mean of seed s's
  finite path values and S' the number of seeds that have one: every model counts once, however
  many of its paths have a value (NaN marks a path without one, e.g. a path that never crosses
  P = 0.9). A resample draws S seeds with replacement, then each drawn seed's P paths with
  replacement, and takes the same mean (a drawn seed whose drawn paths are all NaN is left out; a
  resample with no value at all is dropped). The interval is the ``level`` percentile interval of the
  resample means. With few seeds the percentile method under-covers; with one seed it is an interval
  over paths of that model only (the caller should say so).

  Args:
    values: ``(seeds, paths)`` per-path values, NaN where a path has none.
    n_boot: resamples, >= 1.
    level: coverage in (0, 1).
    seed: NumPy generator seed (the resamples depend only on it and the shape).

  Returns:
    SeedInterval.

  Raises:
    ValueError: a bad shape or argument, or infinite values.
  """
  v = np.asarray(values, np.float64)
  if v.ndim != 2 or 0 in v.shape:
    raise ValueError(f"values must have shape (seeds, paths) with both >= 1, got {v.shape}.")
  if np.isinf(v).any():
    raise ValueError("values must be finite or NaN (no path value), got inf.")
  if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
    raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}.")
  if not 0 < level < 1:
    raise ValueError(f"level must lie in (0, 1), got {level}.")
  ok = np.isfinite(v)
  used = ok.any(1)
  if not used.any():
    return SeedInterval(np.nan, np.nan, np.nan, 0, 0)
  per_seed = np.array([v[s, ok[s]].mean() for s in np.flatnonzero(used)])
  s_count, p_count = v.shape
  rng = np.random.default_rng(seed)
  rows = rng.integers(0, s_count, (n_boot, s_count))  # (boot, seeds)
  cols = rng.integers(0, p_count, (n_boot, s_count, p_count))  # (boot, seeds, paths)
  draw = v[rows[..., None], cols]  # (boot, seeds, paths)
  fin = np.isfinite(draw)
  count = fin.sum(-1)
  has = count > 0  # (boot, seeds): the drawn seed has a value in this draw
  seed_means = np.where(fin, draw, 0.0).sum(-1) / np.maximum(count, 1)
  n_has = has.sum(1)
  boot = (np.where(has, seed_means, 0.0).sum(1) / np.maximum(n_has, 1))[n_has > 0]
  if boot.size == 0:
    lo = hi = np.nan
  else:
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
  return SeedInterval(float(per_seed.mean()), float(lo), float(hi), int(used.sum()), int(ok.sum()))
