r"""Prompt-free memorization detection from the hidden code (THEORY §10, the paper's Alg. 1).

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

from dae_theory import metrics

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
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0 (forward noise level), got {sigma}.")
  return sigma


def code_scores(rep: Callable, samples, sigma: float, key: jax.Array, draws: int = 1,
                names=tuple(SCORES)) -> dict[str, np.ndarray]:
  """Scores of each sample (high = memorized), averaged over ``draws`` forward-noise draws.

  Args:
    rep: ``y (n, d) -> h (n, p)``, any callable (jax or NumPy).
    samples: ``(n, d)`` generated samples.
    sigma: forward noise level σ > 0.
    key: PRNG key of the noise.
    draws: noise draws per sample (the paper uses one).
    names: which entries of :data:`SCORES`.

  Returns:
    ``{name: (n,) scores}``.
  """
  sigma = _check_sigma(sigma)
  x = jnp.asarray(samples)
  if x.ndim != 2:
    raise ValueError(f"samples must have shape (n, d), got {x.shape}.")
  if draws < 1:
    raise ValueError(f"draws must be >= 1, got {draws}.")
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
  if labels.shape != scores.shape or labels.ndim != 1:
    raise ValueError(f"labels and scores must be 1-D of the same length, got {labels.shape} and "
                     f"{scores.shape}.")
  if not np.isin(labels, (0, 1)).all():
    raise ValueError("labels must be 0 (novel) or 1 (memorized).")
  if labels.min() == labels.max():
    raise ValueError(f"labels hold one class only (all {int(labels[0])}): AUROC needs memorized "
                     "and novel samples.")
  if not np.isfinite(scores).all():
    raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not finite.")
  return labels, scores


def auroc(labels, scores) -> float:
  """Area under the ROC curve (scikit-learn); labels 1 = memorized, high score = memorized."""
  from sklearn.metrics import roc_auc_score

  labels, scores = _check_labels(labels, scores)
  return float(roc_auc_score(labels, scores))


def tpr_at_fpr(labels, scores, fpr: float = 0.01) -> float:
  """True-positive rate at false-positive rate ``fpr`` (the ROC curve of scikit-learn, read at the
  largest threshold whose FPR does not exceed ``fpr``)."""
  from sklearn.metrics import roc_curve

  labels, scores = _check_labels(labels, scores)
  f, t, _ = roc_curve(labels, scores)
  return float(t[f <= fpr].max())


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
  bootstrap resamples stratified by class (so every resample holds both classes)."""
  labels, scores = _check_labels(labels, scores)
  rng = np.random.default_rng(seed)
  pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
  boot_a, boot_t = [], []
  for _ in range(n_boot):
    idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
    boot_a.append(auroc(labels[idx], scores[idx]))
    boot_t.append(tpr_at_fpr(labels[idx], scores[idx], fpr))
  ci = lambda v: tuple(float(q) for q in np.percentile(v, [2.5, 97.5]))
  return Detection(auroc(labels, scores), ci(boot_a), tpr_at_fpr(labels, scores, fpr), ci(boot_t),
                   int(pos.size), int(neg.size))
