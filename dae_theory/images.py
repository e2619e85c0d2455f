r"""Real images that need no network: scikit-learn's handwritten digits (8 × 8, or resized, e.g. to
16 × 16) and patches of its two sample photographs, a loader for a user's own folder of images
(docs/experiments.md §1), synthetic anti-aliased disks (a known, 3-parameter family) and hybrid sets
that duplicate some images.

Every loader returns float32 arrays ``(n, d)`` (one flattened image per row, d = side²) scaled to
[−1, 1], the range of the paper's CelebA setting. Splits are seeded with
``numpy.random.default_rng(seed)``. scikit-learn and Pillow are imported lazily, inside the functions
that need them.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# Pillow modes of more than 8 bits per pixel that a PNG opens as, and their full scale: a 16-bit grey
# PNG opens as "I;16" (Pillow >= 10) or "I" (older Pillow); PNG stores at most 16 bits per sample.
_FULL_SCALE = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


class ImageSplit(NamedTuple):
  """A seeded train / held-out split.

  Attributes:
    train, test: ``(n, d)`` float32 in [−1, 1].
    train_labels, test_labels: ``(n,)`` ints (class labels; −1 where there are none).
    side: images are ``side × side`` (d = side²).
  """

  train: np.ndarray
  test: np.ndarray
  train_labels: np.ndarray
  test_labels: np.ndarray
  side: int


def _split(x, labels, n_train, seed, side) -> ImageSplit:
  n = x.shape[0]
  if n_train is None:
    n_train = n - n // 5
  if not 1 <= n_train < n:
    raise ValueError(f"n_train must lie in 1 … {n - 1} (there are {n} images), got {n_train}.")
  order = np.random.default_rng(seed).permutation(n)
  tr, te = order[:n_train], order[n_train:]
  return ImageSplit(x[tr], x[te], labels[tr], labels[te], side)


def digits(n_train: int | None = None, seed: int = 0, side: int = 8) -> ImageSplit:
  """scikit-learn's 1797 handwritten digits (8 × 8, pixel values 0…16 → [−1, 1]), at ``side × side``.

  Args:
    n_train: training images (default 80%); the rest are held out.
    seed: split seed.
    side: 8 keeps the original pixels; another side resizes each digit bilinearly (Pillow's
      ``Image.resize`` with ``BILINEAR`` on the float image, the resampling :func:`image_folder`
      uses), e.g. 16 for the U-Net of issue 17. Bilinear weights are convex, so values stay in [−1, 1].
  """
  from sklearn.datasets import load_digits

  side = _check_side(side)
  bunch = load_digits()
  x = (bunch.data.astype(np.float32) / 8.0 - 1.0)
  if side != 8:
    x = resize(x, 8, side)
  return _split(x, bunch.target.astype(np.int64), n_train, seed, side)


def _check_side(side) -> int:
  if isinstance(side, bool) or int(side) != side or side < 1:
    raise ValueError(f"side must be an integer >= 1, got {side!r}.")
  return int(side)


def resize(x, side_in: int, side_out: int) -> np.ndarray:
  """Resize flattened grey images ``(n, side_in²) -> (n, side_out²)`` bilinearly (Pillow, float
  images, no rounding), float32."""
  from PIL import Image

  x = np.asarray(x, np.float32)
  if x.ndim != 2 or x.shape[1] != side_in * side_in:
    raise ValueError(f"x must have shape (n, {side_in * side_in}) for side {side_in}, got {x.shape}.")
  out = [np.asarray(Image.fromarray(row.reshape(side_in, side_in), mode="F").resize(
      (side_out, side_out), Image.Resampling.BILINEAR), np.float32).reshape(-1) for row in x]
  return np.stack(out) if out else np.zeros((0, side_out * side_out), np.float32)


def disks(n: int, side: int = 16, seed: int = 0, supersample: int = 8) -> np.ndarray:
  r"""``n`` anti-aliased white disks on black, ``(n, side²)`` float32 in [−1, 1]: a data set whose
  answer is known, a 3-parameter family (centre c ∈ ℝ², radius r), so a model that generalizes
  produces disks it never saw and a memorizing one returns its training disks.

  Radius r ~ U[side/8, side/4], centre uniform where the disk lies inside the image
  (c ∈ [r, side − r]², pixel (i, j) covering [j, j+1] × [i, i+1]); pixel value = −1 + 2·(area of the
  pixel inside the disk), the area estimated on a ``supersample × supersample`` grid of sub-pixel
  centres (error ≤ 1/supersample² · perimeter crossings, about 0.02 at the default 8). Seeded with
  ``numpy.random.default_rng(seed)``.
  """
  side = _check_side(side)
  if isinstance(n, bool) or int(n) != n or n < 1:
    raise ValueError(f"n must be an integer >= 1, got {n!r}.")
  if isinstance(supersample, bool) or int(supersample) != supersample or supersample < 1:
    raise ValueError(f"supersample must be an integer >= 1, got {supersample!r}.")
  rng = np.random.default_rng(seed)
  r = rng.uniform(side / 8, side / 4, int(n))
  c = rng.uniform(r[:, None], side - r[:, None], (int(n), 2))
  sub = (np.arange(side * supersample) + 0.5) / supersample  # sub-pixel centres
  yy, xx = np.meshgrid(sub, sub, indexing="ij")
  out = np.empty((int(n), side * side), np.float32)
  for k in range(int(n)):
    inside = (xx - c[k, 0]) ** 2 + (yy - c[k, 1]) ** 2 <= r[k] ** 2
    cover = inside.reshape(side, supersample, side, supersample).mean((1, 3))
    out[k] = (2.0 * cover - 1.0).reshape(-1)
  return out


def duplicate(x, counts) -> tuple[np.ndarray, np.ndarray]:
  """A hybrid training set: row i of ``x`` repeated ``counts[i]`` times (0 drops it), the copies of a
  row contiguous, rows in their order.

  Args:
    x: ``(n, d)`` images.
    counts: ``(n,)`` integers >= 0, not all 0.

  Returns:
    ``(x_rep (Σ counts, d), source_index (Σ counts,))`` with ``x_rep[k] = x[source_index[k]]``.
  """
  x = np.asarray(x)
  counts = np.asarray(counts)
  if x.ndim != 2:
    raise ValueError(f"x must have shape (n, d), got {x.shape}.")
  if counts.shape != (x.shape[0],):
    raise ValueError(f"counts must have shape ({x.shape[0]},) (one per row of x), got {counts.shape}.")
  if counts.dtype.kind not in "iu" or np.any(counts < 0) or counts.sum() == 0:
    raise ValueError("counts must be integers >= 0, not all 0, got "
                     f"{counts.dtype} with min {counts.min() if counts.size else None}, sum "
                     f"{counts.sum() if counts.dtype.kind in 'iub' else None}.")
  source = np.repeat(np.arange(x.shape[0]), counts)
  return x[source], source


def photo_patches(n: int = 2000, side: int = 8, n_train: int | None = None, seed: int = 0
                  ) -> ImageSplit:
  """Random ``side × side`` grey patches of scikit-learn's two sample photographs, in [−1, 1].

  Labels say which photograph a patch comes from (0 = china, 1 = flower).
  """
  from sklearn.datasets import load_sample_images

  if n < 2 or side < 1:
    raise ValueError(f"need n >= 2 patches of side >= 1, got n={n}, side={side}.")
  imgs = load_sample_images().images
  rng = np.random.default_rng(seed)
  patches, labels = [], []
  for i in range(n):
    k = i % len(imgs)
    grey = imgs[k].astype(np.float32).mean(-1) / 127.5 - 1.0
    r = rng.integers(0, grey.shape[0] - side + 1)
    c = rng.integers(0, grey.shape[1] - side + 1)
    patches.append(grey[r:r + side, c:c + side].reshape(-1))
    labels.append(k)
  return _split(np.stack(patches), np.array(labels), n_train, seed, side)


class FolderImages(NamedTuple):
  """Images read from a folder.

  Attributes:
    x: ``(n, side²)`` float32 in [−1, 1], one per readable file, in sorted file-name order.
    files: the files read, in the order of ``x``.
    skipped: ``(file, reason)`` for every image file that could not be read.
    side: the square side the images were resized to.
  """

  x: np.ndarray
  files: list
  skipped: list
  side: int


def _grey_row(img, side: int) -> np.ndarray:
  """One image as a ``(side²,)`` float32 row in [−1, 1], scaled by its real bit depth: 8-bit images
  (and anything Pillow converts to 8-bit grey) by 255, 16-bit grey PNGs by 65535."""
  from PIL import Image

  full = _FULL_SCALE.get(img.mode)
  if full is None:
    grey = img.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(grey, np.float32).reshape(-1) / 127.5 - 1.0
  raw = np.asarray(img)
  if raw.size and (raw.min() < 0 or raw.max() > full):
    raise ValueError(f"{img.mode} pixel values {raw.min()}…{raw.max()} lie outside 0…{full}")
  grey = img.convert("F").resize((side, side), Image.Resampling.BILINEAR)
  return np.asarray(grey, np.float32).reshape(-1) * np.float32(2.0 / full) - 1.0


def image_folder(path: str, side: int = 32) -> FolderImages:
  """Load every PNG/JPEG in ``path`` (not recursive), grey, resized to ``side × side``, in [−1, 1].

  Pixel values are scaled by the image's bit depth (0…255 for 8-bit images, 0…65535 for 16-bit grey
  PNGs). Unreadable files are skipped and named in ``skipped`` with the reason (the readable ones are
  kept), among them images larger than Pillow's decompression-bomb limit
  (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 M pixels), which are not decoded.

  Raises:
    FileNotFoundError: ``path`` does not exist or is not a folder.
    ValueError: the folder holds no PNG/JPEG file, or none of them could be read (each named).
  """
  from PIL import Image, UnidentifiedImageError

  if side < 1:
    raise ValueError(f"side must be >= 1, got {side}.")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"image folder {path!r} does not exist or is not a folder.")
  names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
  if not names:
    raise ValueError(f"image folder {path!r} holds no {'/'.join(IMAGE_SUFFIXES)} file.")
  rows, files, skipped = [], [], []
  for name in names:
    full = os.path.join(path, name)
    try:
      with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that: both are skipped.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(full) as img:
          row = _grey_row(img, side)
      rows.append(row)
      files.append(full)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:
      skipped.append((full, f"{type(err).__name__}: {err}"))
  if not rows:
    raise ValueError(f"none of the {len(names)} image files in {path!r} could be read: "
                     + "; ".join(f"{f} ({r})" for f, r in skipped))
  return FolderImages(np.stack(rows), files, skipped, side)
