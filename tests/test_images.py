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


def test_a_16_bit_png_loads_like_the_same_picture_in_8_bits(tmp_path):
  """A 16-bit grey PNG (Pillow mode I;16) is scaled by 65535, not clipped at 255 (which made 97% of
  its pixels +1.0): the picture saved in 16 bits (v · 257) loads as the same picture saved in 8 bits
  (v), up to one 8-bit level (1/127.5: the 8-bit path resamples in Pillow's fixed point and rounds
  to an integer; measured 0.66 levels at most)."""
  v = np.random.default_rng(0).integers(0, 256, (24, 40)).astype(np.uint8)
  Image.fromarray(v).save(tmp_path / "a8.png")
  Image.fromarray(v.astype(np.uint16) * 257).save(tmp_path / "b16.png")
  assert Image.open(tmp_path / "b16.png").mode in ("I;16", "I")
  out = images.image_folder(str(tmp_path), side=8)
  assert out.skipped == []
  np.testing.assert_allclose(out.x[1], out.x[0], rtol=0, atol=1 / 127.5)
  assert -1.0 <= out.x[1].min() and out.x[1].max() <= 1.0
  assert np.mean(out.x[1] >= 0.99) < 0.1  # not near-white
  # Full scale: black and white in 16 bits are -1 and +1.
  for name, val, want in (("c16.png", 0, -1.0), ("d16.png", 65535, 1.0)):
    Image.fromarray(np.full((5, 5), val, np.uint16)).save(tmp_path / name)
  out = images.image_folder(str(tmp_path), side=4)
  np.testing.assert_allclose(out.x[2], -1.0, atol=1e-6)
  np.testing.assert_allclose(out.x[3], 1.0, atol=1e-6)


def _png_header_only(path, width, height):
  """A PNG whose header claims width × height grey pixels (the data is one empty row): Pillow reads
  the size at open, so no 400 MB image has to be written."""
  import struct
  import zlib

  def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

  ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                   + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b""))


def test_decompression_bombs_are_skipped_and_named(tmp_path):
  """A 20000² image (above twice Pillow's MAX_IMAGE_PIXELS: DecompressionBombError) and a 10000² one
  (above the limit: DecompressionBombWarning) are skipped and named like other unreadable files; the
  readable file of the folder is still loaded."""
  _write(tmp_path, "a.png", 0)
  _png_header_only(tmp_path / "big.png", 20000, 20000)
  _png_header_only(tmp_path / "large.png", 10000, 10000)
  out = images.image_folder(str(tmp_path), side=8)
  assert [os.path.basename(f) for f in out.files] == ["a.png"]
  reasons = {os.path.basename(f): r for f, r in out.skipped}
  assert set(reasons) == {"big.png", "large.png"}
  assert reasons["big.png"].startswith("DecompressionBombError")
  assert reasons["large.png"].startswith("DecompressionBombWarning")


def test_digits_at_side_16_are_the_same_digits_resized_bilinearly():
  """side=16: the same split and labels as side 8; values in [−1, 1] (bilinear weights are convex);
  each 2 × 2 block mean of the 16 × 16 image follows the 8 × 8 original (correlation > 0.9 for every
  image, a loose bound: interpolation blurs each pixel with its neighbours)."""
  a, b = images.digits(seed=1), images.digits(seed=1, side=16)
  assert b.train.shape == (a.train.shape[0], 256) and b.side == 16 and b.train.dtype == np.float32
  np.testing.assert_array_equal(a.train_labels, b.train_labels)
  assert -1.0 <= b.train.min() and b.train.max() <= 1.0
  block = b.train.reshape(-1, 8, 2, 8, 2).mean((2, 4)).reshape(-1, 64)
  za = a.train - a.train.mean(1, keepdims=True)
  zb = block - block.mean(1, keepdims=True)
  corr = np.sum(za * zb, 1) / np.sqrt(np.sum(za**2, 1) * np.sum(zb**2, 1))
  assert corr.min() > 0.9
  const = images.resize(np.full((2, 64), 0.25, np.float32), 8, 16)
  np.testing.assert_allclose(const, 0.25, rtol=1e-6)
  with pytest.raises(ValueError, match="side must be an integer >= 1"):
    images.digits(side=0)
  with pytest.raises(ValueError, match=r"x must have shape \(n, 64\)"):
    images.resize(np.zeros((2, 60)), 8, 16)


def test_disks_are_anti_aliased_disks_of_the_stated_radii():
  """Each image is one disk: white area Σ(x+1)/2 = π r² with r ∈ [side/8, side/4] (the sub-pixel
  estimate is within 1 pixel of area of the exact one at supersample 8, bounded here by comparing with
  supersample 32), values in [−1, 1] with partly covered edge pixels, seeded."""
  x = images.disks(50, side=16, seed=3)
  assert x.shape == (50, 256) and x.dtype == np.float32
  np.testing.assert_array_equal(x, images.disks(50, side=16, seed=3))
  assert not np.array_equal(x, images.disks(50, side=16, seed=4))
  assert -1.0 <= x.min() and x.max() <= 1.0
  area = ((x + 1) / 2).sum(1)
  fine = ((images.disks(50, side=16, seed=3, supersample=32) + 1) / 2).sum(1)
  assert np.max(np.abs(area - fine)) < 1.0
  assert np.all(fine > np.pi * 2**2 - 1) and np.all(fine < np.pi * 4**2 + 1)
  edge = (x > -1) & (x < 1)
  assert np.all(edge.sum(1) >= 4)  # anti-aliased rims
  # the disk lies inside the image: the border pixels are background
  img = x.reshape(50, 16, 16)
  border = np.concatenate([img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1]], 1)
  assert np.all(border < 1.0)
  with pytest.raises(ValueError, match="n must be an integer >= 1"):
    images.disks(0)


def test_duplicate_builds_a_hybrid_set():
  x = np.arange(12.0).reshape(4, 3)
  rep, src = images.duplicate(x, np.array([1, 0, 3, 2]))
  np.testing.assert_array_equal(src, [0, 2, 2, 2, 3, 3])
  np.testing.assert_array_equal(rep, x[src])
  with pytest.raises(ValueError, match=r"counts must have shape \(4,\)"):
    images.duplicate(x, [1, 2])
  with pytest.raises(ValueError, match="counts must be integers >= 0, not all 0"):
    images.duplicate(x, np.array([1, -1, 0, 0]))
  with pytest.raises(ValueError, match="counts must be integers >= 0, not all 0"):
    images.duplicate(x, np.zeros(4, int))
  with pytest.raises(ValueError, match="counts must be integers >= 0, not all 0"):
    images.duplicate(x, np.array([1.0, 2.0, 0.0, 1.0]))
