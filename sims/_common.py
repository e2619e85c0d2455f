"""Pieces shared by the sims: the memorization set and the diffusion DAE's train-and-sample."""

from __future__ import annotations

import numpy as np

from dae_theory import data, diffusion


def memorization_set(centred: np.ndarray, k: int, margin: float) -> np.ndarray:
  """Indices of ``k`` rows of centred data with pairwise cosines < −``margin`` (Cor. 3.2's hypothesis
  with a margin); the error names the flags to change."""
  try:
    return data.obtuse_subset(centred, k, max_cosine=-margin)
  except ValueError as err:
    raise ValueError(f"--n_memorize/--obtuse_margin: {err} Lower either flag.") from None


def diffusion_model(key, x, width: int, steps: int, learning_rate: float):
  """Train the time-conditioned DAE (THEORY §9) on ``x``; return (params, denoiser callable)."""
  params, _ = diffusion.train(key, x, width, steps, learning_rate=learning_rate)
  return params, lambda y, sig, p=params: diffusion.denoise(p, y, sig)


def generate(key, denoiser, n: int, d: int):
  """``n`` samples of the VE sampler, without clamping (see ``sims.image_dae``)."""
  return diffusion.sample(key, denoiser, n, d, clamp=None)
