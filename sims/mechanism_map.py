r"""Where does the spiky mechanism operate? A map of memorization over data geometry β, weight decay
λ, optimizer, width p/n and training time (issue 16).

The data are a memorization set of the geometry family :func:`dae_theory.data.cluster_geometry`:
``clusters`` × ``per_cluster`` samples of norm ``mean_norm`` (by default one per cluster, α = 0) whose
cluster means' pairwise cosines
all equal the requested largest cosine β, from clearly acute (+0.5) through orthogonal (0) to the
centred simplex −1/(n−1). Cor. 3.2 (the spiky minimizer W_mem of Eq. 9, one column per sample) needs
β < 0 and nλ < min‖x_i‖²; the map crosses both lines. One sweep per β value (the data are fixed per
sweep, :func:`dae_theory.sweep.run_sweep`): every (optimizer, λ, width, seed) config of that geometry
in one compiled chunk, grouped per (optimizer, width); every geometry's chunk has the same shape, so the
whole map compiles one program. The weights are kept at log-spaced checkpoints of each trajectory
(``checkpoints``), so "how long until the spiky state" is read from the same runs. Each optimizer has
its own learning rate (``learning_rates``, one per entry of ``optimizers``); the rate is constant by
default (``schedule``: a cosine decay freezes dead columns early).

Per config and checkpoint (:func:`evaluate`):

* ``train_loss``, ``test_loss`` and their ``ratio``: the Eq. 6 data term on ``noise_draws`` noisy
  copies of each training sample, and on ``n_test`` points uniform on the sphere of radius
  ``mean_norm`` (the family's law over random orientations, not the fixed orientation a net was
  trained on: at β > 0 a net that learned only the common direction also passes); ``ratio > 2``
  marks a memorizing net (:data:`MEMORIZING_RATIO`).
* ``stored_fraction`` (scale-aware): sample i is stored when the live columns whose best-matching
  training sample is i with cosine ≥ :data:`dae_theory.copies.COSINE_COPY` carry at least
  :data:`STORED_SHARE` of the net's own reconstruction of x_i: for tied weights
  x_iᵀf(x_i) = Σ_j relu(w_jᵀx_i)², and the share is that sum over the aligned group over the sum over
  all columns. A leftover aligned column too small to matter does not store a sample; two split
  columns c₁x_i, c₂x_i do (their energies add). ``stored_cosine_fraction`` is the old label (some
  live column within cosine 0.95 of x_i), kept beside it for comparison.
* ``grouped_pr``: the participation ratio of the code of noisy training points summed over groups of
  live columns by their best-matching sample (:func:`dae_theory.metrics.grouped_code`): 1 = one
  sample's group fires (spiky, modulo column splitting), up to n = diffuse.
* ``dist_eq9``: :func:`dae_theory.metrics.gram_distance` to the Eq. 9 matrix where Cor. 3.2's
  hypothesis holds (β < 0 measured, nλ < min‖x_i‖², p ≥ n); NaN (blank) where it fails.
* ``live_columns``: the number of live columns (:func:`dae_theory.metrics.live_columns`).

A memorizing cell is **spiky** when its seed-mean stored fraction is ≥ 0.5 and **diffuse** otherwise;
``summary.json`` states the boundary in β and λ per optimizer and width, the spiky share per optimizer
with its range over model seeds, and the first checkpoint at which each spiky cell was spiky.

Launch::

  python -m sims.mechanism_map --workdir runs/mechanism_map       # 2016 models, ~3 min on 2 CPU cores
  python -m sims.mechanism_map --workdir /tmp/mm --smoke          # seconds

Writes ``config.json``, ``meta.json``, ``results.npz`` (metric arrays of shape (beta, optimizer, lam,
width, seed, checkpoint), axis names in meta.json), ``summary.json`` (lines, data cards, boundary) and,
per geometry, ``sweeps/beta_<k>/`` (chunks and metrics.jsonl: a killed run resumes).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, io, metrics, sweep, train
from sims._flags import require

MEMORIZING_RATIO = 2.0
"""A net memorizes when its test loss exceeds this many times its train loss (as sims.phase_diagram)."""

STORED_SHARE = 0.5
"""Sample i is stored when its aligned column group carries at least this share of x_iᵀf(x_i)."""

SPIKY_FRACTION = 0.5
"""A memorizing cell is spiky when its seed-mean stored fraction is at least this."""

SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of the mechanism map (each field is a flag of the same name); validated on construction."""

  d: int = 16
  clusters: int = dataclasses.field(default=8, metadata={"help": "n: one sample per cluster (alpha 0)"})
  per_cluster: int = 1
  alpha: float = dataclasses.field(default=0.0, metadata={"help": "within-cluster spread (needs "
                                                                  "per_cluster >= 2 when > 0)"})
  mean_norm: float = 1.0
  betas: tuple[float, ...] = dataclasses.field(
      default=(0.5, 0.35, 0.25, 0.15, 0.05, 0.0, -0.07, -0.142857),
      metadata={"help": "largest pairwise cosine of the cluster means, one sweep each; values below "
                        "-1/(M-1) are refused, -1/(M-1) is the simplex"})
  lams: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.03, 0.06, 0.1, 0.12)
  width_ratios: tuple[float, ...] = dataclasses.field(
      default=(0.5, 1.0, 2.0, 4.0), metadata={"help": "p/n; p = round(ratio * n)"})
  optimizers: tuple[str, ...] = ("adam", "rmsprop", "sgd_momentum")
  learning_rates: tuple[float, ...] = dataclasses.field(
      default=(1e-2, 1e-3, 2e-2), metadata={"help": "one per optimizer"})
  schedule: str = dataclasses.field(default="constant", metadata={"help": f"one of {SCHEDULES}"})
  sigma: float = 0.2
  steps: int = 8000
  checkpoints: tuple[int, ...] = (125, 250, 500, 1000, 2000, 4000, 8000)
  batch_size: int = dataclasses.field(default=0, metadata={"help": "0: the full batch"})
  seeds: int = 3
  n_test: int = 512
  noise_draws: int = 16
  chunk_size: int = 252
  seed: int = 0

  def __post_init__(self):
    for name in ("betas", "lams", "width_ratios", "optimizers", "checkpoints"):
      if len(getattr(self, name)) == 0:
        raise ValueError(f"--{name} must not be empty.")
    require(self, ("d", "clusters", "per_cluster", "steps", "seeds", "n_test", "noise_draws",
                   "chunk_size"), ">= 1", lambda v: v >= 1)
    require(self, ("batch_size",), ">= 0 (0: the full batch)", lambda v: v >= 0)
    require(self, ("alpha",), ">= 0", lambda v: v >= 0)
    require(self, ("mean_norm", "sigma"), "> 0", lambda v: v > 0)
    m = self.clusters
    lo = -1.0 / (m - 1) if m > 1 else -1.0
    bad = [b for b in self.betas if not lo - 1e-6 <= b < 1]
    if bad:
      raise ValueError(f"--betas must lie in [-1/(M-1), 1) = [{lo:.6g}, 1) for M = --clusters = {m}, "
                       f"got {bad}.")
    if any(v < 0 for v in self.lams):
      raise ValueError(f"--lams must all be >= 0, got {list(self.lams)}.")
    if any(r <= 0 for r in self.width_ratios):
      raise ValueError(f"--width_ratios must all be > 0, got {list(self.width_ratios)}.")
    bad = [o for o in self.optimizers if o not in train.OPTIMIZERS]
    if bad:
      raise ValueError(f"--optimizers must be names of {train.OPTIMIZERS}, got {bad}.")
    if len(self.learning_rates) != len(self.optimizers):
      raise ValueError(f"--learning_rates needs one rate per optimizer ({len(self.optimizers)}), "
                       f"got {len(self.learning_rates)}.")
    if any(not lr > 0 for lr in self.learning_rates):
      raise ValueError(f"--learning_rates must all be > 0, got {list(self.learning_rates)}.")
    if self.schedule not in SCHEDULES:
      raise ValueError(f"--schedule must be one of {SCHEDULES}, got {self.schedule!r}.")
    ck = list(self.checkpoints)
    if ck != sorted(set(ck)) or ck[0] < 1 or ck[-1] != self.steps:
      raise ValueError(f"--checkpoints must be increasing steps >= 1 ending at --steps={self.steps}, "
                       f"got {ck}.")
    if self.d < self.clusters + (self.alpha > 0):
      raise ValueError(f"--d={self.d} must be >= --clusters{' + 1' if self.alpha > 0 else ''}.")
    if self.alpha > 0 and self.per_cluster < 2:
      raise ValueError("--alpha > 0 needs --per_cluster >= 2.")

  @classmethod
  def smoke(cls) -> "Config":
    """A tiny configuration that runs end to end in seconds."""
    return cls(d=6, clusters=4, betas=(0.3, -1 / 3), lams=(1e-3, 0.2), width_ratios=(1.0, 2.0),
               optimizers=("adam", "sgd_momentum"), learning_rates=(1e-2, 2e-2), steps=100,
               checkpoints=(50, 100), seeds=2, n_test=64, noise_draws=4, chunk_size=16)

  @property
  def n(self) -> int:
    return self.clusters * self.per_cluster

  @property
  def widths(self) -> tuple[int, ...]:
    return tuple(sorted({max(1, int(round(r * self.n))) for r in self.width_ratios}))


def make_data(cfg: Config, beta: float, bi: int):
  """The training set of geometry ``bi`` (β = ``beta``) and the test points, from
  ``fold_in(fold_in(key(seed), 0), bi)``; no data key is a run key of the sweeps (branch 1)."""
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 0), bi)
  lo = -1.0 / (cfg.clusters - 1) if cfg.clusters > 1 else -1.0
  ds = data.cluster_geometry(key, cfg.clusters, cfg.per_cluster, cfg.d, max(beta, lo), cfg.alpha,
                             cfg.mean_norm)
  test = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (cfg.n_test, cfg.d)))
  test = cfg.mean_norm * test / np.linalg.norm(test, axis=1, keepdims=True)
  return np.asarray(ds.x), np.asarray(ds.labels), test.astype(np.asarray(ds.x).dtype)


def configs(cfg: Config) -> sweep.Configs:
  """One geometry's configs: per optimizer (its own rate) the grid λ × width × seed; shape (optimizer,
  λ, width, seed) after dropping the singleton σ, learning-rate and n axes."""
  return sweep.Configs.concat([
      sweep.Grid(seeds=tuple(range(cfg.seeds)), widths=cfg.widths, sample_sizes=(cfg.n,),
                 sigmas=(cfg.sigma,), lams=cfg.lams, learning_rates=(lr,), optimizers=(o,)).configs()
      for o, lr in zip(cfg.optimizers, cfg.learning_rates)])


def _evaluate(w, x, x_test, sigma, eps_tr, eps_te, eq9):
  """Metrics of one tied net ``w (d, P)`` (zero padded columns are dead): see the module docstring."""
  f = lambda y: jnp.maximum(y @ w, 0) @ w.T  # noqa: E731
  n = x.shape[0]
  y_tr = x[None] + sigma * eps_tr  # (R, n, d)
  train_loss = jnp.mean(jnp.sum((f(y_tr) - x[None]) ** 2, -1))
  test_loss = jnp.mean(jnp.sum((f(x_test + sigma * eps_te) - x_test) ** 2, -1))
  live = metrics.live_columns(w)
  cos = metrics.cosine_matrix(w.T, x)  # (P, n)
  best, best_cos = jnp.argmax(cos, 1), jnp.max(cos, 1)
  aligned = live & (best_cos >= copies.COSINE_COPY)
  energy = jnp.maximum(w.T @ x.T, 0) ** 2  # (P, n): relu(w_j . x_i)^2
  own = jnp.sum(jnp.where(aligned[:, None] & (best[:, None] == jnp.arange(n)[None, :]), energy, 0), 0)
  total = jnp.sum(energy, 0)
  share = jnp.where(total > 0, own / jnp.where(total > 0, total, 1), 0.0)
  stored_cos = jnp.any(live[:, None] & (cos >= copies.COSINE_COPY), 0)
  group = jnp.where(live, best, -1)
  g = metrics.grouped_code(jnp.maximum(y_tr @ w, 0), group, n)  # (R, n, n)
  pr = metrics.participation_ratio(g)
  fired = jnp.sum(g**2, -1) > 0
  ref = eq9
  dist = jnp.linalg.norm(w @ w.T - ref) / jnp.linalg.norm(ref)
  return {"train_loss": train_loss, "test_loss": test_loss, "ratio": test_loss / train_loss,
          "stored_fraction": jnp.mean(share >= STORED_SHARE),
          "stored_cosine_fraction": jnp.mean(stored_cos),
          "grouped_pr": jnp.sum(jnp.where(fired, pr, 0)) / jnp.maximum(jnp.sum(fired), 1),
          "dist_eq9": dist, "live_columns": jnp.sum(live).astype(w.dtype)}


_evaluate_all = jax.jit(jax.vmap(_evaluate, in_axes=(0, None, None, None, None, None, 0)))
""":func:`_evaluate` over a stack of nets (configs × checkpoints) and their Eq. 9 references."""


def eq9_matrix(x: np.ndarray, sigma: float, lam: float) -> np.ndarray | None:
  r"""W_mem W_memᵀ = Σ_i r_i² x_i x_iᵀ of Eq. 9 (r_i² = (‖x_i‖² − nλ)/(‖x_i‖⁴ + σ²‖x_i‖²)), or None
  where nλ ≥ min‖x_i‖² (no such minimizer)."""
  x = np.asarray(x, np.float64)
  sq = np.sum(x**2, 1)
  n = x.shape[0]
  if n * lam >= sq.min():
    return None
  r2 = (sq - n * lam) / (sq**2 + sigma**2 * sq)
  return (x.T * r2) @ x


def evaluate(key, cfg: Config, res: sweep.SweepResult, x, x_test, beta_measured: float) -> dict:
  """Metrics of every config at every checkpoint: arrays ``(C, K)``."""
  cf = res.configs
  c, k = res.snapshots.w1.shape[:2]
  k_tr, k_te = jax.random.split(key)
  dt = x.dtype
  eps_tr = jax.random.normal(k_tr, (cfg.noise_draws,) + x.shape, dt)
  eps_te = jax.random.normal(k_te, x_test.shape, dt)
  sq_min = float(np.min(np.sum(np.asarray(x, np.float64) ** 2, 1)))
  refs, holds = [], []
  for i in range(c):
    m9 = eq9_matrix(x, cfg.sigma, float(cf.lam[i]))
    holds.append(beta_measured < 0 and m9 is not None and int(cf.width[i]) >= x.shape[0])
    refs.append(m9 if m9 is not None else np.eye(x.shape[1]))
  w = jnp.asarray(res.snapshots.w1.reshape((c * k,) + res.snapshots.w1.shape[2:]))
  ref = jnp.asarray(np.repeat(np.stack(refs), k, 0), dt)
  rows = _evaluate_all(w, jnp.asarray(x), jnp.asarray(x_test), jnp.asarray(cfg.sigma, dt), eps_tr, eps_te, ref)
  out = {name: np.asarray(v, np.float64).reshape(c, k) for name, v in rows.items()}
  out["dist_eq9"][~np.array(holds)] = np.nan
  out["n_lam_over_min_sq"] = np.repeat((cf.lam * x.shape[0] / sq_min)[:, None], k, 1)
  return out


def run(cfg: Config, workdir: str, log=print) -> dict[str, np.ndarray]:
  """One sweep per geometry (resuming from ``workdir/sweeps/beta_<k>``), evaluation at every
  checkpoint, the run record (``summary.json``: :func:`summarize`'s lines, the data cards and the
  boundary numbers the README quotes)."""
  started = time.time()
  root = jax.random.key(cfg.seed)  # data: fold_in(root, 0); sweeps: 1; evaluation: 2
  cf = configs(cfg)
  shape = (len(cfg.optimizers), len(cfg.lams), len(cfg.widths), cfg.seeds)
  per_beta, cards, betas_measured, train_s = [], {}, [], 0.0
  for bi, beta in enumerate(cfg.betas):
    x, labels, x_test = make_data(cfg, beta, bi)
    card = data.data_card(x, labels, lam=None, optimizer="/".join(cfg.optimizers),
                          steps=cfg.steps, seeds=cfg.seeds)
    betas_measured.append(card["beta"])
    cards[f"beta = {beta:+.3g} (measured {card['beta']:+.4f})"] = card
    t0 = time.time()
    res = sweep.run_sweep(jax.random.fold_in(root, 1), x, cf, steps=cfg.steps,
                          batch_size=cfg.batch_size or None, chunk_size=cfg.chunk_size,
                          log_every=cfg.checkpoints[0] if cfg.steps % cfg.checkpoints[0] == 0 else 1,
                          cosine=cfg.schedule == "cosine", checkpoints=cfg.checkpoints,
                          workdir=os.path.join(workdir, "sweeps", f"beta_{bi}"), log=log)
    train_s += time.time() - t0
    # Cor. 3.2 treats every sample as its own cluster: its hypothesis is on the largest cosine between
    # samples (equal to the clusters' β only when there is one sample per cluster)
    beta_samples = data.data_card(x, np.arange(x.shape[0]))["beta"]
    m = evaluate(jax.random.fold_in(jax.random.fold_in(root, 2), bi), cfg, res, x, x_test,
                 beta_samples)
    m["status"] = np.repeat(res.status[:, None], len(cfg.checkpoints), 1).astype(np.float64)
    per_beta.append({k: v.reshape(shape + (len(cfg.checkpoints),)) for k, v in m.items()})
  out = {k: np.stack([p[k] for p in per_beta]) for k in per_beta[0]}
  out["status"] = out["status"].astype(np.int32)
  out.update(betas=np.array(cfg.betas), betas_measured=np.array(betas_measured, np.float64),
             lams=np.array(cfg.lams), widths=np.array(cfg.widths), steps=np.array(cfg.checkpoints),
             optimizers=np.array(cfg.optimizers), learning_rates=np.array(cfg.learning_rates))
  dims = ["beta", "optimizer", "lam", "width", "seed", "checkpoint"]
  axes = {k: dims for k in per_beta[0]}
  axes.update(betas=["beta"], betas_measured=["beta"], lams=["lam"], widths=["width"],
              steps=["checkpoint"], optimizers=["optimizer"], learning_rates=["optimizer"])
  summary = summarize(out, cfg.clusters * cfg.per_cluster)
  summary["lines"].append(
      f"cost: {len(cf) * len(cfg.betas)} models ({len(cfg.betas)} geometries x {len(cf)} configs: "
      f"{len(cfg.optimizers)} optimizers x {len(cfg.lams)} lambdas x {len(cfg.widths)} widths x "
      f"{cfg.seeds} model seeds), {cfg.steps} steps each, trained in {train_s:.0f} s, "
      f"{time.time() - started:.0f} s with the evaluation at {len(cfg.checkpoints)} checkpoints.")
  summary.update(data_cards=cards, train_seconds=train_s, models=len(cf) * len(cfg.betas),
                 wall_seconds=time.time() - started)
  io.write_run(workdir, cfg, out, started, axes, extra={"summary.json": summary})
  return out


def _fmt(v, f="{:.2f}"):
  return "n/a" if v is None or not np.isfinite(v) else f.format(v)


def summarize(out: dict, n: int) -> dict:
  """The map in numbers (seed means; intervals are the range over model seeds):

  * ``spiky[b, o, l, w]``: a memorizing cell (seed-mean ratio > :data:`MEMORIZING_RATIO`) whose
    seed-mean stored fraction is ≥ :data:`SPIKY_FRACTION` (at the last checkpoint); ``diffuse``: a
    memorizing cell that is not spiky;
  * ``boundary_beta[o][l][w]``: the largest β of the grid whose cell is spiky (None: none is);
  * ``spiky_share[o]``: per model seed, the share of memorizing configs that are spiky (stored
    fraction ≥ 0.5), as mean and [min, max] over seeds;
  * ``steps_to_spiky[o]``: over the spiky cells, the first checkpoint from which the seed-mean stored
    fraction stays ≥ 0.5 (median and range);
  * ``columns_per_sample[o]``: at the widest p, the live columns per training sample averaged over
    the spiky cells, per model seed (mean, [min, max]): 1 is W_mem itself, more is W_mem with split
    columns (Cor. D.4's dense variants).
  """
  ok = out["status"][..., -1] < 0  # (b, o, l, w, s)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    mask = lambda a: np.where(ok[..., None], a, np.nan)  # noqa: E731
    stored = np.nanmean(mask(out["stored_fraction"]), 4)  # (b, o, l, w, k)
    ratio = np.exp(np.nanmean(np.log(mask(out["ratio"])), 4))  # geometric seed mean
    gpr = np.nanmean(mask(out["grouped_pr"]), 4)
    live = np.nanmean(mask(out["live_columns"]), 4)
    dist = np.nanmean(mask(out["dist_eq9"]), 4)
  memo = ratio[..., -1] > MEMORIZING_RATIO
  spiky = memo & (stored[..., -1] >= SPIKY_FRACTION)
  diffuse = memo & ~spiky
  betas, lams, widths, steps = out["betas"], out["lams"], out["widths"], out["steps"]
  opts = [str(o) for o in out["optimizers"]]
  lines, boundary, share, ttime, split = [], {}, {}, {}, {}
  n_bad = int((~ok).sum())
  if n_bad:
    lines.append(f"{n_bad} of {ok.size} models diverged (status >= 0) and are left out.")
  for oi, o in enumerate(opts):
    boundary[o] = [[(float(betas[np.flatnonzero(spiky[:, oi, li, wi])].max())
                     if spiky[:, oi, li, wi].any() else None)
                    for wi in range(len(widths))] for li in range(len(lams))]
    per_seed = []
    for s in range(out["ratio"].shape[4]):
      m = (out["ratio"][:, oi, :, :, s, -1] > MEMORIZING_RATIO) & ok[:, oi, :, :, s]
      st = out["stored_fraction"][:, oi, :, :, s, -1] >= SPIKY_FRACTION
      per_seed.append(float((m & st).sum() / m.sum()) if m.any() else np.nan)
    per_seed = np.array(per_seed)
    share[o] = {"per_seed": per_seed.tolist(), "mean": float(np.nanmean(per_seed)),
                "min": float(np.nanmin(per_seed)), "max": float(np.nanmax(per_seed))}
    first = []
    for b, l, w in zip(*np.nonzero(spiky[:, oi])):
      s_t = stored[b, oi, l, w] >= SPIKY_FRACTION
      # the first checkpoint from which the cell stays spiky
      k0 = next(k for k in range(len(steps)) if s_t[k:].all())
      first.append(int(steps[k0]))
    ttime[o] = {"median": float(np.median(first)) if first else None,
                "min": min(first) if first else None, "max": max(first) if first else None,
                "cells": len(first)}
    cells = spiky[:, oi, :, -1]  # (b, l) at the widest p
    cps = np.array([np.mean(out["live_columns"][:, oi, :, -1, s, -1][cells]) / n if cells.any()
                    else np.nan for s in range(out["ratio"].shape[4])])
    split[o] = {"per_seed": cps.tolist(), "mean": float(np.mean(cps)), "min": float(np.min(cps)),
                "max": float(np.max(cps)), "cells": int(cells.sum()), "width": int(widths[-1])}
    lines.append(
        f"{o} (lr {float(out['learning_rates'][oi]):g}): {int(memo[:, oi].sum())} of "
        f"{memo[:, oi].size} cells memorize (test/train > {MEMORIZING_RATIO:g}), "
        f"{int(spiky[:, oi].sum())} spiky, {int(diffuse[:, oi].sum())} diffuse; share of memorizing "
        f"models that store >= half the samples: {_fmt(share[o]['mean'])} "
        f"[{_fmt(share[o]['min'])}, {_fmt(share[o]['max'])}] over {len(per_seed)} model seeds; "
        f"steps to the spiky state: median {_fmt(ttime[o]['median'], '{:.0f}')} "
        f"(range {ttime[o]['min']}-{ttime[o]['max']}, {len(first)} cells); live columns per sample "
        f"in the {int(cells.sum())} spiky cells at p/n={widths[-1] / n:g}: {_fmt(split[o]['mean'])} "
        f"[{_fmt(split[o]['min'])}, {_fmt(split[o]['max'])}] over model seeds.")
    for wi, w in enumerate(widths):
      parts = []
      for li, lam in enumerate(lams):
        bb = boundary[o][li][wi]
        ratio_l = float(out["n_lam_over_min_sq"][0, 0, li, 0, 0, 0])
        parts.append(f"lam={lam:g} (n*lam/min|x|^2={ratio_l:.2g}): "
                     + ("none spiky" if bb is None else f"{bb:+.3g}"))
      lines.append(f"  {o}, p/n={w / n:g}: largest spiky beta at " + "; ".join(parts))
  return {"lines": lines, "boundary_beta": boundary, "spiky_share": share, "steps_to_spiky": ttime,
          "columns_per_sample": split,
          "spiky": spiky.tolist(), "diffuse": diffuse.tolist(),
          "cell_stored_fraction": stored.tolist(), "cell_ratio": ratio.tolist(),
          "cell_grouped_pr": gpr.tolist(), "cell_live_columns": live.tolist(),
          "cell_dist_eq9": [[[[None if not np.isfinite(v) else float(v) for v in row]
                              for row in a] for a in b] for b in dist[..., -1]]}


if __name__ == "__main__":
  from sims import _flags

  def _main(cfg: Config, workdir: str) -> None:
    run(cfg, workdir)
    import json

    with open(os.path.join(workdir, "summary.json")) as f:
      for line in json.load(f)["lines"]:
        print(line)
    print(f"Run record in {workdir}/; draw it with: python -m figures.mechanism_map "
          f"--map_workdir {workdir}")

  _flags.main_with_config(Config, "runs/mechanism_map", _main)
