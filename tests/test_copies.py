"""Scale-aware copy labels (dae_theory.copies) against brute force and cases with a known answer."""

import numpy as np
import pytest

from dae_theory import copies


def _train(seed=0, n=20, d=16):
  return np.random.default_rng(seed).normal(size=(n, d))


def test_a_half_scaled_image_is_not_a_copy_an_exact_copy_and_a_noisy_copy_are():
  """The scale-blind cosine calls all three copies (cosine ~1); the default label does not call the
  half-scaled image one (relative error 0.5 > 0.1), while an exact copy and a copy plus 1% noise pass
  both criteria."""
  train = _train()
  rng = np.random.default_rng(1)
  x = train[3]
  samples = np.stack([x, x + 0.01 * np.linalg.norm(x) / 4 * rng.normal(size=16), 0.5 * x])
  rep = copies.copy_report(samples, train)
  np.testing.assert_array_equal(rep.is_copy, [True, True, False])
  np.testing.assert_array_equal(rep.nearest, [3, 3, 3])
  assert np.all(rep.cosine > copies.COSINE_COPY)  # the old label is fooled by the scaled image
  np.testing.assert_allclose(rep.norm_ratio[2], 0.5, rtol=1e-12)
  np.testing.assert_allclose(rep.relative_error[2], 0.5, rtol=1e-12)
  assert rep.d1[0] == 0.0 and rep.ratio[0] == 0.0


def test_d1_over_d2_equals_brute_force_and_duplicates_count_once():
  train = _train(2, n=15, d=6)
  train = np.concatenate([train, train[:4]])  # a hybrid set: four images duplicated
  samples = np.random.default_rng(3).normal(size=(40, 6))
  samples[:4] = train[:4] + 1e-3  # near copies of duplicated images
  rep = copies.copy_report(samples, train)
  distinct = np.unique(train, axis=0)
  dist = np.linalg.norm(samples[:, None, :] - distinct[None, :, :], axis=-1)
  srt = np.sort(dist, axis=1)
  np.testing.assert_allclose(rep.d1, srt[:, 0], rtol=1e-12)
  np.testing.assert_allclose(rep.d2, srt[:, 1], rtol=1e-12)
  np.testing.assert_allclose(rep.ratio, srt[:, 0] / srt[:, 1], rtol=1e-12)
  near = distinct[np.argmin(dist, axis=1)]
  np.testing.assert_array_equal(train[rep.nearest], near)
  np.testing.assert_allclose(rep.relative_error, srt[:, 0] / np.linalg.norm(near, axis=1),
                             rtol=1e-12)
  assert rep.is_copy[:4].all()  # a duplicate does not make d2 zero
  # Random samples are not copies (each is about as far from its nearest image as from the next).
  assert not rep.is_copy[4:].any()


def test_a_midpoint_of_two_images_is_not_a_copy():
  train = _train(4)
  mid = 0.5 * (train[0] + train[1])
  rep = copies.copy_report(mid[None], train)
  assert rep.ratio[0] > copies.COPY_DISTANCE_RATIO and not rep.is_copy[0]


@pytest.mark.parametrize("samples,train,match", [
    (np.ones(4), np.ones((3, 4)), "samples must have shape"),
    (np.ones((2, 3)), np.eye(4), "samples has d = 3 columns"),
    (np.ones((2, 4)), np.ones((3, 4)), "at least 2 distinct"),
    (np.ones((2, 2)), np.array([[0.0, 0.0], [1.0, 0.0]]), "all-zero image"),
    (np.full((1, 2), np.nan), np.eye(2), "non-finite"),
])
def test_bad_input_is_named(samples, train, match):
  with pytest.raises(ValueError, match=match):
    copies.copy_report(samples, train)


def test_bad_thresholds_are_named():
  with pytest.raises(ValueError, match="ratio_threshold must lie in"):
    copies.copy_report(np.eye(2), np.eye(2) + 1, ratio_threshold=0.0)
  with pytest.raises(ValueError, match="error_threshold must lie in"):
    copies.copy_report(np.eye(2), np.eye(2) + 1, error_threshold=float("nan"))


def test_nearest_is_the_brute_force_search():
  """The lab's one nearest-neighbour search (used by copies, detection, lenses and the diffusion
  nearest cosine) equals a brute-force NumPy search: same indices, same distances (direct
  subtraction, so a near copy keeps its digits), nearest first; k outside 1…n is refused."""
  rng = np.random.default_rng(0)
  train = rng.normal(size=(40, 7))
  samples = np.r_[rng.normal(size=(9, 7)), train[3:4] + 1e-9]
  dist, idx = copies.nearest(samples, train, k=3)
  brute = np.linalg.norm(samples[:, None, :] - train[None], axis=-1)
  order = np.argsort(brute, 1)[:, :3]
  np.testing.assert_array_equal(idx, order)
  np.testing.assert_allclose(dist, np.take_along_axis(brute, order, 1), rtol=1e-12)
  assert idx[-1, 0] == 3 and 0 < dist[-1, 0] < 1e-8
  with pytest.raises(ValueError, match="k must lie in 1 … 40"):
    copies.nearest(samples, train, k=41)
