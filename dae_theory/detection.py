r"""Prompt-free memorization detection from the hidden code (docs/theory.md §10, the paper's Alg. 1).

Works with any representation function ``rep(y (n, d)) -> h (n, p)`` — a lab model's
``relu(W₁ᵀy)`` or a user's own network's hidden layer. A generated sample y₀ gets forward noise at a
small σ, the network runs once, and the score is a statistic of h: the paper's std(h) (high =
memorized) or one of the scale-free metrics of :mod:`dae_theory.metrics` (signed so that high =
memorized). Evaluation uses scikit-learn's ROC functions; intervals are percentile bootstraps.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, metrics

# name -> (metric on h (n, p) -> (n,), sign that makes "high = memorized")
SCORES: dict[str, tuple[Callable, float]] = {
    "std": (metrics.code_std, 1.0),                       # paper: spiky codes have a large std
    "neg_participation_ratio": (metrics.participation_ratio, -1.0),  # one-hot: PR = 1
    "l4_over_l2": (metrics.l4_over_l2, 1.0),
    "max_over_mean": (metrics.max_over_mean, 1.0),
    "neg_active_count": (metrics.active_count, -1.0),
    "gini": (metrics.gini, 1.0),
}


def _check_sigma(sigma) -> float:
  sigma = float(sigma)
  if not (np.isfinite(sigma) and sigma > 0):
    raise ValueError(f"sigma must be > 0 and finite (forward noise level), got {sigma}.")
  return sigma


def _check_int(name: str, value, minimum: int) -> int:
  """``value`` as an int, or ``ValueError`` naming it when it is not an integer >= ``minimum``."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
  return int(value)


def _check_fpr(fpr) -> float:
  fpr = float(fpr)
  if not 0 <= fpr <= 1:
    raise ValueError(f"fpr must be a false-positive rate in [0, 1], got {fpr}.")
  return fpr


def _check_samples(name: str, a, d: int | None = None) -> jax.Array:
  """``a`` as a 2-D float array ``(n, d)`` with n >= 1 (and the given d), or a named ValueError."""
  a = jnp.asarray(a)
  if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
    raise ValueError(f"{name} must have shape (n, d) with n, d >= 1, got {a.shape}.")
  if d is not None and a.shape[1] != d:
    raise ValueError(f"{name} has d = {a.shape[1]} columns but the samples have d = {d}.")
  if not jnp.issubdtype(a.dtype, jnp.floating):
    a = a.astype(jnp.float32)
  return a


def code_scores(key: jax.Array, rep: Callable, samples, sigma: float, draws: int = 1,
                names=tuple(SCORES)) -> dict[str, np.ndarray]:
  """Scores of each sample (high = memorized), averaged over ``draws`` forward-noise draws.

  Args:
    key: PRNG key of the noise.
    rep: ``y (n, d) -> h (n, p)``, any callable (jax or NumPy).
    samples: ``(n, d)`` generated samples.
    sigma: forward noise level σ > 0.
    draws: noise draws per sample (the paper uses one).
    names: which entries of :data:`SCORES`.

  Returns:
    ``{name: (n,) scores}``.

  Raises:
    ValueError: a bad argument (named), or ``rep`` returning the wrong shape.
  """
  sigma = _check_sigma(sigma)
  x = _check_samples("samples", samples)
  draws = _check_int("draws", draws, 1)
  if isinstance(names, str):
    names = (names,)
  names = tuple(names)
  if not names:
    raise ValueError(f"names must hold at least one score of {list(SCORES)}.")
  unknown = set(names) - set(SCORES)
  if unknown:
    raise ValueError(f"unknown scores {sorted(unknown)}; known: {list(SCORES)}.")
  eps = jax.random.normal(key, (draws,) + x.shape, x.dtype)
  h = jnp.asarray(rep((x[None] + sigma * eps).reshape(-1, x.shape[1])))
  if h.ndim != 2 or h.shape[0] != draws * x.shape[0]:
    raise ValueError(f"rep must map (n, d) to (n, p); it returned shape {h.shape} for "
                     f"n = {draws * x.shape[0]}.")
  return {k: np.asarray(SCORES[k][1] * SCORES[k][0](h)).reshape(draws, -1).mean(0) for k in names}


def _check_labels(labels, scores) -> tuple[np.ndarray, np.ndarray]:
  labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
  if labels.shape != scores.shape or labels.ndim != 1 or labels.size == 0:
    raise ValueError(f"labels and scores must be 1-D, non-empty and of the same length, got "
                     f"{labels.shape} and {scores.shape}.")
  if not np.isin(labels, (0, 1)).all():
    raise ValueError("labels must be 0 (novel) or 1 (memorized).")
  if labels.min() == labels.max():
    raise ValueError(f"labels hold one class only (all {int(labels[0])}): AUROC needs memorized "
                     "and novel samples.")
  if not np.isfinite(scores).all():
    raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not finite.")
  return labels, scores


def _roc(labels, scores):
  from sklearn.metrics import roc_curve

  return roc_curve(labels, scores)[:2]


def _auc_tpr(labels, scores, fpr: float) -> tuple[float, float]:
  from sklearn.metrics import auc

  f, t = _roc(labels, scores)
  return float(auc(f, t)), float(t[f <= fpr].max())


def auroc(labels, scores) -> float:
  """Area under the ROC curve (scikit-learn's ``roc_curve`` and ``auc``, as in its
  ``roc_auc_score``); labels 1 = memorized, high score = memorized."""
  labels, scores = _check_labels(labels, scores)
  return _auc_tpr(labels, scores, 0.0)[0]


def tpr_at_fpr(labels, scores, fpr: float = 0.01) -> float:
  """True-positive rate at false-positive rate ``fpr`` ∈ [0, 1] (scikit-learn's ROC curve, read at
  the largest threshold whose FPR does not exceed ``fpr``)."""
  fpr = _check_fpr(fpr)
  labels, scores = _check_labels(labels, scores)
  return _auc_tpr(labels, scores, fpr)[1]


class Detection(NamedTuple):
  """AUROC and TPR at 1% FPR with percentile-bootstrap 95% intervals."""

  auroc: float
  auroc_ci: tuple[float, float]
  tpr: float
  tpr_ci: tuple[float, float]
  n_pos: int
  n_neg: int


def evaluate(labels, scores, fpr: float = 0.01, n_boot: int = 1000, seed: int = 0) -> Detection:
  """AUROC and TPR@``fpr`` of ``scores`` against ``labels``, with 95% intervals from ``n_boot``
  bootstrap resamples stratified by class (so every resample holds both classes).

  Args:
    labels, scores: ``(n,)``; labels 1 = memorized, 0 = novel (both present), scores finite.
    fpr: the false-positive rate of the TPR, in [0, 1].
    n_boot: bootstrap resamples, an integer >= 1.
    seed: integer >= 0 of the resampling (``numpy.random.default_rng``).

  Raises:
    ValueError: a bad argument (named, with the rule it breaks).
  """
  fpr = _check_fpr(fpr)
  n_boot = _check_int("n_boot", n_boot, 1)
  seed = _check_int("seed", seed, 0)
  labels, scores = _check_labels(labels, scores)
  rng = np.random.default_rng(seed)
  pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
  boot = np.array([_auc_tpr(labels[idx], scores[idx], fpr) for idx in (
      np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)] for _ in range(n_boot))])
  ci = lambda v: tuple(float(q) for q in np.percentile(v, [2.5, 97.5]))
  a, t = _auc_tpr(labels, scores, fpr)
  return Detection(a, ci(boot[:, 0]), t, ci(boot[:, 1]), int(pos.size), int(neg.size))


# --- Baselines -------------------------------------------------------------------------------------


def nearest_distance(samples, x_train) -> np.ndarray:
  """Oracle baseline (needs the training set): −(Euclidean distance to the nearest training point),
  so that high = memorized."""
  s = _check_samples("samples", samples)
  x = _check_samples("x_train", x_train, s.shape[1])
  return -copies.nearest(s, x)[0][:, 0].astype(np.asarray(s).dtype)


def denoising_error(key: jax.Array, denoiser: Callable, samples, sigma: float) -> np.ndarray:
  """Baseline: −‖D(y₀ + σε, σ) − y₀‖²/d for an x0-predictor ``denoiser(y (n, d), sigma (n,))``.
  A memorized sample is a fixed point the denoiser snaps back to (small error = high score)."""
  sigma = _check_sigma(sigma)
  y0 = _check_samples("samples", samples)
  y = y0 + sigma * jax.random.normal(key, y0.shape, y0.dtype)
  out = denoiser(y, jnp.full((y0.shape[0],), sigma, y0.dtype))
  return -np.asarray(jnp.mean((out - y0) ** 2, 1))


def jacobian_rank(key: jax.Array, denoiser: Callable, samples, sigma: float) -> np.ndarray:
  """Baseline: −(effective rank of the denoiser's Jacobian ∂D/∂y at y₀ + σε), the effective rank being
  the participation ratio (Σ s_i)²/Σ s_i² of the singular values. A memorizing two-layer DAE is locally
  of rank ~1 (one stored column), a generalizing one of rank p_k (docs/theory.md §7, docs/experiments.md
  §5.2). ``denoiser`` as in :func:`denoising_error`; must be differentiable by JAX."""
  sigma = _check_sigma(sigma)
  y0 = _check_samples("samples", samples)
  y = y0 + sigma * jax.random.normal(key, y0.shape, y0.dtype)
  one = lambda v: denoiser(v[None], jnp.full((1,), sigma, v.dtype))[0]
  jac = jax.vmap(jax.jacfwd(one))(y)  # (n, d, d)
  s = jnp.linalg.svd(jac, compute_uv=False)
  return -np.asarray(jnp.sum(s, 1) ** 2 / jnp.maximum(jnp.sum(s**2, 1), 1e-30))


# --- Detection inside one model, with intervals over model seeds -----------------------------------
#
# The paper's Table 1 (docs/theory.md §10.1) compares memorized and novel generations of ONE model.
# Pooling the samples of several models mixes in "which model made this sample": a score that is
# constant per model already separates them (:func:`pooled_confound`). The functions below evaluate a
# score inside each model and summarize over model seeds (docs/experiments.md §4.1: intervals over >= 5
# model seeds, the paper-style "AUROC per model, averaged over seeds").


class HierarchicalBootstrap(NamedTuple):
  """A per-model statistic averaged over models, with a two-level percentile-bootstrap interval.

  Attributes:
    estimate: the mean over models of the per-model statistic (``per_model.mean()``).
    ci: ``(low, high)`` percentile interval at the requested level.
    per_model: ``(M,)`` the statistic of each model on its own samples.
    n_models: M.
    n_boot: resamples the interval is computed from (the requested number less any dropped because
      every model drawn into them was skipped; only possible with ``stratify=False``).
    se: standard deviation of the resample values (the bootstrap standard error).
    skipped: ``(M,)`` per model, how many of its within-model draws held one class only and were left
      out of their resample (always 0 with ``stratify=True``).
    boot: ``(n_boot,)`` the resample values (e.g. for a paired difference of two scores, whose
      resamples are the same draws when the seed is).
  """

  estimate: float
  ci: tuple[float, float]
  per_model: np.ndarray
  n_models: int
  n_boot: int
  se: float
  skipped: np.ndarray
  boot: np.ndarray


def _numpy_rng(key_or_seed) -> np.random.Generator:
  """A seeded NumPy Generator from an integer seed >= 0 or a JAX PRNG key (typed or raw uint32)."""
  if isinstance(key_or_seed, (int, np.integer)) and not isinstance(key_or_seed, (bool, np.bool_)):
    if key_or_seed < 0:
      raise ValueError(f"key_or_seed must be an integer seed >= 0 or a JAX PRNG key, got {key_or_seed}.")
    return np.random.default_rng(int(key_or_seed))
  if isinstance(key_or_seed, jax.Array):
    typed = jax.dtypes.issubdtype(key_or_seed.dtype, jax.dtypes.prng_key)
    if (typed and key_or_seed.ndim == 0) or (
        not typed and key_or_seed.dtype == jnp.uint32 and key_or_seed.ndim == 1):
      data = np.asarray(jax.random.key_data(key_or_seed)).ravel()
      return np.random.default_rng(np.random.SeedSequence([int(v) for v in data]))
  raise ValueError(f"key_or_seed must be an integer seed >= 0 or a single JAX PRNG key, got "
                   f"{type(key_or_seed).__name__} {getattr(key_or_seed, 'shape', '')}.")


def _check_level(level) -> float:
  level = float(level)
  if not 0 < level < 1:
    raise ValueError(f"level must be a coverage probability in (0, 1), got {level}.")
  return level


def _check_per_model(per_model) -> list[tuple[np.ndarray, np.ndarray]]:
  """Each model's ``(labels, scores)`` checked as :func:`auroc` checks them, errors naming the model."""
  if isinstance(per_model, (str, bytes, dict)) or not hasattr(per_model, "__len__"):
    raise ValueError(f"per_model must be a list of (labels, scores) pairs, one per model, got "
                     f"{type(per_model).__name__}.")
  if len(per_model) < 2:
    raise ValueError(f"per_model must hold at least 2 models (an interval over model seeds needs "
                     f"between-model spread), got {len(per_model)}.")
  out = []
  for i, pair in enumerate(per_model):
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
      raise ValueError(f"per_model[{i}] must be a (labels, scores) pair, got {type(pair).__name__}"
                       f"{'' if not hasattr(pair, '__len__') else f' of length {len(pair)}'}.")
    try:
      labels, scores = _check_labels(*pair)
    except ValueError as e:
      one = "one class only" in str(e)
      raise ValueError(f"per_model[{i}]: {e}" + (" Every resample of this model would hold one "
                       "class; drop the model or pool its seed with another." if one else "")) from None
    out.append((labels.astype(np.int64), scores))
  return out


def _fast_statistic(statistic) -> tuple[str, float] | None:
  """``("auroc" | "tpr", fpr)`` when ``statistic`` is this module's :func:`auroc`, :func:`tpr_at_fpr`
  or ``functools.partial(tpr_at_fpr, fpr=...)``, which run vectorized over resamples; else None."""
  default_fpr = inspect.signature(tpr_at_fpr).parameters["fpr"].default
  if statistic is auroc:
    return "auroc", 0.0
  if statistic is tpr_at_fpr:
    return "tpr", default_fpr
  if (isinstance(statistic, functools.partial) and statistic.func is tpr_at_fpr and not statistic.args
      and set(statistic.keywords) <= {"fpr"}):
    return "tpr", _check_fpr(statistic.keywords.get("fpr", default_fpr))
  return None


def _within_counts(rng: np.random.Generator, labels: np.ndarray, draws: int, stratify: bool):
  """``(t, n)`` chunks of resample counts of one model's n samples, ``draws`` rows in all: n draws
  with replacement per row, or n_pos from the positives and n_neg from the negatives (stratified).
  The chunk size depends on n only, so equal models get equal draws from equal generator states."""
  n = labels.size
  groups = [np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)] if stratify else [np.arange(n)]
  chunk = max(1, (1 << 21) // n)
  for start in range(0, draws, chunk):
    t = min(chunk, draws - start)
    rows = np.repeat(np.arange(t) * n, n).reshape(t, n)
    idx = np.concatenate([g[rng.integers(0, g.size, (t, g.size))] for g in groups], axis=1)
    yield np.bincount((rows + idx).ravel(), minlength=t * n).reshape(t, n)


def _weighted_roc(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray, kind: str, fpr: float):
  """AUROC (``kind="auroc"``) or TPR@``fpr`` of each resample, the resample given by ``counts (t, n)``
  (how often each sample was drawn): the ROC of the weighted samples, as scikit-learn's ``roc_curve``
  computes it on the repeated samples (ties count one half in the AUROC; the TPR is read at the largest
  threshold whose FPR <= fpr). NaN where a resample holds one class only."""
  order = np.argsort(-scores, kind="stable")
  s, y, c = scores[order], labels[order], counts[:, order].astype(np.float64)
  starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of equal score, descending
  pos = np.add.reduceat(c * y, starts, axis=1)
  neg = np.add.reduceat(c * (1 - y), starts, axis=1)
  tp, fp = np.cumsum(pos, 1), np.cumsum(neg, 1)
  total_p, total_n = tp[:, -1:], fp[:, -1:]
  with np.errstate(invalid="ignore", divide="ignore"):
    if kind == "auroc":  # positives of a group beat the negatives below it, tie with those in it
      out = (pos * (total_n - fp + 0.5 * neg)).sum(1) / (total_p[:, 0] * total_n[:, 0])
    else:
      out = np.where(fp / total_n <= fpr, tp / total_p, 0.0).max(1)
  return np.where((total_p[:, 0] > 0) & (total_n[:, 0] > 0), out, np.nan)


def _weighted_roc_both(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray, fpr: float):
  """``(AUROC, TPR@fpr)`` of each resample: :func:`_weighted_roc` for both statistics from one sort
  and one pass over the counts (the same arithmetic, so the same values)."""
  order = np.argsort(-scores, kind="stable")
  s, y, c = scores[order], labels[order], counts[:, order].astype(np.float64)
  starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
  pos = np.add.reduceat(c * y, starts, axis=1)
  neg = np.add.reduceat(c * (1 - y), starts, axis=1)
  tp, fp = np.cumsum(pos, 1), np.cumsum(neg, 1)
  total_p, total_n = tp[:, -1:], fp[:, -1:]
  ok = (total_p[:, 0] > 0) & (total_n[:, 0] > 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    auc = (pos * (total_n - fp + 0.5 * neg)).sum(1) / (total_p[:, 0] * total_n[:, 0])
    tpr = np.where(fp / total_n <= fpr, tp / total_p, 0.0).max(1)
  return np.where(ok, auc, np.nan), np.where(ok, tpr, np.nan)


def hierarchical_bootstrap(key_or_seed, per_model, statistic: Callable = auroc, n_boot: int = 1000,
                           level: float = 0.95, stratify: bool = True) -> HierarchicalBootstrap:
  """The mean over models of a per-model detection statistic, with a two-level bootstrap interval.

  The protocol of docs/experiments.md §4.1 (intervals over model seeds) for the paper's within-model
  evaluation (docs/theory.md §10.1): the quantity is the statistic computed **inside each model** and
  averaged over models, Σ_m statistic(labels_m, scores_m) / M, not the statistic of the pooled samples
  (which also rewards a score for telling the models apart, :func:`pooled_confound`). A resample (the
  two-stage bootstrap of hierarchical data, Davison & Hinkley 1997, Sec. 3.8) draws M models with
  replacement, then for each drawn model (a model drawn twice gets two independent draws) its n_m
  samples with replacement, stratified by class by default as in :func:`evaluate`; its value is the
  mean over the drawn models of the statistic of their resampled samples. The interval is the
  percentile interval of the resample values. The point estimate is the mean of the per-model values,
  not a resample mean.

  Resampling both levels counts the within-model sampling noise twice (once through the spread of the
  per-model values, once through the inner draws), so the interval is somewhat conservative when the
  models differ little; with few models the percentile method under-covers (the bootstrap of M values
  ignores the t-quantile and the (M − 1)/M variance factor). Both are documented in the tests.

  One-class draws. With ``stratify=True`` every inner draw keeps each model's class counts, so none
  is one-class. With ``stratify=False`` a draw can hold one class only (a model with 1 memorized sample
  out of 10 does so with probability 0.9¹⁰ = 0.35); such a draw is **skipped**: left out of the mean of
  its resample and counted in ``skipped``. A resample in which every drawn model is skipped is dropped
  (``n_boot`` then reports fewer resamples). A model with one class in its own data cannot be
  evaluated and is refused.

  Args:
    key_or_seed: an integer seed >= 0 or a JAX PRNG key (seeds ``numpy.random.default_rng``). The
      resamples depend only on it and on each model's sample and class counts, not on the scores: two
      scores of the same samples are resampled identically (paired).
    per_model: a sequence of M >= 2 pairs ``(labels (n_m,), scores (n_m,))``, one per model seed;
      labels 1 = memorized, 0 = novel (both present in every model), scores finite, high = memorized.
    statistic: ``(labels, scores) -> float`` for one model. This module's :func:`auroc`,
      :func:`tpr_at_fpr` and ``functools.partial(tpr_at_fpr, fpr=...)`` run vectorized over resamples
      (the same values as calling them); any other callable is called once per drawn model per
      resample.
    n_boot: resamples, an integer >= 1.
    level: coverage of the percentile interval, in (0, 1).
    stratify: resample each model's samples within each class (True) or all together (False).

  Returns:
    A :class:`HierarchicalBootstrap`.

  Raises:
    ValueError: a bad argument (named, with the rule it breaks): fewer than 2 models, a model whose
      labels and scores differ in length or that holds one class only, a statistic that is not finite on
      a model, or (``stratify=False``) every resample dropped.
  """
  rng = _numpy_rng(key_or_seed)
  models = _check_per_model(per_model)
  if not callable(statistic):
    raise ValueError(f"statistic must be a callable (labels, scores) -> float, got {statistic!r}.")
  n_boot = _check_int("n_boot", n_boot, 1)
  level = _check_level(level)
  if not isinstance(stratify, (bool, np.bool_)):
    raise ValueError(f"stratify must be True or False, got {stratify!r}.")
  per = np.empty(len(models))
  for m, (labels, scores) in enumerate(models):
    try:
      per[m] = float(statistic(labels, scores))
    except (TypeError, ValueError) as e:
      raise ValueError(f"statistic failed on per_model[{m}]: {e}") from None
    if not np.isfinite(per[m]):
      raise ValueError(f"statistic must be finite on every model; on per_model[{m}] it is {per[m]}.")
  fast = _fast_statistic(statistic)
  n_models = len(models)
  drawn = rng.integers(0, n_models, (n_boot, n_models))  # the models of each resample
  values = np.full((n_boot, n_models), np.nan)
  skipped = np.zeros(n_models, np.int64)
  for m, (labels, scores) in enumerate(models):
    where = np.nonzero(drawn == m)
    vals = []
    for counts in _within_counts(rng, labels, where[0].size, bool(stratify)):
      if fast is not None:
        vals.append(_weighted_roc(labels, scores, counts, *fast))
        continue
      for row in counts:
        if row[labels == 1].sum() == 0 or row[labels == 0].sum() == 0:
          vals.append([np.nan])
        else:
          idx = np.repeat(np.arange(labels.size), row)
          v = float(statistic(labels[idx], scores[idx]))
          if not np.isfinite(v):
            raise ValueError(f"statistic must be finite on every resample with both classes; on a "
                             f"resample of per_model[{m}] it is {v}.")
          vals.append([v])
    vals = np.concatenate(vals) if vals else np.empty(0)
    skipped[m] = int(np.isnan(vals).sum())
    values[where] = vals
  kept = ~np.isnan(values)
  used = kept.any(1)
  if not used.any():
    raise ValueError(f"every one of the n_boot = {n_boot} resamples drew only one-class models "
                     f"(stratify=False); raise n_boot or use stratify=True.")
  boot = values[used].sum(1, where=kept[used]) / kept[used].sum(1)
  q = 100 * (1 - level) / 2
  lo, hi = np.percentile(boot, [q, 100 - q])
  return HierarchicalBootstrap(float(per.mean()), (float(lo), float(hi)), per, n_models,
                               int(used.sum()), float(boot.std()), skipped, boot)


class WithinModelDetection(NamedTuple):
  """One score's within-model AUROC and TPR@``fpr``, each averaged over models with a hierarchical
  interval (:class:`HierarchicalBootstrap`), and each model's class counts."""

  auroc: HierarchicalBootstrap
  tpr: HierarchicalBootstrap
  fpr: float
  n_pos: np.ndarray
  n_neg: np.ndarray


def within_model_evaluation(key_or_seed, labels, scores, fpr: float = 0.01, n_boot: int = 1000,
                            level: float = 0.95) -> dict[str, WithinModelDetection]:
  """The paper's within-model evaluation (docs/theory.md §10.1) of several scores over model seeds
  (docs/experiments.md §4.1): for each score, AUROC and TPR@``fpr`` inside each model, averaged over
  models, with :func:`hierarchical_bootstrap` intervals (stratified inner draws).

  Every score and both statistics use the same resamples (the same ``key_or_seed``), so differences
  between scores are paired.

  Args:
    key_or_seed: an integer seed >= 0 or a JAX PRNG key.
    labels: a sequence of M >= 2 arrays ``(n_m,)``, one per model: 1 = memorized, 0 = novel, both
      present in every model.
    scores: ``{name: sequence of M arrays (n_m,)}``, the scores of the same samples (high =
      memorized), e.g. the :func:`code_scores` of each model.
    fpr: the false-positive rate of the TPR, in [0, 1].
    n_boot: resamples, an integer >= 1.
    level: coverage of the intervals, in (0, 1).

  Returns:
    ``{name: WithinModelDetection}``, in the order of ``scores``.

  Raises:
    ValueError: a bad argument (named, with the rule it breaks).
  """
  fpr = _check_fpr(fpr)
  if not isinstance(scores, dict) or not scores:
    raise ValueError(f"scores must be a non-empty dict {{name: per-model score arrays}}, got "
                     f"{type(scores).__name__}{'' if not isinstance(scores, dict) else ' (empty)'}.")
  if isinstance(labels, (str, bytes, dict)) or not hasattr(labels, "__len__"):
    raise ValueError(f"labels must be a sequence of per-model label arrays, got "
                     f"{type(labels).__name__}.")
  out, checked = {}, {}
  for name, per in scores.items():
    if isinstance(per, (str, bytes, dict)) or not hasattr(per, "__len__") or len(per) != len(labels):
      n = len(per) if hasattr(per, "__len__") else type(per).__name__
      raise ValueError(f"scores[{name!r}] must hold one score array per model ({len(labels)}, as "
                       f"labels), got {n}.")
    try:
      checked[name] = _check_per_model(list(zip(labels, per)))
    except ValueError as e:
      raise ValueError(f"scores[{name!r}]: {e}") from None
  n_boot = _check_int("n_boot", n_boot, 1)
  level = _check_level(level)
  # One resample plan for every score and both statistics: hierarchical_bootstrap's draws depend only
  # on the key and each model's class counts, so this is the same plan it would draw for each of them
  # (its generator calls, in its order), computed once.
  first = next(iter(checked.values()))
  rng = _numpy_rng(key_or_seed)
  drawn = rng.integers(0, len(first), (n_boot, len(first)))
  plan = []
  for m, (y, _) in enumerate(first):
    where = np.nonzero(drawn == m)
    plan.append((where, list(_within_counts(rng, y, where[0].size, True))))
  q = 100 * (1 - level) / 2
  for name, pairs in checked.items():
    per = np.array([[auroc(y, v), tpr_at_fpr(y, v, fpr)] for y, v in pairs])
    values = np.full((2, n_boot, len(pairs)), np.nan)
    for (y, v), (where, chunks) in zip(pairs, plan):
      both = [_weighted_roc_both(y, v, c, fpr) for c in chunks]
      for k in range(2):
        values[k][where] = np.concatenate([b[k] for b in both]) if both else np.empty(0)
    res = []
    for k in range(2):
      kept = ~np.isnan(values[k])  # all True (stratified draws are never one-class), as there
      boot = values[k].sum(1, where=kept) / kept.sum(1)
      lo, hi = np.percentile(boot, [q, 100 - q])
      res.append(HierarchicalBootstrap(float(per[:, k].mean()), (float(lo), float(hi)), per[:, k],
                                       len(pairs), n_boot, float(boot.std()),
                                       np.zeros(len(pairs), np.int64), boot))
    out[name] = WithinModelDetection(res[0], res[1], fpr, np.array([int(y.sum()) for y, _ in pairs]),
                                     np.array([int((1 - y).sum()) for y, _ in pairs]))
  return out


def pooled_confound(per_model_labels) -> float:
  r"""The AUROC that model identity alone reaches when the samples of several models are pooled.

  Definition. Model m made n_m samples of which P_m are memorized (label 1) and N_m = n_m − P_m novel;
  its copy rate is r_m = P_m / n_m. Give every sample the constant score r_{m(sample)} of the model that
  made it ("made by the model with the higher copy rate") and pool all samples. The AUROC of that score
  against the labels is

    A = Σ_{a,b} P_a N_b ( [r_a > r_b] + ½ [r_a = r_b] ) / (Σ_a P_a · Σ_b N_b),

  the probability that a random pooled memorized sample comes from a model with a higher copy rate than
  a random pooled novel sample (ties count one half). Since P(memorized | model m) = r_m, ordering the
  models by r_m is ordering them by likelihood ratio, so A is the **largest** AUROC of any score that
  depends only on which model made the sample (Neyman–Pearson: its ROC is the concave majorant of every
  such ROC). A = 0.5 when all copy rates are equal. Example: a memorizing model with r = 0.9 and a
  generalizing one with r = 0 (500 samples each) give A = (500 + 0.5 · 50) / 550 = 0.955: the level a
  pooled detection AUROC reaches without looking at the samples (docs/theory.md §10.1,
  docs/experiments.md §4.1: the pooled setting measures model identity).

  Args:
    per_model_labels: a sequence of M >= 2 arrays ``(n_m,)`` of 0/1 labels (n_m >= 1), one per model;
      the pooled labels must hold both classes.

  Returns:
    A in [0.5, 1].

  Raises:
    ValueError: a bad argument (named, with the rule it breaks).
  """
  if isinstance(per_model_labels, (str, bytes, dict)) or not hasattr(per_model_labels, "__len__"):
    raise ValueError(f"per_model_labels must be a sequence of per-model label arrays, got "
                     f"{type(per_model_labels).__name__}.")
  if len(per_model_labels) < 2:
    raise ValueError(f"per_model_labels must hold at least 2 models, got {len(per_model_labels)}.")
  pos, neg = np.empty(len(per_model_labels)), np.empty(len(per_model_labels))
  for m, y in enumerate(per_model_labels):
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
      raise ValueError(f"per_model_labels[{m}] must be 1-D and non-empty, got shape {y.shape}.")
    if not np.isin(y, (0, 1)).all():
      raise ValueError(f"per_model_labels[{m}] must be 0 (novel) or 1 (memorized).")
    pos[m], neg[m] = y.sum(), y.size - y.sum()
  if pos.sum() == 0 or neg.sum() == 0:
    raise ValueError(f"the pooled labels hold one class only (all {int(pos.sum() > 0)}): AUROC needs "
                     "memorized and novel samples.")
  rate = pos / (pos + neg)
  win = (rate[:, None] > rate[None, :]) + 0.5 * (rate[:, None] == rate[None, :])
  return float(pos @ win @ neg / (pos.sum() * neg.sum()))
