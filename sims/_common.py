"""Pieces shared by the sims: the memorization set and the diffusion DAE's train-and-sample."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import data, detection, diffusion, model, train


def memorization_set(centred: np.ndarray, k: int, margin: float) -> np.ndarray:
  """Indices of ``k`` rows of centred data with pairwise cosines < −``margin`` (Cor. 3.2's hypothesis
  with a margin); the error names the flags to change."""
  try:
    return data.obtuse_subset(centred, k, max_cosine=-margin)
  except ValueError as err:
    raise ValueError(f"--n_memorize/--obtuse_margin: {err} Lower either flag.") from None


# One training recipe for every diffusion DAE the sims compare (memorizing, generalizing, hybrid, every
# N of the transition): Adam with cosine decay at one learning rate, and the reference's weight decay
# mapped to Eq. 6's λ (docs/theory.md §12.6). A sweep of 5 vs 1438 digits at lr 3e-3 and 1e-2, λ = 0
# and 1.6e-3, changed neither model's copy fraction by more than 0.01 (docs/experiments.md §1), so the
# shared value is not what makes one model memorize.
DIFFUSION_LR = 3e-3
DIFFUSION_WD = 1e-4
DIFFUSION_OPTIMIZER = "adam"


def diffusion_lam(d: int, weight_decay: float = DIFFUSION_WD) -> float:
  """λ of Eq. 6 equivalent to weight decay ``weight_decay`` on a per-pixel loss: λ = d·wd/4
  (docs/theory.md §12.6)."""
  return d * weight_decay / 4


def diffusion_card(x, width: int, steps: int, seeds: int, labels=None,
                   learning_rate: float = DIFFUSION_LR, weight_decay: float = DIFFUSION_WD) -> dict:
  """The data card (:func:`dae_theory.data.data_card`) of diffusion DAEs trained by
  :func:`diffusion_model` on ``x`` with these settings."""
  x = np.asarray(x)
  return data.data_card(x, labels, p=width, lam=diffusion_lam(x.shape[1], weight_decay),
                        optimizer=DIFFUSION_OPTIMIZER, learning_rate=learning_rate, steps=steps,
                        seeds=seeds)


def diffusion_model(key, x, width: int, steps: int, learning_rate: float = DIFFUSION_LR,
                    weight_decay: float = DIFFUSION_WD):
  """Train the time-conditioned DAE (docs/theory.md §9) on ``x`` with λ = :func:`diffusion_lam`;
  return (params, denoiser callable)."""
  try:
    params, _ = diffusion.train(key, x, width, steps, learning_rate=learning_rate,
                                lam=diffusion_lam(x.shape[1], weight_decay),
                                optimizer=DIFFUSION_OPTIMIZER)
  except train.TrainingDiverged as err:
    # One diverged model must not lose the rest of the run: keep its last finite weights (the step
    # that diverged was not applied), say so, and let the sim go on (its samples show it).
    print(f"warning: the diffusion DAE (width {width}, lr {learning_rate:g}, {x.shape[0]} images) "
          f"diverged: {err}. Its last finite weights are used.", file=sys.stderr)
    params = err.result.params
  return params, lambda y, sig, p=params: diffusion.denoise(p, y, sig)


def generate(key, denoiser, n: int, d: int):
  """``n`` samples of the VE sampler, without clamping (see ``sims.image_dae``)."""
  return diffusion.sample(key, denoiser, n, d, clamp=None)


def std_separation(key, mem_params, x_mem, gen_params, x_gen, sigma, draws) -> dict:
  """Fig. 4's comparison: codes h(x + σε) of the memorizing model's training points (``draws`` noise
  draws each; label 1) and of as many of the generalizing model's training points (one draw each;
  label 0); AUROC of std(h) and of −PR (:mod:`dae_theory.detection`), and h of one training point."""
  k1, k2 = jax.random.split(key)
  names = ("std", "neg_participation_ratio")
  # each memorized point repeated ``draws`` times: one score per noise draw (not averaged)
  mem = detection.code_scores(k1, lambda y: model.representation(mem_params, y),
                              jnp.repeat(x_mem, draws, axis=0), sigma, 1, names)
  n = min(x_gen.shape[0], x_mem.shape[0] * draws)
  gen = detection.code_scores(k2, lambda y: model.representation(gen_params, y), x_gen[:n], sigma,
                              1, names)
  lab = np.r_[np.ones(len(mem["std"])), np.zeros(n)]
  auc = {k: detection.auroc(lab, np.r_[mem[k], gen[k]]) for k in names}
  return {"mem_std": mem["std"], "gen_std": gen["std"], "mem_pr": -mem["neg_participation_ratio"],
          "gen_pr": -gen["neg_participation_ratio"], "auroc_std": auc["std"],
          "auroc_pr": auc["neg_participation_ratio"],
          "h_mem": np.asarray(model.representation(mem_params, x_mem[0])),
          "h_gen": np.asarray(model.representation(gen_params, x_gen[0]))}
