r"""Is a generated sample a copy of a training image? Scale-aware criteria, in one place.

A cosine to the nearest training image is blind to scale: a training image shrunk to half its norm has
cosine 1 to it, yet it is not a copy. The criteria here measure distance, as the memorization
literature does:

* ``ratio`` = d₁/d₂, the Euclidean distance to the nearest training image over the distance to the
  second nearest (*distinct*) one. A copy sits much closer to one image than to any other; a novel
  sample sits between several. Threshold :data:`COPY_DISTANCE_RATIO` = 1/3 (the "closer by 3×" rule).
* ``relative_error`` = ‖s − x_nn‖ / ‖x_nn‖, the relative L2 error to the nearest image. Threshold
  :data:`COPY_RELATIVE_ERROR` = 0.1: a copy reproduces its image to within 10% of its norm.
* ``norm_ratio`` = ‖s‖ / ‖x_nn‖ (1 for a copy; reported, not thresholded: the relative error already
  bounds it, |norm_ratio − 1| ≤ relative_error).
* ``cosine`` to the nearest image, with :data:`COSINE_COPY` = 0.95, the older scale-blind label, kept
  only for comparison.

The default label is a copy when **both** ``ratio < COPY_DISTANCE_RATIO`` and
``relative_error < COPY_RELATIVE_ERROR``. Duplicated training images are counted once (d₂ is the
distance to the second nearest *distinct* image), so a hybrid training set does not make every copy's
d₂ zero. Nearest neighbours are exact (scikit-learn's brute-force search, float64).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.neighbors import NearestNeighbors

from dae_theory import checks

COPY_DISTANCE_RATIO = 1.0 / 3.0
COPY_RELATIVE_ERROR = 0.1
COSINE_COPY = 0.95


class CopyReport(NamedTuple):
  """Per generated sample (all ``(m,)``).

  Attributes:
    nearest: index (into the given training set) of the nearest training image.
    d1: distance to it.
    d2: distance to the second nearest distinct training image.
    ratio: d1 / d2.
    relative_error: d1 / ‖x_nearest‖.
    norm_ratio: ‖sample‖ / ‖x_nearest‖.
    cosine: cosine between the sample and x_nearest.
    is_copy: ``ratio < ratio_threshold`` and ``relative_error < error_threshold``.
  """

  nearest: np.ndarray
  d1: np.ndarray
  d2: np.ndarray
  ratio: np.ndarray
  relative_error: np.ndarray
  norm_ratio: np.ndarray
  cosine: np.ndarray
  is_copy: np.ndarray


def _as_rows(name: str, a, d: int | None = None) -> np.ndarray:
  a = np.asarray(a)
  if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
    raise ValueError(f"{name} must have shape (count, d) with one image per row, got {a.shape}.")
  a = checks.real_finite(a, name)
  if d is not None and a.shape[1] != d:
    raise ValueError(f"{name} has d = {a.shape[1]} columns but the training set has d = {d}.")
  return a


def nearest(samples, train, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """The lab's one nearest-neighbour search: the ``k`` nearest rows of ``train`` to each row of
  ``samples`` (Euclidean), as ``(distances (m, k), indices (m, k))``, nearest first.

  scikit-learn's exact brute-force search finds the neighbours; it ranks them by ‖a‖² + ‖b‖² − 2aᵀb,
  which loses digits for near copies, so the distances are recomputed by direct subtraction and the
  k neighbours re-ordered by them.
  """
  train = _as_rows("train", train)
  samples = _as_rows("samples", samples, train.shape[1])
  if not 1 <= k <= len(train):
    raise ValueError(f"k must lie in 1 … {len(train)} (the training rows), got {k}.")
  _, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(train).kneighbors(samples)
  dist = np.linalg.norm(samples[:, None, :] - train[idx], axis=-1)
  order = np.argsort(dist, axis=1, kind="stable")
  return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def copy_report(samples, train, *, ratio_threshold: float = COPY_DISTANCE_RATIO,
                error_threshold: float = COPY_RELATIVE_ERROR) -> CopyReport:
  """Scale-aware copy criteria of every sample against a training set (module docstring).

  Args:
    samples: ``(m, d)`` generated samples, in the same coordinates as ``train``.
    train: ``(n, d)`` training images (duplicates allowed; at least 2 distinct, none all-zero).
    ratio_threshold: a copy needs d1/d2 below this.
    error_threshold: a copy needs the relative L2 error below this.

  Returns:
    CopyReport.

  Raises:
    ValueError: bad shapes, non-finite values, fewer than 2 distinct training images, a zero training
      image (its relative error is undefined), or thresholds outside (0, 1].
  """
  for name, v in (("ratio_threshold", ratio_threshold), ("error_threshold", error_threshold)):
    if not (np.isfinite(v) and 0 < v <= 1):
      raise ValueError(f"{name} must lie in (0, 1], got {v}.")
  train = _as_rows("train", train)
  samples = _as_rows("samples", samples, train.shape[1])
  distinct, first = np.unique(train, axis=0, return_index=True)
  if len(distinct) < 2:
    raise ValueError(f"train must hold at least 2 distinct images for d2, got {len(distinct)}.")
  norms = np.linalg.norm(distinct, axis=1)
  if np.any(norms == 0):
    raise ValueError("train holds an all-zero image: the relative error to it is undefined.")
  dist, idx = nearest(samples, distinct, k=2)
  d1, d2 = dist[:, 0], dist[:, 1]
  near = distinct[idx[:, 0]]
  s_norm, x_norm = np.linalg.norm(samples, axis=1), norms[idx[:, 0]]
  with np.errstate(divide="ignore", invalid="ignore"):
    ratio = np.where(d2 > 0, d1 / d2, np.inf)
    cosine = np.where(s_norm > 0, np.sum(samples * near, 1) / (s_norm * x_norm), 0.0)
  rel = d1 / x_norm
  return CopyReport(first[idx[:, 0]], d1, d2, ratio, rel, s_norm / x_norm, cosine,
                    (ratio < ratio_threshold) & (rel < error_threshold))


def is_copy(samples, train, **thresholds) -> np.ndarray:
  """``(m,)`` bool: the default scale-aware copy label (:func:`copy_report`)."""
  return copy_report(samples, train, **thresholds).is_copy
