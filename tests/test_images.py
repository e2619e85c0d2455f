"""Tests of dae_theory.images: bundled digits and photo patches, and a user's image folder (images
written by the test itself, one of them corrupt)."""

import os

import numpy as np
import pytest
from PIL import Image

from dae_theory import images


def test_digits_range_shape_and_seeded_split():
  a, b = images.digits(seed=3), images.digits(seed=3)
  assert a.train.shape == (1797 - 1797 // 5, 64) and a.test.shape == (1797 // 5, 64)
  assert a.train.dtype == np.float32 and a.train.min() == -1.0 and a.train.max() == 1.0
  np.testing.assert_array_equal(a.train, b.train)  # same seed, same split
  c = images.digits(seed=4)
  assert not np.array_equal(a.train, c.train)
  assert set(np.unique(a.train_labels)) == set(range(10))
  with pytest.raises(ValueError, match="n_train must lie in 1"):
    images.digits(n_train=1797)


def test_photo_patches():
  p = images.photo_patches(n=200, side=6, seed=0)
  assert p.train.shape[1] == 36 and p.train.shape[0] + p.test.shape[0] == 200
  assert -1.0 <= p.train.min() and p.train.max() <= 1.0
  assert set(np.unique(np.concatenate([p.train_labels, p.test_labels]))) == {0, 1}


def _write(folder, name, value, size=(20, 12)):
  Image.fromarray(np.full(size[::-1], value, np.uint8)).save(os.path.join(folder, name))


def test_image_folder_keeps_readable_files_and_names_the_others(tmp_path):
  _write(tmp_path, "a.png", 0)
  _write(tmp_path, "b.jpg", 255)
  (tmp_path / "c.png").write_bytes(b"not an image at all")
  (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
  out = images.image_folder(str(tmp_path), side=8)
  assert out.x.shape == (2, 64) and out.side == 8
  np.testing.assert_allclose(out.x[0], -1.0)  # black -> -1
  np.testing.assert_allclose(out.x[1], 1.0, atol=0.02)  # white -> 1 (JPEG rounding)
  assert [os.path.basename(f) for f in out.files] == ["a.png", "b.jpg"]
  assert len(out.skipped) == 1 and out.skipped[0][0].endswith("c.png")


def test_image_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    images.image_folder(str(tmp_path / "missing"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="holds no"):
    images.image_folder(str(tmp_path / "empty"))
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "x.png").write_bytes(b"garbage")
  with pytest.raises(ValueError,
                     match=r"none of the 1 image files .*/x\.png \(UnidentifiedImageError"):
    images.image_folder(str(bad))
