r"""Deep denoisers: does the spiky/balanced picture survive beyond two layers? (issue 17, part 4;
docs/experiments.md §7). The paper's Section 4 (Fig. 5, Table 1, Fig. 7, App. B.3) redone on the lab's
own bias-free U-Nets (:func:`deep.unet.plug`), every model trained through the sweep engine
(:func:`dae_theory.sweep.run_sweep`, one compiled program per chunk of models of one width) and saved
with :mod:`deep.checkpoint` (orbax) under ``workdir/checkpoints`` so the figure never retrains and a
rerun of the same config reloads instead of training.

**Data** (``dataset``): scikit-learn digits upsampled to ``side`` × ``side`` (default 16), 16 × 16 grey
patches of the two sample photographs, anti-aliased disks (a known low-dimensional family) or a user's
folder of images (``folder``, 32 × 32 by default). Rows are centred by the training pool's mean (as
every sim of the lab: the copy labels, the manifold guard and the Wiener filter work in centred
coordinates); a held-out split is kept apart.

**One recipe.** Every model (every N, every seed, memorizing or generalizing, hybrid) is the same
U-Net (``width`` base channels, ``channel_mult`` per level, bias-free) trained with the same Adam
(cosine decay) learning rate, λ = d·wd/4 (``weight_decay``, as :func:`sims._common.diffusion_lam`),
``steps`` and minibatch ``batch_size``; only the data differ. The loss is the plug's noise-level
balanced loss (σ log-uniform in [σ_min, σ_max], its λ(σ) weight; :mod:`deep.unet`).

Four experiments:

* **Transition grid.** For each N in ``sizes`` and each of ``seeds`` model seeds, A_s on the first N
  pool rows and B_s on the last N (disjoint), one sweep per half (configs differ by N and seed; the
  engine's common random numbers make seed s's init and noise independent of N). The lenses of
  ``sims.transition`` on A_s: memorized fraction (scale-aware copy label), RMSE to the Wiener filter
  of A's data and the linearity score on held-out inputs at ``lens_sigma``, the disjoint-data sample
  cosine of A_s and B_s, and the Jacobian of D at ``n_jacobian`` noisy training inputs: tr J
  (effective dimension, Kadkhodaie et al. 2024) at every σ of ``jacobian_sigmas``, and the top
  eigenvector's max |cosine| to a training image minus its chance level. The transition N of each lens
  is :func:`sims.transition.fit_lens` (:func:`dae_theory.lenses.fit_transition`, the same fitted
  sigmoid in log N, Student-t interval over model seeds). The top eigenvectors at one input are kept
  as images for N = min and max (seed 0).
* **Fig. 5's analogue.** The memorizing model is A_s at the smallest N, the generalizing one A_s at
  the largest N (same recipe). std(h) of the spatially max-pooled code at tap ``tap`` (and at every
  tap, for the per-layer medians) at each model's noisy training images (σ = ``probe_sigma``,
  ``draws`` noise draws per memorized image), and one training image's code.
* **Table 1's analogue inside one model** (``sims.detection``'s duplication spectrum, unchanged): the
  first ``det_n`` pool images plus K = len(``multiplicities``) pairwise-obtuse images duplicated to m
  copies each (seed s rotates which image gets which m); ``det_seeds`` models, ``samples`` samples
  each, labelled by :func:`sims.detection.sample_groups`; scores (high = memorized) of every finite
  sample at **every tap** (std(h) and the scale-free metrics of :data:`dae_theory.detection.SCORES`,
  max-pooled, at each σ of ``det_sigmas``) beside the baselines of the two-layer benchmark
  (nearest-training distance (oracle), denoising error and, with ``jacobian_baseline``, the
  Jacobian's effective rank at σ = ``baseline_sigma``); rows by :func:`sims.detection.evaluate_rows`
  (within-model AUROC and TPR@1%FPR averaged over models, two-level bootstrap over model seeds).
* **Steering** (Eq. 11, digits only: it needs a classifier) at tap ``steer_tap``:
  h ↦ h + a·v with v the spatial-mean-pooled code of a target class's training images, inside the
  window σ ∈ [``sigma_lo``, ``sigma_hi``] (:func:`deep.unet.steered_denoiser`), a = a_rel·mean‖h̄‖/‖v‖
  over the model's own data, for the memorizing and generalizing models of every seed; P(target) by a
  logistic regression on the raw images; the non-saturating metrics of
  :func:`dae_theory.steering.transition_metrics` with the on-manifold guard (``guard="on"``) and
  unguarded, beside the pixel-interpolation baseline, as ``sims.steering`` does.

**Scale** (``scale``): ``cpu`` (the default) trains small nets briefly; ``gpu`` a larger documented
configuration (32 × 32, wider, longer, more seeds). A field left at 0 (or empty) takes its scale's
value (:data:`SCALES`); the resolved settings are stored in ``summary.json`` (``settings``).

  python -m sims.deep_denoiser --workdir runs/deep_denoiser        # cpu scale (README: cost)
  python -m sims.deep_denoiser --scale gpu --workdir runs/deep_gpu  # on an accelerator
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, detection, diffusion, images, io, lenses, steering
from dae_theory.sweep import Configs, config_params, run_sweep
from sims import detection as det_sim
from sims._common import diffusion_card, diffusion_lam, memorization_set
from sims._flags import require
from sims.transition import fit_lens

DATASETS = ("digits", "patches", "disks", "folder")
TRANSITION = {
    "representation": "copy_fraction",
    "gaussian": "rmse_gaussian",
    "linearity": "ls_heldout",
    "agreement": "pair_cosine_mean",
    "jacobian": "jac_alignment_excess",
}
KINDS = ("mem", "gen", "pixel")
KIND_NAMES = {"mem": "memorizing", "gen": "generalizing", "pixel": "pixel interpolation"}
STEER_METRICS = ("width", "max_slope", "jump_share", "reached")

# The two scales: every Config field left at 0 / () takes these values.
SCALES = {
    "cpu": dict(side=16, width=8, channel_mult=(1, 2), steps=1500, batch_size=32,
                sizes=(8, 32, 128, 512), seeds=4, det_seeds=5, det_n=256, samples=200,
                n_samples=64, chunk_size=1),
    "gpu": dict(side=32, width=32, channel_mult=(1, 2, 2), steps=20_000, batch_size=128,
                sizes=(8, 16, 32, 64, 128, 256, 512), seeds=5, det_seeds=10, det_n=1024,
                samples=1000, n_samples=200, chunk_size=16),
}
RESOLVED = tuple(SCALES["cpu"])


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction. A field in
  :data:`RESOLVED` left at 0 / () takes the value of ``scale`` (:data:`SCALES`)."""

  scale: str = dataclasses.field(default="cpu", metadata={
      "help": "cpu | gpu: the defaults of side, width, channel_mult, steps, batch_size, sizes, seeds, "
              "det_seeds, det_n, samples, n_samples (module docstring)"})
  dataset: str = dataclasses.field(default="digits", metadata={"help": f"one of {DATASETS}"})
  folder: str = dataclasses.field(default="", metadata={
      "help": "image folder for --dataset folder (read at --side, default 32)"})
  side: int = dataclasses.field(default=0, metadata={"help": "image side (0: the scale's)"})
  width: int = dataclasses.field(default=0, metadata={"help": "U-Net base channels (0: the scale's)"})
  channel_mult: tuple[int, ...] = ()
  bias: bool = False
  chunk_size: int = dataclasses.field(default=0, metadata={
      "help": "models per compiled sweep chunk (0: the scale's; cpu 1: on CPU a vmapped group of 8 "
              "U-Nets ran 2.1x slower per model than one model per chunk, README)"})
  steps: int = 0
  batch_size: int = 0
  learning_rate: float = 2e-3
  weight_decay: float = dataclasses.field(default=1e-4, metadata={
      "help": "weight decay as lambda = d*wd/4 (sims._common.diffusion_lam)"})
  sizes: tuple[int, ...] = ()
  seeds: int = dataclasses.field(default=0, metadata={"help": "model seeds per N (>= 2)"})
  n_samples: int = dataclasses.field(default=0, metadata={"help": "samples per transition model"})
  n_heldout: int = 200
  lens_sigma: float = 0.2
  pairs: int = 50
  n_jacobian: int = 4
  jacobian_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
  eigen_images: int = 6
  tap: str = dataclasses.field(default="mid", metadata={"help": "the tap of Fig. 5's analogue"})
  probe_sigma: float = 0.1
  draws: int = 8
  multiplicities: tuple[int, ...] = (1, 10, 30, 100, 300)
  obtuse_margin: float = 0.0
  det_seeds: int = 0
  det_n: int = 0
  samples: int = dataclasses.field(default=0, metadata={"help": "samples per detection model"})
  det_sigmas: tuple[float, ...] = (0.05, 0.2)
  baseline_sigma: float = 0.05
  jacobian_baseline: bool = dataclasses.field(default=False, metadata={
      "help": "also the Jacobian effective-rank baseline (d Jacobian-vector products per sample: "
              "about 270 s of the cpu run under load, so off by default; pass it for --scale gpu runs)"})
  min_positives: int = 5
  n_boot: int = 300
  steer_tap: str = "mid"
  a_max: float = 3.0
  levels: int = 7
  paths: int = 12
  sigma_lo: float = 1.0
  sigma_hi: float = 10.0
  sampler_levels: int = 60
  sigma_min: float = dataclasses.field(default=0.01, metadata={
      "help": "smallest training noise level (log-uniform σ; also the sampler's last level)"})
  sigma_max: float = dataclasses.field(default=10.0, metadata={
      "help": "largest training noise level (the sampler starts there)"})
  seed: int = 0

  def __post_init__(self):
    if self.scale not in SCALES:
      raise ValueError(f"--scale must be one of {tuple(SCALES)}, got {self.scale!r}.")
    if self.dataset not in DATASETS:
      raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}.")
    if self.dataset == "folder" and not self.folder:
      raise ValueError("--dataset folder needs --folder (a folder of .png/.jpg images).")
    v = self.resolved()
    if v["side"] < 4 or v["side"] % (2 ** (len(v["channel_mult"]) - 1)):
      raise ValueError(f"--side must be >= 4 and divisible by 2**(levels - 1) = "
                       f"{2 ** (len(v['channel_mult']) - 1)} (--channel_mult has "
                       f"{len(v['channel_mult'])} levels), got {v['side']}.")
    if not v["channel_mult"] or min(v["channel_mult"]) < 1:
      raise ValueError(f"--channel_mult must be integers >= 1, got {list(v['channel_mult'])}.")
    s = v["sizes"]
    if len(s) < 4 or min(s) < 2 or list(s) != sorted(set(s)):
      raise ValueError(f"--sizes must be >= 4 increasing sizes >= 2 (the fitted sigmoid has 4 "
                       f"parameters), got {list(s)}.")
    for name in ("width", "steps", "batch_size", "n_samples", "samples", "det_n", "chunk_size"):
      if v[name] < 1:
        raise ValueError(f"--{name} must be >= 1, got {v[name]}.")
    if v["seeds"] < 2:
      raise ValueError(f"--seeds must be >= 2 (intervals are over model seeds), got {v['seeds']}.")
    if v["det_seeds"] < 2:
      raise ValueError(f"--det_seeds must be >= 2 (intervals are over model seeds), got "
                       f"{v['det_seeds']}.")
    m = self.multiplicities
    if len(m) < 2 or min(m) < 1 or any(b <= a for a, b in zip(m, m[1:])):
      raise ValueError(f"--multiplicities must be at least 2 increasing integers >= 1, got {list(m)}.")
    for name in ("jacobian_sigmas", "det_sigmas"):
      if not getattr(self, name) or min(getattr(self, name)) <= 0:
        raise ValueError(f"--{name} must be a non-empty list of values > 0, got "
                         f"{list(getattr(self, name))}.")
    require(self, ("n_heldout", "pairs", "n_jacobian", "eigen_images", "draws", "min_positives",
                   "n_boot", "paths"), ">= 1", lambda x: x >= 1)
    require(self, ("levels", "sampler_levels"), ">= 2", lambda x: x >= 2)
    require(self, ("learning_rate", "lens_sigma", "probe_sigma", "baseline_sigma", "a_max"), "> 0",
            lambda x: x > 0)
    require(self, ("weight_decay", "obtuse_margin", "sigma_lo"), ">= 0", lambda x: x >= 0)
    require(self, ("sigma_hi",), f"> --sigma_lo = {self.sigma_lo}", lambda x: x > self.sigma_lo)
    require(self, ("sigma_min",), "> 0", lambda x: x > 0)
    require(self, ("sigma_max",), f"> --sigma_min = {self.sigma_min}", lambda x: x > self.sigma_min)

  def resolved(self) -> dict:
    """The fields of :data:`RESOLVED` with the scale's value where the field is 0 / ()."""
    base = dict(SCALES[self.scale])
    if self.dataset == "folder":
      base["side"] = 32
    return {k: (getattr(self, k) or base[k]) for k in RESOLVED}

  @classmethod
  def smoke(cls) -> "Config":
    return cls(side=8, width=4, channel_mult=(1,), steps=40, batch_size=16, sizes=(4, 8, 16, 32), seeds=2, n_samples=8,
               n_heldout=40, pairs=8, n_jacobian=2, jacobian_sigmas=(0.1, 1.0), eigen_images=2,
               draws=2, multiplicities=(1, 30), det_seeds=2, det_n=40, samples=16,
               det_sigmas=(0.2,), n_boot=20, levels=3, paths=3, sampler_levels=8, min_positives=1,
               jacobian_baseline=False)


# --- data ------------------------------------------------------------------------------------------

def load(cfg: Config) -> dict:
  """The training pool and held-out rows (both centred by the pool's mean, float32), the pool's
  labels (−1: none), the mean and the side. Digits and patches use their loaders' seeded splits;
  disks and a folder are split 80/20 with ``numpy.random.default_rng(seed)``."""
  side = cfg.resolved()["side"]
  if cfg.dataset == "digits":
    sp = images.digits(seed=cfg.seed, side=side)
    pool, held, labels, held_labels = sp.train, sp.test, sp.train_labels, sp.test_labels
  elif cfg.dataset == "patches":
    sp = images.photo_patches(n=2000, side=side, seed=cfg.seed)
    pool, held, labels, held_labels = sp.train, sp.test, np.full(len(sp.train), -1), None
  else:
    if cfg.dataset == "disks":
      x = np.asarray(images.disks(2000, side=side, seed=cfg.seed))
    else:
      got = images.image_folder(cfg.folder, side=side)
      x = got.x
      if len(x) < 10:
        raise ValueError(f"--folder {cfg.folder}: {len(x)} readable images (need >= 10 for a "
                         f"training pool and a held-out split); skipped: {got.skipped[:3]}")
    order = np.random.default_rng(cfg.seed).permutation(len(x))
    cut = len(x) - len(x) // 5
    pool, held, labels, held_labels = x[order[:cut]], x[order[cut:]], np.full(cut, -1), None
  pool, held = np.asarray(pool, np.float32), np.asarray(held, np.float32)
  need = 2 * max(cfg.resolved()["sizes"])
  if len(pool) < need:
    raise ValueError(f"--sizes: disjoint halves of N = {max(cfg.resolved()['sizes'])} need "
                     f"{need} training images, the {cfg.dataset} pool has {len(pool)}.")
  mean = pool.mean(0)
  return {"pool": pool - mean, "held": (held - mean)[:cfg.n_heldout], "labels": np.asarray(labels),
          "held_all": held - mean, "held_labels": held_labels, "mean": mean, "side": side}


# --- models ----------------------------------------------------------------------------------------

def make_plug(cfg: Config):
  from deep import unet

  v = cfg.resolved()
  return unet.plug(channel_mult=tuple(v["channel_mult"]), bias=cfg.bias, side=v["side"],
                   sigma_min=cfg.sigma_min, sigma_max=cfg.sigma_max, probe_sigma=cfg.probe_sigma)


def sampler_sigmas(cfg: Config) -> np.ndarray:
  """The sampler's grid (:func:`dae_theory.diffusion.sigma_grid`: ``sampler_levels`` geometric levels
  from σ_max down to σ_min, then 0) over the noise range the plug trains on."""
  return diffusion.sigma_grid(cfg.sampler_levels, cfg.sigma_max, cfg.sigma_min)


def train_rows(cfg: Config) -> int:
  """Rows of the one padded data matrix every sweep of the run trains on (the largest training set:
  the transition pool's largest N or the detection set with its duplicates), so that every sweep has
  the same shapes and the chunk program compiles once (the engine reads n rows of it per config)."""
  v = cfg.resolved()
  det = v["det_n"] + sum(cfg.multiplicities) - len(cfg.multiplicities)
  return max(max(v["sizes"]), det)


def train_models(key, x, seeds, ns, cfg: Config, plug_, log) -> list:
  """Train one model per (seed, n) pair on the first n rows of ``x`` through the sweep engine
  (:func:`dae_theory.sweep.run_sweep`, ``bucket=True``, ``chunk_size`` configs of one width per
  compiled call), in config order, ``x`` zero-padded to :func:`train_rows` rows (rows past n are
  never drawn); return the per-model params cut back to their width
  (:func:`dae_theory.sweep.config_params`)."""
  v = cfg.resolved()
  rows = train_rows(cfg)
  if len(x) < rows:
    x = np.concatenate([x, np.zeros((rows - len(x), x.shape[1]), x.dtype)])
  lam = diffusion_lam(x.shape[1], cfg.weight_decay)
  configs = Configs(seed=np.asarray(seeds, np.int32), width=np.full(len(seeds), v["width"], np.int32),
                    n=np.asarray(ns, np.int32), sigma=np.ones(len(seeds)),
                    lam=np.full(len(seeds), lam), learning_rate=np.full(len(seeds), cfg.learning_rate))
  log_every = max(1, v["steps"] // 50) if v["steps"] % max(1, v["steps"] // 50) == 0 else 1
  res = run_sweep(key, jnp.asarray(x), configs, steps=v["steps"], batch_size=v["batch_size"],
                  plug=plug_, chunk_size=v["chunk_size"], bucket=True, log_every=log_every, log=log)
  if np.any(res.status >= 0):
    bad = np.flatnonzero(res.status >= 0)
    log(f"warning: {len(bad)} model(s) diverged (configs {bad.tolist()}, first at step "
        f"{int(res.status[bad[0]])}); their last finite weights are used")
  return ([jax.tree.map(jnp.asarray, config_params(res, i, x.shape[1], plug_))
           for i in range(len(seeds))], res.losses, res.status)


def _same(a, b) -> bool:
  return json.dumps(io.to_jsonable(a), sort_keys=True) == json.dumps(io.to_jsonable(b), sort_keys=True)


def checkpointed(workdir: str, name: str, meta: dict, train) -> tuple[list, float | None]:
  """The ``meta["models"]`` params saved at ``workdir/checkpoints/<name>_<i>`` (:mod:`deep.checkpoint`,
  orbax): loaded when every saved meta equals ``meta`` (with its index), else ``train()`` (returning
  the list of params) is run, timed, and each model saved.

  Returns:
    ``(params, seconds)``: the training wall time, or None when the checkpoints were reloaded.
  """
  from deep import checkpoint

  root = os.path.join(os.path.abspath(workdir), "checkpoints")
  paths = [os.path.join(root, f"{name}_{i}") for i in range(meta["models"])]
  if all(os.path.exists(p) for p in paths):
    try:
      loaded = [checkpoint.load(p) for p in paths]
    except ValueError:  # truncated or corrupt: retrain (and overwrite below)
      loaded = None
    if loaded and all(_same(m, dict(meta, index=i)) for i, (_, m) in enumerate(loaded)):
      return [jax.tree.map(jnp.asarray, p) for p, _ in loaded], None
  t = time.perf_counter()
  params = train()
  jax.block_until_ready(params)
  seconds = time.perf_counter() - t
  os.makedirs(root, exist_ok=True)
  for i, (p, path) in enumerate(zip(params, paths)):
    # overwrite: only this workdir's own checkpoint of an earlier config of this run (the sim's
    # workdir check refuses a workdir holding another run) or a corrupt one is ever replaced
    checkpoint.save(path, jax.tree.map(np.asarray, p), io.to_jsonable(dict(meta, index=i)),
                    overwrite=True)
  return params, seconds


@functools.lru_cache(maxsize=None)
def _fns(plug_):
  """Jitted functions of a plug (params traced), compiled once per shape and shared by every model:
  ``den(params, y, sigma)``, ``sample(key, params, sigmas, n, d)`` (the VE sampler, no clamping, as
  every sim of the lab), ``codes(params, y, sigma) -> {tap: max-pooled code}`` and
  ``steer(key, params, v, a_grid, sigmas, tap, window, n, d) -> (levels, n, d)``."""
  from deep import unet

  den = jax.jit(plug_.denoise)

  @functools.partial(jax.jit, static_argnames=("n", "d"))
  def sample(key, params, sigmas, n, d):
    return diffusion.sample(key, lambda y, s: plug_.denoise(params, y, s), n, d, sigmas=sigmas,
                            clamp=None)

  @jax.jit
  def codes(params, y, sigma):
    return {t: unet.pool(h, "max") for t, h in unet.taps(params, y, sigma).items()}

  @functools.partial(jax.jit, static_argnames=("tap", "window", "n", "d"))
  def steer(key, params, v, a_grid, sigmas, tap, window, n, d):
    return jax.vmap(lambda a: diffusion.sample(
        key, unet.steered_denoiser(params, tap, v, a, window=window), n, d, sigmas=sigmas,
        clamp=None))(a_grid)

  return den, sample, codes, steer


def _den(plug_, params):
  den = _fns(plug_)[0]
  return lambda y, s: den(params, y, s)


def _batched(fn, y, size: int = 512):
  """``fn`` over the rows of ``y`` in batches (bounded memory), concatenated (a dict per tap too)."""
  outs = [fn(y[i:i + size]) for i in range(0, len(y), size)]
  if isinstance(outs[0], dict):
    return {k: jnp.concatenate([o[k] for o in outs]) for k in outs[0]}
  return jnp.concatenate(outs)


# --- the transition grid and its lenses ------------------------------------------------------------

def measure_lenses(key, cfg: Config, plug_, pa, pb, x_a, held, basis_d) -> dict:
  """The lenses of one (N, seed) on A = ``pa`` (trained on ``x_a``), B = ``pb`` (disjoint data);
  ``sims.transition.measure_one``'s definitions with the deep model's denoiser."""
  v = cfg.resolved()
  _, sample, _, _ = _fns(plug_)
  d = x_a.shape[1]
  den_a = _den(plug_, pa)
  sig = jnp.asarray(sampler_sigmas(cfg), jnp.float32)
  ks = jax.random.fold_in(key, 1)
  sa, sb = (np.asarray(sample(ks, p, sig, v["n_samples"], d), np.float64) for p in (pa, pb))
  ok = np.isfinite(sa).all(1)
  x_np = np.asarray(x_a, np.float64)
  is_copy = np.zeros(len(sa), bool)
  cos = np.full(len(sa), np.nan)
  if ok.any():
    rep = copies.copy_report(sa[ok], x_np)
    is_copy[ok], cos[ok] = rep.is_copy, rep.cosine
  out = {"copy_fraction": float(is_copy.mean()), "nonfinite": int((~ok).sum()),
         "cosine_fraction": float(np.mean(np.nan_to_num(cos, nan=-2.0) >= copies.COSINE_COPY))}
  s = cfg.lens_sigma
  out["ls_heldout"] = float(lenses.linearity_profile(jax.random.fold_in(key, 3), den_a, held, [s],
                                                     cfg.pairs).scores[0])
  out["rmse_gaussian"] = float(lenses.wiener_gap_profile(jax.random.fold_in(key, 4), den_a, x_a,
                                                         held, [s]).rmse[0])
  both = ok & np.isfinite(sb).all(1)
  out["pair_cosine_mean"] = (float(np.mean(lenses.pair_cosine(sa[both], sb[both])))
                             if both.any() else float("nan"))
  centres = np.resize(x_np, (cfg.n_jacobian, d)).astype(np.float32)
  eps = jax.random.normal(jax.random.fold_in(key, 20), centres.shape, jnp.float32)
  trace, eig = [], []
  for sj in cfg.jacobian_sigmas:
    spec = lenses.jacobian_spectrum(den_a, jnp.asarray(centres) + sj * eps, float(sj))
    trace.append(float(spec.effective_dim.mean()))
    eig.append(spec.eigenvalues.mean(0))
    if abs(sj - s) < 1e-12 or sj == min(cfg.jacobian_sigmas, key=lambda q: abs(q - s)):
      spec_s = spec
  align, _ = lenses.top_alignment(spec_s, x_np, basis_d)
  out.update(jac_trace=np.array(trace), jac_eigenvalues=np.stack(eig),
             jac_sample_alignment=float(align.mean()),
             eigvecs=spec_s.eigenvectors[0, :, :cfg.eigen_images].T, samples_a=sa[:16])
  return out


def transition_grid(cfg: Config, data: dict, plug_, workdir: str, log) -> dict:
  """Train the A and B halves of the grid (N × seeds each; checkpointed), measure every lens."""
  v = cfg.resolved()
  pool, held = data["pool"], jnp.asarray(data["held"])
  sizes, seeds = list(v["sizes"]), v["seeds"]
  n_max = max(sizes)
  halves = {"a": pool[:n_max], "b": pool[::-1][:n_max]}
  seed_col = [s for _ in sizes for s in range(seeds)]
  n_col = [n for n in sizes for _ in range(seeds)]
  root = jax.random.key(cfg.seed)
  params, secs = {}, {}
  for hi, (half, x) in enumerate(halves.items()):
    meta = {"what": f"transition half {half}", "config": io.to_jsonable(cfg), "seeds": seed_col,
            "sizes": n_col, "models": len(seed_col)}
    key = jax.random.fold_in(root, 10 + hi)
    params[half], secs[half] = checkpointed(
        workdir, f"transition_{half}", meta,
        lambda x=x, key=key: train_models(key, x, seed_col, n_col, cfg, plug_, log)[0])
    log(f"[deep] transition half {half}: {len(seed_col)} models " + (
        "reloaded from checkpoints" if secs[half] is None else f"trained in {secs[half]:.0f} s"))
  basis = np.linalg.svd(pool, full_matrices=False)[2][:10].T
  per = {}
  for i, (s, n) in enumerate(zip(seed_col, n_col)):
    key = jax.random.fold_in(jax.random.fold_in(root, 20), i)
    m = measure_lenses(key, cfg, plug_, params["a"][i], params["b"][i], jnp.asarray(pool[:n]), held,
                       basis)
    base = lenses.random_alignment_baseline(jax.random.fold_in(root, 30 + i), pool.shape[1], 1, n, 0)
    m["jac_alignment_excess"] = m["jac_sample_alignment"] - base.exact_mean
    per[(n, s)] = m
  log(f"[deep] lenses measured on {len(per)} models")
  out = {}
  for k in ("copy_fraction", "cosine_fraction", "nonfinite", "ls_heldout", "rmse_gaussian",
            "pair_cosine_mean", "jac_sample_alignment", "jac_alignment_excess", "jac_trace",
            "jac_eigenvalues"):
    out[f"lens/{k}"] = np.array([[per[(n, s)][k] for n in sizes] for s in range(seeds)])
  for tag, n in (("mem", sizes[0]), ("gen", sizes[-1])):
    out[f"{tag}_eigvecs"] = per[(n, 0)]["eigvecs"]
    out[f"{tag}_samples"] = per[(n, 0)]["samples_a"]
  out["_params_a"] = params["a"]
  out["_index"] = {(n, s): i for i, (s, n) in enumerate(zip(seed_col, n_col))}
  out["_train"] = [(len(seed_col), secs[h]) for h in halves]
  return out


# --- Fig. 5's analogue -----------------------------------------------------------------------------

def code_std(key, cfg: Config, plug_, params, x, draws: int) -> dict:
  """std(h) (and the participation ratio) of the max-pooled code at every tap, at ``draws`` noise
  draws (σ = ``probe_sigma``) of each row of ``x``: ``{tap: {"std": (n·draws,), "pr": ...}}``."""
  from dae_theory import metrics

  codes = _fns(plug_)[2]
  y = jnp.repeat(jnp.asarray(x), draws, axis=0)
  y = y + cfg.probe_sigma * jax.random.normal(key, y.shape, y.dtype)
  h = _batched(lambda b: codes(params, b, cfg.probe_sigma), y)
  return {t: {"std": np.asarray(metrics.code_std(v)), "pr": np.asarray(metrics.participation_ratio(v)),
              "code": np.asarray(v[0])} for t, v in h.items()}


def std_comparison(cfg: Config, data: dict, plug_, grid: dict) -> tuple[dict, dict]:
  """Fig. 5's analogue on A_s at the smallest (memorizing) and largest (generalizing) N, per seed:
  std(h) at every tap of each model's noisy training images (the memorizing model's N images get
  ``draws`` draws each, the generalizing model's first N·draws images one draw each), medians per
  tap and seed, and the pooled AUROC of std(h) between the two (a comparison of two models, the
  setting the paper's Fig. 5 shows; ``seed_identity`` says what model identity alone reaches)."""
  v = cfg.resolved()
  sizes, pool = list(v["sizes"]), data["pool"]
  n0, n1 = sizes[0], sizes[-1]
  arrays, table = {}, {}
  for s in range(v["seeds"]):
    k = jax.random.fold_in(jax.random.key(cfg.seed), 40 + s)
    pm = grid["_params_a"][grid["_index"][(n0, s)]]
    pg = grid["_params_a"][grid["_index"][(n1, s)]]
    mem = code_std(jax.random.fold_in(k, 0), cfg, plug_, pm, pool[:n0], cfg.draws)
    gen = code_std(jax.random.fold_in(k, 1), cfg, plug_, pg, pool[:min(n1, n0 * cfg.draws)], 1)
    for t in mem:
      lab = np.r_[np.ones(len(mem[t]["std"])), np.zeros(len(gen[t]["std"]))]
      e = table.setdefault(t, {"mem_median": [], "gen_median": [], "auroc": [], "mem_pr_median": [],
                               "gen_pr_median": []})
      e["mem_median"].append(float(np.median(mem[t]["std"])))
      e["gen_median"].append(float(np.median(gen[t]["std"])))
      e["mem_pr_median"].append(float(np.median(mem[t]["pr"])))
      e["gen_pr_median"].append(float(np.median(gen[t]["pr"])))
      e["auroc"].append(detection.auroc(lab, np.r_[mem[t]["std"], gen[t]["std"]]))
      if s == 0:
        arrays[f"fig5/{t}/mem_std"], arrays[f"fig5/{t}/gen_std"] = mem[t]["std"], gen[t]["std"]
        arrays[f"fig5/{t}/mem_code"], arrays[f"fig5/{t}/gen_code"] = mem[t]["code"], gen[t]["code"]
  return arrays, table


# --- Table 1's analogue: detection inside one model, per tap ---------------------------------------

def score_all(key, cfg: Config, plug_, params, samples, x_train) -> dict:
  """Every score of every (finite) sample, high = memorized: per tap and σ of ``det_sigmas`` the code
  scores of :data:`dae_theory.detection.SCORES` (max-pooled code; :func:`detection.code_scores`),
  and the baselines of ``sims.detection``."""
  codes = _fns(plug_)[2]
  out = {}
  taps_ = None
  for i, s in enumerate(cfg.det_sigmas):
    k = jax.random.fold_in(key, i)
    allh = {}

    def rep(y, s=s):
      h = _batched(lambda b: codes(params, b, s), jnp.asarray(y))
      allh.update(h)
      return h[next(iter(h))]

    # one forward pass for every tap: code_scores draws the noise; the other taps reuse its codes
    first = detection.code_scores(k, rep, samples, s)
    taps_ = list(allh)
    for t in taps_:
      sc = first if t == taps_[0] else detection.code_scores(
          k, lambda y, t=t, s=s: _batched(lambda b: codes(params, b, s)[t], jnp.asarray(y)), samples, s)
      for name, val in sc.items():
        out[f"{t}: {det_sim.SCORE_NAMES[name]}, σ = {s:g}"] = val
  den = _den(plug_, params)
  kb = jax.random.fold_in(key, 99)
  bs = cfg.baseline_sigma
  out[det_sim.NEAREST] = detection.nearest_distance(samples, x_train)
  out[f"denoising error, σ = {bs:g}"] = detection.denoising_error(kb, den, samples, bs)
  if cfg.jacobian_baseline:
    out[f"Jacobian effective rank, σ = {bs:g}"] = detection.jacobian_rank(kb, den, samples, bs)
  return {k: np.asarray(v, np.float64) for k, v in out.items()}


def detection_grid(cfg: Config, data: dict, plug_, workdir: str, log) -> tuple[dict, dict]:
  """Train the ``det_seeds`` hybrid models (checkpointed), sample, label and score; the rows of
  :func:`sims.detection.evaluate_rows` per label."""
  v = cfg.resolved()
  x = data["pool"][:v["det_n"]]
  try:
    points = memorization_set(x, len(cfg.multiplicities), cfg.obtuse_margin)
  except ValueError as err:
    raise ValueError(f"--multiplicities/--det_n (one pairwise-obtuse image each): {err}") from None
  mults = tuple(cfg.multiplicities)
  root = jax.random.fold_in(jax.random.key(cfg.seed), 50)
  sig = jnp.asarray(sampler_sigmas(cfg), jnp.float32)
  _, sample, _, _ = _fns(plug_)
  params, trained = [], []
  for s in range(v["det_seeds"]):
    mult = det_sim.multiplicity_of(len(x), points, mults, s)
    x_train = np.repeat(x, mult, axis=0)
    meta = {"what": f"detection seed {s}", "config": io.to_jsonable(cfg), "models": 1,
            "multiplicity": mult[points].tolist()}
    p, sec = checkpointed(workdir, f"detection_seed{s}", meta, lambda x_train=x_train, s=s:
                          train_models(root, x_train, [s], [len(x_train)], cfg, plug_, log)[0])
    trained.append((1, sec))
    params.append(p[0])
  log(f"[deep] detection: {v['det_seeds']} models, trained in "
      f"{sum(t for _, t in trained if t is not None):.0f} s ({sum(t is None for _, t in trained)} "
      "reloaded)")
  out, groups_all, scores_all, counts = {}, {lab: [] for lab in det_sim.LABELS}, [], {}
  for s, p in enumerate(params):
    mult = det_sim.multiplicity_of(len(x), points, mults, s)
    ks = jax.random.fold_in(root, 100 + s)
    smp = np.asarray(sample(jax.random.fold_in(ks, 1), p, sig, v["samples"], x.shape[1]), np.float64)
    groups, rep = det_sim.sample_groups(smp, x, mult, points)
    ok = groups["copy"] != det_sim.NONFINITE
    sc = score_all(jax.random.fold_in(ks, 2), cfg, plug_, p, jnp.asarray(smp[ok], jnp.float32), x)
    scores_all.append(sc)
    for lab in det_sim.LABELS:
      groups_all[lab].append(groups[lab][ok])
      g = groups[lab]
      counts.setdefault(lab, []).append(
          {"nonfinite": int((g == det_sim.NONFINITE).sum()), "novel": int((g == det_sim.NOVEL).sum()),
           "untracked": int((g == det_sim.UNTRACKED).sum()), **{str(m): int((g == m).sum()) for m in mults}})
      out[f"det/seed{s}_group_{lab}"] = g
    out[f"det/seed{s}_norm_ratio"] = rep["norm_ratio"]
    if s == 0:
      out["det/samples"] = smp[:24]
      out["det/samples_group"] = groups["copy"][:24]
  out["det/points"] = points
  rows = []
  for lab in det_sim.LABELS:
    rows += det_sim.evaluate_rows(cfg.dataset, lab, groups_all[lab], scores_all, mults,
                                  cfg.min_positives, cfg.n_boot, cfg.seed)
  log(f"[deep] detection: {len(rows)} rows")
  return out, {"rows": rows, "counts": counts, "score_names": list(scores_all[0]),
               "label_shown": shown_label(rows, v["det_seeds"]),
               "_train": trained, "points": points.tolist()}


# --- steering --------------------------------------------------------------------------------------

def _targets(labels_mem: np.ndarray) -> tuple[int, int]:
  """(stored, other): the class of the memorizing model's first image, and the smallest class none
  of its images has (ValueError when every class is stored)."""
  stored = sorted(set(int(c) for c in labels_mem))
  free = [c for c in range(10) if c not in stored]
  if not free:
    raise ValueError("--sizes: the smallest N holds every digit class, so no class is 'not stored'; "
                     "lower the smallest size.")
  return int(labels_mem[0]), free[0]


def _steer_score(clf, mean, target, x, a_rel, x_train, x_heldout) -> dict:
  """P(target), the manifold guard and the transition metrics (guarded: on-manifold levels only,
  ``guard="on"``; unguarded: every level of the paths that stay finite) of ``x (levels, paths, d)``,
  as ``sims.steering`` scores its paths."""
  finite = np.all(np.isfinite(x), -1)
  rows = np.where(finite[..., None], x, 0.0) + mean
  col = list(clf.classes_).index(target)
  prob = clf.predict_proba(rows.reshape(-1, x.shape[-1]))[:, col].reshape(x.shape[:2])
  prob = np.where(finite, prob, np.nan)
  rep = steering.on_manifold(x, x_train, x_heldout)
  ok = finite.all(0)
  u = steering.transition_metrics(a_rel, np.where(ok, prob, 0.0), x=np.where(ok[None, :, None], x, 0))
  g = steering.transition_metrics(a_rel, np.nan_to_num(prob), x=np.where(finite[..., None], x, 0),
                                  manifold=rep.on, guard="on")
  out = {"prob": prob, "on": rep.on, "norm_ratio": rep.norm_ratio}
  for tag, m, keep in (("u", u, ok), ("g", g, g["levels_kept"] >= 2)):
    out[f"width_{tag}"] = np.where(keep, m["width_10_90"], np.nan)
    out[f"max_slope_{tag}"] = np.where(keep, m["max_slope"], np.nan)
    out[f"jump_share_{tag}"] = np.where(keep, m["jump_share_even"], np.nan)
    out[f"reached_{tag}"] = np.where(keep, m["reached_90"].astype(float), np.nan)
  return out


def steering_grid(cfg: Config, data: dict, plug_, grid: dict) -> tuple[dict, dict]:
  """Eq. 11 at ``steer_tap`` in the memorizing (smallest N) and generalizing (largest N) A models of
  every seed, toward the stored and the not-stored class; the pixel baseline from the generalizing
  model's a = 0 samples to the class mean."""
  from deep import unet
  from sklearn.linear_model import LogisticRegression

  v = cfg.resolved()
  sizes, pool, held, labels, mean = list(v["sizes"]), data["pool"], data["held"], data["labels"], data["mean"]
  clf = LogisticRegression(max_iter=2000).fit(pool + mean, labels)
  classes = _targets(labels[:sizes[0]])
  a_rel = np.linspace(0.0, cfg.a_max, cfg.levels)
  window = (float(cfg.sigma_lo), float(cfg.sigma_hi))
  sig = jnp.asarray(sampler_sigmas(cfg), jnp.float32)
  steer = _fns(plug_)[3]
  d = pool.shape[1]
  per: dict = {}
  out: dict = {"steer/a_rel": a_rel, "steer/classes": np.array(classes)}
  for s in range(v["seeds"]):
    for kind, n in (("mem", sizes[0]), ("gen", sizes[-1])):
      p = grid["_params_a"][grid["_index"][(n, s)]]
      x_own = jnp.asarray(pool[:n])
      mean_rep = lambda y, p=p: unet.pool(unet.taps(p, y, cfg.probe_sigma)[cfg.steer_tap], "mean")
      norm_h = float(jnp.mean(jnp.linalg.norm(mean_rep(x_own), axis=1)))
      for t, cls in zip(("stored", "other"), classes):
        vv = steering.mean_representation(mean_rep, jnp.asarray(pool[labels == cls]))
        a = jnp.asarray(a_rel * norm_h / max(float(jnp.linalg.norm(vv)), 1e-12), jnp.float32)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 60 + s), 0)
        paths = np.asarray(steer(key, p, vv, a, sig, cfg.steer_tap, window, cfg.paths, d), np.float64)
        per.setdefault((kind, t), []).append(_steer_score(clf, mean, cls, paths, a_rel, pool, held))
        if s == 0 and t == "stored":
          out[f"steer/{kind}_strip"] = paths[:, :4]
        if kind == "gen":
          src_ok = np.all(np.isfinite(paths[0]), 1)
          pix = steering.pixel_interpolation(np.where(src_ok[:, None], paths[0], 0.0),
                                             pool[labels == cls].mean(0), a_rel)
          pix[:, ~src_ok] = np.nan
          per.setdefault(("pixel", t), []).append(_steer_score(clf, mean, cls, pix, a_rel, pool, held))
          if s == 0 and t == "stored":
            out["steer/pixel_strip"] = pix[:, :4]
  table: dict = {}
  for (kind, t), rows in per.items():
    out[f"steer/{kind}_{t}_prob"] = np.stack([r["prob"] for r in rows])  # (seeds, levels, paths)
    out[f"steer/{kind}_{t}_on"] = np.stack([r["on"] for r in rows])
    entry = {}
    for m in STEER_METRICS:
      for tag in ("g", "u"):
        entry[f"{m}_{tag}"] = steering.seed_bootstrap(np.stack([r[f"{m}_{tag}"] for r in rows]),
                                                      cfg.n_boot, seed=cfg.seed)._asdict()
    on = out[f"steer/{kind}_{t}_on"]
    entry["off_fraction"] = steering.seed_bootstrap(1.0 - on.mean(1), cfg.n_boot,
                                                    seed=cfg.seed)._asdict()
    table.setdefault(kind, {})[t] = entry
  acc = (None if data["held_labels"] is None else
         float(clf.score(data["held_all"] + mean, data["held_labels"])))
  return out, {"metrics": table, "classes": list(classes), "classifier_test_accuracy": acc}


# --- the run ---------------------------------------------------------------------------------------

def _iv(e: dict, digits: int = 3) -> str:
  if e is None or not isinstance(e.get("mean"), float) or not np.isfinite(e["mean"]):
    return "n/a"
  return f"{e['mean']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


def best_rows(rows: list, group, label: str = "copy") -> list:
  """The rows of ``group`` (a multiplicity or :data:`sims.detection.ANY`) under ``label`` that have a
  number, best AUROC first."""
  got = [r for r in rows if r["label"] == label and r["group"] == group and r["auroc"] is not None]
  return sorted(got, key=lambda r: -r["auroc"])


def shown_label(rows: list, n_models: int) -> str | None:
  """The label whose numbers the summary and the figure show: the first of ``sims.detection.LABELS``
  (copy, distance ratio, direction: strictest first) whose "any duplicated point" rows have a number
  from at least half of the ``n_models`` models (a label with positives in fewer models is too thin
  to stand for the benchmark); None when no label has one."""
  for label in det_sim.LABELS:
    got = [r for r in rows if r["label"] == label and r["group"] == det_sim.ANY
           and r["auroc"] is not None]
    if got and 2 * got[0]["models"] >= n_models:
      return label
  return None


def summary_lines(cfg: Config, s: dict) -> list[str]:
  """The lines printed and stored in ``summary.json`` (from the summary dict alone)."""
  v = s["settings"]
  lines = [f"{cfg.dataset} {v['side']}x{v['side']}, U-Net base width {v['width']}, channel_mult "
           f"{list(v['channel_mult'])}, bias {cfg.bias}, {s['n_params']} parameters; {v['steps']} Adam "
           f"steps (lr {cfg.learning_rate:g}, cosine), batch {v['batch_size']}, λ = {s['lam']:.3g}; "
           f"scale {cfg.scale}; {s['models']} models ({s['models_trained']} trained in this run, "
           f"{s['seconds']['train']:.0f} s of training"
           + (f", {s['model_steps_per_s']:.0f} model-steps/s" if s["model_steps_per_s"] else "")
           + f"), {s['seconds']['total']:.0f} s in all"]
  f5 = s["fig5"]
  for t, e in f5.items():
    lines.append(f"Fig. 5 analogue, tap {t}: median std(h) memorizing (N = {v['sizes'][0]}) "
                 f"{np.mean(e['mem_median']):.3g} vs generalizing (N = {v['sizes'][-1]}) "
                 f"{np.mean(e['gen_median']):.3g} (means over {len(e['mem_median'])} seeds of the "
                 f"per-model medians; per seed {np.round(e['mem_median'], 3).tolist()} vs "
                 f"{np.round(e['gen_median'], 3).tolist()}); pooled AUROC of std(h) "
                 f"{np.round(e['auroc'], 3).tolist()}")
  counts = s["detection"]["counts"]["copy"]
  lines.append(f"detection ({v['det_seeds']} model seeds, {v['samples']} samples each): copies per "
               "multiplicity, copy label: " + ", ".join(
                   f"m = {m}: {sum(c[str(m)] for c in counts)}" for m in cfg.multiplicities)
               + f"; untracked {sum(c['untracked'] for c in counts)}; non-finite "
               f"{sum(c['nonfinite'] for c in counts)}")
  for lab in det_sim.LABELS:
    c = s["detection"]["counts"][lab]
    lines.append(f"  {lab} label: positives per multiplicity " + ", ".join(
        f"m = {m}: {sum(x[str(m)] for x in c)} (in {sum(x[str(m)] > 0 for x in c)} models)"
        for m in cfg.multiplicities))
  lab = s["detection"]["label_shown"]
  if lab is None:
    lines.append("detection: no label has positives in half of the models; no number")
  else:
    rows = [r for r in s["detection"]["rows"] if r["label"] == lab and r["group"] == det_sim.ANY]
    r0 = next(r for r in rows if r["auroc"] is not None)
    lines.append(f"detection per tap, {lab} label, any duplicated point ({r0['n_pos']} positives, "
                 f"{r0['n_neg']} negatives, {r0['models']} models; within-model AUROC and TPR@1%FPR, "
                 f"95% CI over model seeds):")
    for r in rows:
      if r["auroc"] is not None and (r["score"].split(": ")[-1].startswith(("std(h)", "participation"))
                                     or ":" not in r["score"]):
        lines.append(f"  {r['score']}: AUROC {r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, "
                     f"{r['auroc_ci'][1]:.3f}], TPR {r['tpr']:.3f} [{r['tpr_ci'][0]:.3f}, "
                     f"{r['tpr_ci'][1]:.3f}]")
    best = best_rows(s["detection"]["rows"], det_sim.ANY, lab)
    lines.append(f"  best score: {best[0]['score']} (AUROC {best[0]['auroc']:.3f})")
  st = s.get("steering")
  if st:
    lines.append(f"steering at tap {cfg.steer_tap}, class {st['classes'][0]} (stored) and "
                 f"{st['classes'][1]} (not stored); 95% intervals over {v['seeds']} model seeds:")
    for t in ("stored", "other"):
      for kind in KINDS:
        e = st["metrics"][kind][t]
        lines.append(f"  {t}, {KIND_NAMES[kind]}: guarded width {_iv(e['width_g'])}, max slope "
                     f"{_iv(e['max_slope_g'], 2)}, jump share vs even {_iv(e['jump_share_g'], 2)}, "
                     f"reached 0.9 {_iv(e['reached_g'], 2)}; unguarded width {_iv(e['width_u'])}, "
                     f"off-manifold points {_iv(e['off_fraction'], 2)}")
  else:
    lines.append(f"steering: not run ({s.get('steering_note', '')})")
  for lens, f in s["fits"].items():
    ok = sum(f["identified"])
    if ok:
      lo, hi = f["interval"]
      iv = f", 95% t-interval [{lo:.0f}, {hi:.0f}]" if np.isfinite(lo) else ""
      text = f"{f['center']:.0f} ({ok}/{len(f['identified'])} seeds identified{iv})"
    else:
      text = f"not identified ({f['reasons'][0]})"
    lines.append(f"transition N ({lens}): {text}")
  lc = s["lens_means"]
  lines.append(f"lens means over seeds per N {list(v['sizes'])}: " + "; ".join(
      f"{k} {np.round(val, 3).tolist()}" for k, val in lc.items()))
  return lines


def tap_names(cfg: Config) -> tuple[str, ...]:
  """The U-Net's tap names in network order for this config's number of levels."""
  from deep import unet

  return tuple(unet.tap_names(len(cfg.resolved()["channel_mult"])))


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train (or reload) every model, measure, write the run record to ``workdir`` (``summary.json``:
  ``lines``, ``settings`` (resolved), ``fig5`` (per tap), ``detection`` (``rows``, ``counts``),
  ``steering`` (``metrics``), ``fits`` (per lens), ``lens_means``, ``data_cards``, ``seconds``,
  ``model_steps_per_s``); return ``{"arrays", "summary"}``."""
  started = time.time()
  log = log or (lambda *_: None)
  os.makedirs(workdir, exist_ok=True)
  v = cfg.resolved()
  names = tap_names(cfg)
  for flag in ("tap", "steer_tap"):
    if getattr(cfg, flag) not in names:
      raise ValueError(f"--{flag} must be one of the U-Net's taps {list(names)} (--channel_mult has "
                       f"{len(v['channel_mult'])} levels), got {getattr(cfg, flag)!r}.")
  data = load(cfg)
  plug_ = make_plug(cfg)
  d = data["pool"].shape[1]
  secs = {}
  t = time.time()
  grid = transition_grid(cfg, data, plug_, workdir, log)
  secs["transition"] = time.time() - t
  t = time.time()
  det_arrays, det = detection_grid(cfg, data, plug_, workdir, log)
  secs["detection"] = time.time() - t
  t = time.time()
  fig5_arrays, fig5 = std_comparison(cfg, data, plug_, grid)
  fig5 = {tap: fig5[tap] for tap in names}  # network order
  secs["fig5"] = time.time() - t
  t = time.time()
  steer_arrays, steer, note = {}, None, ""
  if cfg.dataset == "digits":
    steer_arrays, steer = steering_grid(cfg, data, plug_, grid)
  else:
    note = f"the {cfg.dataset} set has no classes for the P(target) classifier; steering needs digits"
  secs["steering"] = time.time() - t
  sizes = list(v["sizes"])
  fits = {lens: fit_lens(sizes, grid[f"lens/{k}"]) for lens, k in TRANSITION.items()}
  runs = grid.pop("_train") + det.pop("_train")  # (models, seconds or None when reloaded)
  trained = sum(m for m, t in runs if t is not None)
  secs["train"] = sum(t for _, t in runs if t is not None)
  secs["total"] = time.time() - started
  n_params = int(sum(np.size(a) for a in jax.tree.leaves(grid["_params_a"][0])))
  arrays = {k: val for k, val in grid.items() if not k.startswith("_")}
  arrays.update(det_arrays)
  arrays.update(fig5_arrays)
  arrays.update(steer_arrays)
  arrays.update(sizes=np.array(sizes), jacobian_sigmas=np.array(cfg.jacobian_sigmas),
                side=np.array(v["side"]), mean=data["mean"], train_images=data["pool"][:16])
  lens_means = {k: np.nanmean(grid[f"lens/{k}"], 0).tolist() for k in TRANSITION.values()}
  cards = {f"N = {n}": diffusion_card(data["pool"][:n], v["width"], v["steps"], v["seeds"],
                                      None if data["labels"].min() < 0 else
                                      np.unique(data["labels"][:n], return_inverse=True)[1],
                                      cfg.learning_rate, cfg.weight_decay)
           for n in (sizes[0], sizes[-1])}
  x_det = np.repeat(data["pool"][:v["det_n"]], det_sim.multiplicity_of(
      v["det_n"], np.array(det["points"]), cfg.multiplicities, 0), axis=0)
  cards["detection (seed 0)"] = diffusion_card(x_det, v["width"], v["steps"], v["det_seeds"], None,
                                               cfg.learning_rate, cfg.weight_decay)
  for c in cards.values():
    c["p"], c["p_over_d"] = None, None  # a U-Net has no hidden width p in the DAE's sense
  s = {"settings": v, "fig5": fig5, "detection": det, "steering": steer, "steering_note": note,
       "fits": fits, "transition": TRANSITION, "lens_means": lens_means, "data_cards": cards,
       "seconds": secs, "n_params": n_params, "lam": diffusion_lam(d, cfg.weight_decay),
       "models": sum(m for m, _ in runs), "models_trained": trained,
       "model_steps_per_s": (trained * v["steps"] / secs["train"]) if secs["train"] > 0 else None,
       "taps": list(names), "unit": "model seed", "plug": plug_.name}
  s["lines"] = summary_lines(cfg, s)
  io.write_run(workdir, cfg, arrays, started, extra={"summary.json": s})
  return {"arrays": arrays, "summary": s}


def report(out: dict, cfg: Config) -> list[str]:
  return out["summary"]["lines"]


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/deep_denoiser", run, report)
