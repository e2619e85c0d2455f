r"""Prompt-free memorization detection from the hidden code (docs/theory.md §10, the paper's Alg. 1).

Works with any representation function ``rep(y (n, d)) -> h (n, p)`` — a lab model's
``relu(W₁ᵀy)`` or a user's own network's hidden layer. A generated sample y₀ gets forward noise at a
small σ, the network runs once, and the score is a statistic of h: the paper's std(h) (high =
memorized) or one of the scale-free metrics of :mod:`dae_theory.metrics` (signed so that high =
memorized). Evaluation uses scikit-learn's ROC functions; intervals are percentile bootstraps.
"""

from __future__ import annotations

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
