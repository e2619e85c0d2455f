r"""Three lenses on one transition (docs/experiments.md §5), run the way their papers run them: the
representation view, the Gaussian (Wiener) structure, disjoint-data agreement and the Jacobian, on the
same models, against the training set size N, over ``seeds`` model seeds.

For each data set (digits, centred; a Gaussian mixture of 4 modes in d = ``mixture_d``, covariance rank
``mixture_rank``, mean norm 2, spread 1, centred, rows shuffled), each N in ``sizes`` and each model
seed s: a time-conditioned DAE (docs/theory.md §9) A_s on the first N pool rows and B_s on the last N
(disjoint from A's, another init key), all with the shared recipe of :mod:`sims._common` (one learning
rate and weight decay for every N). Seed s's keys do not depend on N (common random numbers across N).
Samples of A_s, of B_s and of A_{s+1} (the next seed's model on the same N points: another init and
minibatch stream, the **same-data ceiling** of the agreement lens) come from one sampler key. Measured
on A_s unless said otherwise:

* **representation**: memorized fraction of samples by the scale-aware label
  (:func:`dae_theory.copies.copy_report`'s ``is_copy``), the cosine label (nearest-training cosine ≥
  ``threshold``) beside it, non-finite samples (never copies) counted; participation ratio of the code
  at noisy training points (σ = ``sigma``);
* **Gaussian lens** (Li, Dai, Qu 2024) on **held-out** inputs over the noise grid (``profile_sigmas``
  plus ``sigma``): the linearity score LS(σ) (:func:`dae_theory.lenses.linearity_profile`),
  RMSE/NMSE to the Wiener filter of A's data (:func:`dae_theory.lenses.wiener_gap_profile`), and
  RMSE to A's own linear distillation fitted on the other held-out half with ``distill_draws`` noise
  draws per input; LS on noisy *training* inputs at σ = ``sigma`` is kept beside it (the old protocol
  of Known discrepancy 15); GL of the samples on the raw [−1, 1] scale (the mean added back), the
  centred GL beside it;
* **agreement lens** (Kadkhodaie et al. 2024): cosine between A_s's and B_s's samples, and between
  A_s's and A_{s+1}'s (the ceiling); train vs test denoising PSNR at each σ in ``psnr_sigmas``;
* **Jacobian lens**: at ``n_jacobian`` noisy training inputs of A (σ = ``sigma``), tr J; for the top
  eigenvector of the symmetrized Jacobian, its largest |cosine| to a training sample of A against the
  chance level of a max over N random unit vectors (:func:`dae_theory.lenses.random_alignment_baseline`
  at each N), its energy in the span of the top ``subspace_rank`` principal directions of the whole
  pool, and in a **local** principal subspace: the top ``local_rank`` principal directions of the
  ``local_k`` nearest training points of A to the clean input (chance level: rank/d).

The **transition N** of a lens is the midpoint of a sigmoid in log N with free asymptotes fitted per
seed (:func:`dae_theory.lenses.fit_transition`), with a Student-t 95% interval over the model seeds
whose fit is identified; a seed whose curve is still moving at the end of the grid is reported as not
identified (the reason is kept). At N = ``sweep_n`` (seed 0) the Gaussian lens is also read across
width (``sweep_widths``) and training length (``sweep_steps``); the model of the main grid is reused
where a value equals ``width`` / ``steps``.

Every model is trained on a padded copy of the pool (one compiled program per data set) by
:func:`dae_theory.train.fit` with ``n = N``: the same streams as :func:`sims._common.diffusion_model`
on the first N rows (tests/test_transition.py checks it).

  python -m sims.transition --workdir runs/transition        # about 6 min on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, diffusion, images, io, lenses, metrics
from dae_theory import plug as plug_lib
from dae_theory import train as train_lib
from sims._common import (DIFFUSION_LR, DIFFUSION_OPTIMIZER, DIFFUSION_WD, diffusion_card,
                          diffusion_lam)
from sims._flags import require

DATASETS = ("digits", "mixture")
BATCH_SIZE = 256  # diffusion.train's default minibatch, the shared recipe's
# lens -> the metric key whose transition N is fitted (summary["transition"]; the figure reads it)
TRANSITION = {
    "representation": "copy_fraction",  # memorized fraction, scale-aware label
    "representation, cosine label": "cosine_fraction",
    "gaussian": "rmse_gaussian",  # RMSE(trained, Wiener) on held-out inputs at sigma
    "linearity": "ls_heldout",  # LS on held-out inputs at sigma
    "agreement": "pair_cosine_mean",  # disjoint-data sample cosine
    "jacobian": "jac_alignment_excess",  # max |cos| to a training sample minus its chance level
}


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  datasets: tuple[str, ...] = DATASETS
  sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
  seeds: int = dataclasses.field(default=3, metadata={
      "help": "model seeds per N (>= 2: the same-data ceiling pairs seed s with seed s + 1)"})
  width: int = 64
  steps: int = dataclasses.field(default=10_000, metadata={
      "help": "Adam steps (10k: the lenses moved by <= 0.005 from 10k to 20k steps, "
              "docs/experiments.md §5)"})
  learning_rate: float = DIFFUSION_LR
  weight_decay: float = DIFFUSION_WD
  n_samples: int = 100
  sigma: float = dataclasses.field(default=0.12, metadata={
      "help": "the noise level of the scalar lens readouts (added to profile_sigmas)"})
  profile_sigmas: tuple[float, ...] = tuple(float(s) for s in lenses.PROFILE_SIGMAS)
  pairs: int = 100
  distill_draws: int = 4
  psnr_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
  n_heldout: int = 300
  n_jacobian: int = 40
  subspace_rank: int = 10
  local_k: int = 10
  local_rank: int = 4
  baseline_draws: int = dataclasses.field(default=0, metadata={
      "help": "Monte-Carlo draws of the Jacobian alignment's chance level beside its exact law (0: "
              "exact only; tests/test_lenses.py checks the two agree)"})
  threshold: float = copies.COSINE_COPY
  sweep_n: int = dataclasses.field(default=64, metadata={
      "help": "training set size of the width and training-time sweeps of the Gaussian lens"})
  sweep_widths: tuple[int, ...] = (8, 32, 64, 128, 256)
  sweep_steps: tuple[int, ...] = (1000, 3000, 10_000, 20_000)
  mixture_d: int = 32
  mixture_rank: int = 16
  seed: int = 0

  def __post_init__(self):
    bad = [d for d in self.datasets if d not in DATASETS]
    if not self.datasets or bad:
      raise ValueError(f"--datasets must be a non-empty list from {DATASETS}, got {list(self.datasets)}.")
    if not self.sizes or min(self.sizes) < 2 or list(self.sizes) != sorted(set(self.sizes)):
      raise ValueError(f"--sizes must be increasing sizes >= 2, got {list(self.sizes)}.")
    if max(self.sizes) > 719 and "digits" in self.datasets:
      raise ValueError(f"--sizes: digits have 1438 training images, so disjoint halves hold at most "
                       f"719, got {max(self.sizes)}.")
    for name in ("psnr_sigmas", "profile_sigmas"):
      if not getattr(self, name) or min(getattr(self, name)) <= 0:
        raise ValueError(f"--{name} must be non-empty and > 0, got {list(getattr(self, name))}.")
    require(self, ("seeds",), ">= 2 (the same-data ceiling pairs seed s with seed s + 1)",
            lambda v: v >= 2)
    require(self, ("width", "steps", "n_samples", "n_jacobian", "subspace_rank", "mixture_d",
                   "mixture_rank", "sweep_n", "pairs", "distill_draws", "local_rank"), ">= 1",
            lambda v: v >= 1)
    require(self, ("local_k",), "> local_rank (a local PCA of local_k points)",
            lambda v: v > self.local_rank)
    for name in ("sweep_widths", "sweep_steps"):
      if not getattr(self, name) or min(getattr(self, name)) < 1:
        raise ValueError(f"--{name} must be a non-empty list of values >= 1, got "
                         f"{list(getattr(self, name))}.")
    require(self, ("learning_rate", "sigma"), "> 0", lambda v: v > 0)
    require(self, ("weight_decay",), ">= 0", lambda v: v >= 0)
    require(self, ("threshold",), "in (0, 1]", lambda v: 0 < v <= 1)
    require(self, ("baseline_draws",), "0 or >= 2", lambda v: v == 0 or v >= 2)
    d_max = max(64 if n == "digits" else self.mixture_d for n in self.datasets)
    if (self.n_heldout // 2) * self.distill_draws < d_max + 1:
      raise ValueError(f"--n_heldout // 2 times --distill_draws (the noisy inputs of the linear "
                       f"distillation) must be >= d + 1 = {d_max + 1}, got {self.n_heldout} // 2 x "
                       f"{self.distill_draws}.")
    if self.sweep_n > max(self.sizes):
      raise ValueError(f"--sweep_n must be <= max(--sizes) = {max(self.sizes)}, got {self.sweep_n}.")

  @classmethod
  def smoke(cls) -> "Config":
    return cls(datasets=("mixture",), sizes=(8, 32), seeds=2, steps=200, width=16, n_samples=20, n_jacobian=5, pairs=20,
               profile_sigmas=(0.05, 0.5), psnr_sigmas=(0.1, 0.4), n_heldout=140, sweep_n=8,
               sweep_widths=(8,), sweep_steps=(100,))


def load(name: str, cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(training pool, held-out, pool labels, pool mean): rows centred by the pool's mean, the pool's
  rows in random order."""
  if name == "digits":
    split = images.digits(seed=cfg.seed)
    pool, held, labels = split.train, split.test, split.train_labels
  else:
    n = 2 * max(cfg.sizes) + cfg.n_heldout
    per = -(-n // 4)
    ds = data.gaussian_mixture(jax.random.key(cfg.seed), 4, per, cfg.mixture_d, cfg.mixture_rank, 2.0,
                               1.0)[0]
    order = np.random.default_rng(cfg.seed).permutation(len(ds.x))
    x, lab = np.asarray(ds.x)[order], np.asarray(ds.labels)[order]
    cut = 2 * max(cfg.sizes)
    pool, held, labels = x[:cut], x[cut:], lab[:cut]
  mean = pool.mean(0)
  return ((pool - mean).astype(np.float32), (held - mean).astype(np.float32)[:cfg.n_heldout],
          np.asarray(labels), mean.astype(np.float32))


def train_model(key, x_pad, n: int, cfg: Config, width: int | None = None, steps: int | None = None):
  """The shared recipe (:func:`sims._common.diffusion_model`: λ = d·wd/4, Adam, cosine decay, batch
  256 with replacement) on the first ``n`` rows of ``x_pad``, through :func:`dae_theory.train.fit`
  with ``n`` traced, so every N of a data set shares one compiled program. A diverged model keeps its
  last finite weights (a warning says so), as in ``diffusion_model``."""
  width, steps = width or cfg.width, steps or cfg.steps
  hyper = plug_lib.Hyper(0.0, diffusion_lam(x_pad.shape[1], cfg.weight_decay))
  try:
    return train_lib.fit(key, diffusion.plug(), x_pad, width, hyper, steps, cfg.learning_rate, n=n,
                         batch_size=BATCH_SIZE, optimizer=DIFFUSION_OPTIMIZER).params
  except train_lib.TrainingDiverged as err:
    print(f"warning: the diffusion DAE (width {width}, N = {n}) diverged: {err}. Its last finite "
          "weights are used.", file=sys.stderr)
    return err.result.params


_denoise = jax.jit(diffusion.denoise)


def denoiser(params):
  """The x0-predictor of ``params``, one compiled call per input shape (shared by every model)."""
  return lambda y, sig, p=params: _denoise(p, y, sig)


@functools.partial(jax.jit, static_argnames=("n", "d"))
def sample(key, params, n: int, d: int):
  """``sims._common.generate`` for the model ``params`` (no clamping), compiled once per shape."""
  return diffusion.sample(key, denoiser(params), n, d, clamp=None)


def _noisy(key, x, sigma):
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def local_basis(x_train: np.ndarray, centres: np.ndarray, k: int, rank: int) -> np.ndarray:
  """``(m, d, rank)``: per centre, the top ``rank`` principal directions of its ``k`` nearest rows of
  ``x_train`` (itself included when it is a row), centred on their own mean (a local PCA; fewer rows
  than ``k`` when N < k, and the columns past the local rank are zero)."""
  k = min(k, len(x_train))
  idx = copies.nearest(centres, x_train, k=k)[1]
  d = x_train.shape[1]
  out = np.zeros((len(centres), d, rank))
  for j, rows in enumerate(idx):
    nb = x_train[rows].astype(np.float64)
    _, s, vt = np.linalg.svd(nb - nb.mean(0), full_matrices=False)
    keep = min(rank, int(np.sum(s > s[0] * 1e-6)) if s[0] > 0 else 0)
    out[j, :, :keep] = vt[:keep].T
  return out


def measure_one(key, cfg: Config, grid, pa, pa_next, pb, x_a, held, mean, basis) -> dict:
  """Every lens of one (N, seed): A = ``pa`` on ``x_a``, B = ``pb`` (disjoint data), A' = ``pa_next``
  (the next seed's model on ``x_a``); ``basis`` (d, k) the pool's principal directions."""
  d = x_a.shape[1]
  n = x_a.shape[0]
  den_a = denoiser(pa)
  ks = jax.random.fold_in(key, 1)
  sa, sb, sc = (np.asarray(sample(ks, p, cfg.n_samples, d)) for p in (pa, pb, pa_next))
  ok = np.isfinite(sa).all(1)
  x_np = np.asarray(x_a)
  nn_cos = np.full(cfg.n_samples, np.nan)
  is_copy = np.zeros(cfg.n_samples, bool)
  norm_ratio = np.full(cfg.n_samples, np.nan)
  if ok.any():
    rep = copies.copy_report(sa[ok], x_np)
    nn_cos[ok], is_copy[ok], norm_ratio[ok] = rep.cosine, rep.is_copy, rep.norm_ratio
  fin = sa[ok]
  out = {
      "copy_fraction": float(is_copy.mean()),  # non-finite samples count as not copies
      "cosine_fraction": float(np.mean(np.nan_to_num(nn_cos, nan=-2.0) >= cfg.threshold)),
      "nonfinite": int((~ok).sum()), "nn_cosine": nn_cos, "norm_ratio": norm_ratio,
      "nn_cosine_mean": float(np.nanmean(nn_cos)) if ok.any() else float("nan"),
      "gl": lenses.gl_score(fin + mean, x_np + mean) if ok.any() else float("nan"),
      "gl_centred": lenses.gl_score(fin, x_np) if ok.any() else float("nan"),
  }
  h = diffusion.representation(pa, _noisy(jax.random.fold_in(key, 2), x_a, cfg.sigma))
  out["pr_mean"] = float(jnp.mean(metrics.participation_ratio(h)))
  # Gaussian lens on held-out inputs over the noise grid
  j0 = int(np.argmin(np.abs(grid - cfg.sigma)))
  prof = lenses.linearity_profile(jax.random.fold_in(key, 3), den_a, held, grid, cfg.pairs)
  gap = lenses.wiener_gap_profile(jax.random.fold_in(key, 4), den_a, x_a, held, grid)
  half = held.shape[0] // 2
  fit_rows = jnp.tile(held[:half], (cfg.distill_draws, 1))
  dist = []
  for j, s in enumerate(grid):
    y_fit = _noisy(jax.random.fold_in(jax.random.fold_in(key, 5), j), fit_rows, float(s))
    y_eval = _noisy(jax.random.fold_in(jax.random.fold_in(key, 6), j), held[half:], float(s))
    lin = lenses.affine_denoiser(*lenses.linear_distillation(den_a, y_fit, float(s)))
    dist.append(lenses.rmse(den_a, lin, y_eval, float(s)))
  out.update(ls_profile=prof.scores, ls_profile_se=prof.std_error, rmse_profile=gap.rmse,
             nmse_profile=gap.nmse, distilled_profile=np.array(dist), ls_heldout=float(prof.scores[j0]),
             rmse_gaussian=float(gap.rmse[j0]), nmse_gaussian=float(gap.nmse[j0]),
             rmse_distilled=float(dist[j0]),
             ls_train=lenses.linearity_score(jax.random.fold_in(key, 3), den_a, x_a, cfg.sigma,
                                             cfg.pairs))
  # agreement: disjoint data (B) and the same-data ceiling (A'), shared sampler noise
  both = ok & np.isfinite(sb).all(1)
  same = ok & np.isfinite(sc).all(1)
  pc = np.full(cfg.n_samples, np.nan)
  pc_ceil = np.full(cfg.n_samples, np.nan)
  pc[both] = lenses.pair_cosine(sa[both], sb[both])
  pc_ceil[same] = lenses.pair_cosine(sa[same], sc[same])
  out.update(pair_cosine=pc, pair_cosine_mean=float(np.nanmean(pc)) if both.any() else float("nan"),
             ceiling_cosine_mean=float(np.nanmean(pc_ceil)) if same.any() else float("nan"))
  # (σ, input/train/test) PSNR in dB
  psnr = np.array([[lenses.psnr(jax.random.fold_in(key, 10 + i), den_a, x, s) for x in (x_a, held)]
                   for i, s in enumerate(cfg.psnr_sigmas)])
  out.update(psnr_in=psnr[:, 0, 0], psnr_train=psnr[:, 0, 1], psnr_test=psnr[:, 1, 1])
  # Jacobian at noisy training inputs of A (cycled up to n_jacobian rows)
  centres = np.resize(x_np, (cfg.n_jacobian, d))
  y_jac = _noisy(jax.random.fold_in(key, 20), jnp.asarray(centres), cfg.sigma)
  spec = lenses.jacobian_spectrum(den_a, y_jac, cfg.sigma)
  align, sub = lenses.top_alignment(spec, x_np, basis)
  top = spec.eigenvectors[:, :, 0]
  loc = local_basis(x_np, centres, min(cfg.local_k, n), cfg.local_rank)
  local = np.sum(np.einsum("md,mdk->mk", top, loc) ** 2, 1)
  out.update(jac_trace=float(spec.effective_dim.mean()), jac_sample_alignment=float(align.mean()),
             jac_subspace_energy=float(sub.mean()), jac_local_energy=float(local.mean()))
  return out


def gaussian_lens_sweep(cfg: Config, key, x_pad, held, reuse) -> dict:
  """RMSE(trained, Wiener) and held-out LS at σ = ``sigma`` on ``sweep_n`` points (seed 0), across
  width (at ``steps``) and across training length (at ``width``); ``reuse`` is the main grid's model
  at (``width``, ``steps``) when N = ``sweep_n`` is on the grid."""
  x = x_pad[:cfg.sweep_n]
  out = {}
  for axis, values in (("width", cfg.sweep_widths), ("steps", cfg.sweep_steps)):
    rm, ls = [], []
    for v in values:
      width, steps = (v, cfg.steps) if axis == "width" else (cfg.width, v)
      if reuse is not None and width == cfg.width and steps == cfg.steps:
        params = reuse
      else:
        params = train_model(key, x_pad, cfg.sweep_n, cfg, width, steps)
      den = denoiser(params)
      rm.append(float(lenses.wiener_gap_profile(jax.random.fold_in(key, 4), den, x, held,
                                                [cfg.sigma]).rmse[0]))
      ls.append(float(lenses.linearity_profile(jax.random.fold_in(key, 3), den, held, [cfg.sigma],
                                               cfg.pairs).scores[0]))
    out[f"sweep_{axis}_rmse"], out[f"sweep_{axis}_ls"] = np.array(rm), np.array(ls)
  return out


def fit_lens(sizes, values) -> dict:
  """The fitted transition N of one lens curve ``values (seeds, K)`` (:func:`lenses.fit_transition`)
  as JSON-able fields; not fitted (reason given) with fewer than 4 sizes."""
  if len(sizes) < 4:
    s = values.shape[0]
    return {"midpoints": [float("nan")] * s, "identified": [False] * s,
            "reasons": ["fewer than 4 sizes: the sigmoid has 4 parameters"] * s,
            "center": float("nan"), "interval": [float("nan")] * 2, "params_mean_curve": None,
            "mean_curve_identified": False}
  fit = lenses.fit_transition(sizes, values, 0)
  mean_fit = lenses.fit_transition(sizes, np.nanmean(values, 0))
  return {"midpoints": fit.midpoints.tolist(), "identified": fit.identified.tolist(),
          "reasons": list(fit.reasons), "center": fit.center, "interval": list(fit.interval),
          "params_mean_curve": mean_fit.params[0].tolist(),
          "mean_curve_identified": bool(mean_fit.identified[0])}


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train and measure every lens, write the run record to ``workdir`` (``summary.json``: the
  :func:`summary` lines, the fitted transitions {data set: {lens: fields}}, the ``TRANSITION`` table
  and the data cards), return the results. Arrays per data set are ``(seeds, sizes, …)``."""
  started = time.time()
  say = log or (lambda *_: None)
  grid = np.union1d(np.asarray(cfg.profile_sigmas, np.float64), [cfg.sigma])
  out: dict = {"sizes": np.array(cfg.sizes), "psnr_sigmas": np.array(cfg.psnr_sigmas),
               "profile_sigmas": grid, "sweep_widths": np.array(cfg.sweep_widths),
               "sweep_steps": np.array(cfg.sweep_steps)}
  cards = {}
  root = jax.random.key(cfg.seed)
  for di, name in enumerate(cfg.datasets):
    pool, held, labels, mean = load(name, cfg)
    d = pool.shape[1]
    n_max = max(cfg.sizes)
    xa_pad, xb_pad = jnp.asarray(pool[:n_max]), jnp.asarray(pool[::-1][:n_max])  # B: the last N rows
    held_j = jnp.asarray(held)
    basis = np.linalg.svd(pool, full_matrices=False)[2][:cfg.subspace_rank].T  # pool is centred
    key_a = lambda s: jax.random.fold_in(jax.random.fold_in(root, 3 * di), s)
    key_b = lambda s: jax.random.fold_in(jax.random.fold_in(root, 3 * di + 1), s)
    rows, reuse = [], None
    for i, n in enumerate(cfg.sizes):
      pa = [train_model(key_a(s), xa_pad, n, cfg) for s in range(cfg.seeds)]
      pb = [train_model(key_b(s), xb_pad, n, cfg) for s in range(cfg.seeds)]
      if n == cfg.sweep_n:
        reuse = pa[0]
      per_seed = []
      for s in range(cfg.seeds):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(root, 3 * di + 2), i), s)
        per_seed.append(measure_one(key, cfg, grid, pa[s], pa[(s + 1) % cfg.seeds], pb[s],
                                    xa_pad[:n], held_j, mean, basis))
      base = lenses.random_alignment_baseline(jax.random.fold_in(root, 1000 * di + i), d, 1, n,
                                              cfg.baseline_draws)
      for r in per_seed:
        r["jac_alignment_excess"] = r["jac_sample_alignment"] - base.exact_mean
      rows.append((per_seed, base))
      cards[f"{name} N={n}"] = diffusion_card(pool[:n], cfg.width, cfg.steps, cfg.seeds,
                                              np.unique(labels[:n], return_inverse=True)[1],
                                              cfg.learning_rate, cfg.weight_decay)
      say(f"[transition] {name} N={n}: {cfg.seeds} seeds x 2 models, {time.time() - started:.0f} s")
    for k in rows[0][0][0]:
      out[f"{name}/{k}"] = np.array([[r[k] for r in per] for per, _ in rows]).swapaxes(0, 1)
    out[f"{name}/baseline_mean"] = np.array([b.exact_mean for _, b in rows])
    out[f"{name}/baseline_q95"] = np.array([b.exact_quantile_95 for _, b in rows])
    out[f"{name}/baseline_mc_mean"] = np.array([b.mean for _, b in rows])
    out[f"{name}/local_chance"] = np.array(cfg.local_rank / d)
    out[f"{name}/subspace_chance"] = np.array(cfg.subspace_rank / d)
    sweep = gaussian_lens_sweep(cfg, key_a(0), xa_pad, held_j, reuse)
    out.update({f"{name}/{k}": v for k, v in sweep.items()})
  extra = {"summary.json": {"lines": summary(out, cfg), "transition": TRANSITION,
                            "fits": fits(out, cfg), "data_cards": cards}}
  io.write_run(workdir, cfg, out, started, extra=extra)
  return out


def _fit_text(f: dict) -> str:
  ok = sum(f["identified"])
  if ok == 0:
    return f"not identified ({f['reasons'][0]})"
  lo, hi = f["interval"]
  iv = f", 95% t-interval over model seeds [{lo:.0f}, {hi:.0f}]" if np.isfinite(lo) else ""
  return f"{f['center']:.0f} ({ok}/{len(f['identified'])} seeds identified{iv})"


def fits(out: dict, cfg: Config) -> dict:
  """{data set: {lens: :func:`fit_lens` fields}} for every lens of ``TRANSITION``."""
  return {name: {lens: fit_lens(cfg.sizes, out[f"{name}/{k}"]) for lens, k in TRANSITION.items()}
          for name in cfg.datasets}


def summary(out: dict, cfg: Config) -> list[str]:
  fitted = fits(out, cfg)
  grid = out["profile_sigmas"]
  j0 = int(np.argmin(np.abs(grid - cfg.sigma)))
  lines = [f"N = {list(cfg.sizes)}; values are means over {cfg.seeds} model seeds (± s.e. over seeds "
           f"where given); held-out σ grid {np.round(grid, 3).tolist()}"]
  for name in cfg.datasets:
    g = lambda k: np.round(np.nanmean(out[f"{name}/{k}"], 0), 3).tolist()
    se = lambda k: np.round(np.nanstd(out[f"{name}/{k}"], 0, ddof=1) / np.sqrt(cfg.seeds), 3).tolist()
    ls = np.nanmean(out[f"{name}/ls_profile"], 0)
    lines += [f"{name}:",
              f"  memorized fraction, scale-aware label {g('copy_fraction')}; cosine label "
              f"{g('cosine_fraction')}; non-finite samples {np.sum(out[f'{name}/nonfinite'], 0).tolist()}",
              f"  held-out LS at sigma={grid[j0]:.3g}: {g('ls_heldout')} (s.e. {se('ls_heldout')}); on "
              f"training inputs (old protocol) {g('ls_train')}",
              f"  held-out LS min over sigma per N: {np.round(ls.min(1), 3).tolist()} at sigma "
              f"{np.round(grid[ls.argmin(1)], 3).tolist()}",
              f"  RMSE(trained, Wiener) at sigma={grid[j0]:.3g}: {g('rmse_gaussian')} (s.e. "
              f"{se('rmse_gaussian')}); RMSE(trained, own linear distillation): {g('rmse_distilled')}",
              f"  GL on the raw scale {g('gl')}; centred (old) {g('gl_centred')}",
              f"  disjoint-data sample cosine {g('pair_cosine_mean')} (s.e. {se('pair_cosine_mean')}); "
              f"same-data ceiling {g('ceiling_cosine_mean')}",
              f"  Jacobian top eigenvector max|cos| to a training sample {g('jac_sample_alignment')}; "
              f"chance level (max over N random unit vectors) {np.round(out[f'{name}/baseline_mean'], 3).tolist()}",
              f"  its energy in the local PCA subspace (rank {cfg.local_rank} of {cfg.local_k} neighbours) "
              f"{g('jac_local_energy')}, in the global top-{cfg.subspace_rank} {g('jac_subspace_energy')} "
              f"(chance {float(out[f'{name}/local_chance']):.3g}, {float(out[f'{name}/subspace_chance']):.3g})",
              f"  Gaussian lens at N={cfg.sweep_n} (seed 0): RMSE across widths {list(cfg.sweep_widths)}: "
              f"{np.round(out[f'{name}/sweep_width_rmse'], 3).tolist()}, across steps "
              f"{list(cfg.sweep_steps)}: {np.round(out[f'{name}/sweep_steps_rmse'], 3).tolist()}"]
    lines += [f"  transition N ({lens}): {_fit_text(f)}" for lens, f in fitted[name].items()]
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/transition", run, summary)
