r"""Memorization–generalization phase diagram over width p × sample size n × noise σ, as one sweep.

Every (p, n, σ, seed) config is trained by :func:`dae_theory.sweep.run_sweep`: chunks of configs, all
of one shape so one program is compiled, sharded over all devices, resumable (a killed run restarted
with the same flags continues), progress in ``workdir/metrics.jsonl``. Before anything is computed or
written the sweep's cost is estimated (result arrays, rough time) and a grid whose results would not fit
in memory is refused with the estimate. A config whose loss blows up (non-finite, or above
``train.DIVERGENCE_FACTOR`` × its first step's) is marked in ``status`` and left out of the printed
boundary, which says how many were.
Per config: fraction of memorizing columns (best cosine to a training sample ≥ 0.95), std(h) and
participation ratio on noisy train and fresh test points, train and test loss, and the distance (modulo
symmetry) to the Eq. 9 and Eq. 8 constructions, by :func:`dae_theory.analysis.evaluate`: one compiled,
vmapped program per width group, the closed forms built once per (n, σ, λ) and shared.
``python -m figures.phase_diagram`` draws the heatmaps. The log and ``timing.json`` report the
training and the evaluation wall times apart (the evaluation split into closed forms, compiling and
running) and their ratio, measured in the one process.

Launch::

  python -m sims.phase_diagram --workdir runs/phase_diagram            # default (times: timing.json)
  python -m sims.phase_diagram --workdir /tmp/pd --smoke

Data: a Gaussian mixture (``--dataset mixture``: M modes with centred-simplex means and rank-r
covariances, each latent optionally shrunk to norm ≤ ``max_radius``, rows shuffled so every prefix
mixes the modes) or pairwise-obtuse samples (``obtuse``, needs data_size ≤ d + 1).

**Hypotheses (the default data break them, on purpose, and the run record says by how much).** The
sweep is an empirical map of the memorization–generalization boundary, not a test of one theorem;
its rows compare the trained weights with Eq. 9 (Cor. 3.2, which needs pairwise-obtuse samples) and
Eq. 8 (Theorem 3.1, which needs (α, β)-separable modes with within-cluster cosines > 0 and a
positive Theorem D.2 margin γ). No mixture meets both: two samples of one mode are acute, so Cor. 3.2's
hypothesis fails for every n above the number of modes. The default mixture (rank 4, mean norm 2,
spread 1, Gaussian) also breaks Definition 3.1's spirit: α ≈ 2.1 (a sample lies farther from its mean
than the mean from 0) and within-cluster cosines go down to about −0.47, so the Eq. 8 block is not
even a stationary point of the ReLU loss and γ < 0. ``summary.json`` stores the data card
("data_cards") and these numbers ("hypotheses": α, β, the within-cluster cosine range, γ per σ for
Eq. 8 blocks of p_k = rank + 1, the largest n of the grid whose first n rows are pairwise obtuse). Data
that satisfy the Eq. 8 hypotheses: ``--mean_norm 4 --spread 0.5 --max_radius 2`` (α ≤ 0.25, γ > 0);
the Eq. 9 hypotheses: ``--dataset obtuse --data_size 32 --sample_sizes 4,8,16,32``. Writes ``config.json``, ``meta.json``, ``results.npz`` (metric arrays of
shape (σ, n, p, seed) — axis names in meta.json — plus the trained weights), ``summary.json``,
``timing.json``, ``chunks/`` and ``metrics.jsonl``.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import time
import warnings

import jax
import numpy as np

from dae_theory import analysis, bounds, constructions, data, io, sweep, train
from sims._flags import require

DATASETS = ("mixture", "obtuse")


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of the phase diagram (each field is a flag of the same name); validated on construction."""

  dataset: str = dataclasses.field(default="mixture", metadata={"help": f"one of {DATASETS}"})
  d: int = 32
  clusters: int = 4
  rank: int = 4
  mean_norm: float = 2.0
  spread: float = 1.0
  max_radius: float = dataclasses.field(
      default=0.0, metadata={"help": "shrink each mode's latent to norm <= this (0: Gaussian, no "
                                     "bound); alpha <= spread*max_radius/mean_norm"})
  data_size: int = dataclasses.field(default=512, metadata={"help": "rows of training data"})
  widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)
  sample_sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
  sigmas: tuple[float, ...] = (0.1, 0.3)
  seeds: int = dataclasses.field(default=2, metadata={"help": "number of seeds"})
  lam: float = 1e-4
  learning_rate: float = 1e-2
  steps: int = 2000
  batch_size: int = 64
  chunk_size: int = 32
  n_test: int = 1000
  seed: int = 0

  def __post_init__(self):
    if self.dataset not in DATASETS:
      raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}.")
    for name in ("widths", "sample_sizes", "sigmas"):
      if len(getattr(self, name)) == 0:
        raise ValueError(f"--{name} must not be empty.")
    if min(self.widths) < 1:
      raise ValueError(f"--widths must all be >= 1, got {list(self.widths)}.")
    if min(self.sample_sizes) < 1:
      raise ValueError(f"--sample_sizes must all be >= 1, got {list(self.sample_sizes)}.")
    if max(self.sample_sizes) > self.data_size:
      raise ValueError(f"--sample_sizes: n={max(self.sample_sizes)} is larger than the data "
                       f"(--data_size={self.data_size}).")
    if min(self.sigmas) <= 0:
      raise ValueError(f"--sigmas must all be > 0, got {list(self.sigmas)}.")
    require(self, ("d", "clusters", "rank", "data_size", "seeds", "steps", "batch_size",
                   "chunk_size", "n_test"), ">= 1", lambda v: v >= 1)
    if self.steps % 10:
      raise ValueError(f"--steps must be a multiple of 10 (loss logging window), got {self.steps}.")
    require(self, ("max_radius",), ">= 0", lambda v: v >= 0)
    if self.lam < 0 or self.learning_rate <= 0:
      raise ValueError(f"--lam must be >= 0 and --learning_rate > 0, got {self.lam}, "
                       f"{self.learning_rate}.")
    if self.dataset == "obtuse" and self.data_size > self.d + 1:
      raise ValueError(f"--dataset obtuse needs --data_size <= d + 1 = {self.d + 1}.")
    if self.dataset == "mixture" and self.d < self.clusters + self.rank:
      raise ValueError(f"--d={self.d} must be >= clusters + rank = {self.clusters + self.rank}.")

  @classmethod
  def smoke(cls) -> "Config":
    """A tiny configuration that runs end to end in seconds."""
    return cls(d=8, clusters=2, rank=2, data_size=32, widths=(2, 8), sample_sizes=(4, 32),
               sigmas=(0.2,), seeds=1, steps=100, batch_size=16, n_test=64)

  @property
  def grid(self) -> sweep.Grid:
    return sweep.Grid(seeds=tuple(range(self.seeds)), widths=self.widths,
                      sample_sizes=self.sample_sizes, sigmas=self.sigmas, lams=(self.lam,),
                      learning_rates=(self.learning_rate,))


def make_data(cfg: Config):
  """(x_train (data_size, d), labels, x_test (n_test, d)); rows shuffled so prefixes mix the modes.
  Drawn from ``fold_in(key(seed), 0)``: the sweep and the evaluation use branches 1 and 2, so no
  key of the data is ever a run key of the sweep."""
  key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
  if cfg.dataset == "obtuse":
    ds = data.obtuse_samples(key, cfg.data_size, cfg.d, (1.0, 2.0))
    # Fresh "test" points: the same directions cannot be drawn again; use random unit-norm points.
    test = jax.random.normal(jax.random.fold_in(key, 1), (cfg.n_test, cfg.d))
    test = 1.5 * test / np.linalg.norm(test, axis=1, keepdims=True)
    return np.asarray(ds.x), np.asarray(ds.labels), np.asarray(test)
  per = -(-cfg.data_size // cfg.clusters)
  ds, mix = data.gaussian_mixture(key, cfg.clusters, per, cfg.d, cfg.rank, cfg.mean_norm,
                                  cfg.spread, max_radius=cfg.max_radius or None)
  order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 2), ds.x.shape[0]))
  order = order[: cfg.data_size]
  per_test = -(-cfg.n_test // cfg.clusters)
  test = data.sample_mixture(jax.random.fold_in(key, 3), mix, per_test,
                             cfg.max_radius or None).x[: cfg.n_test]
  return np.asarray(ds.x)[order], np.asarray(ds.labels)[order], np.asarray(test)


def estimate(cfg: Config) -> sweep.Estimate:
  """The sweep's cost (configs, bytes of the result arrays, rough time) from the settings alone: one
  seed's grid, scaled by ``cfg.seeds`` (so a huge ``--seeds`` is sized without building its grid)."""
  one_seed = sweep.Grid(seeds=(0,), widths=cfg.widths, sample_sizes=cfg.sample_sizes,
                        sigmas=cfg.sigmas, lams=(cfg.lam,), learning_rates=(cfg.learning_rate,))
  return sweep.estimate(one_seed, cfg.d, cfg.steps, cfg.batch_size, log_every=10).scaled(cfg.seeds)


def check_fits(cfg: Config, max_bytes: int | None = None) -> sweep.Estimate:
  """The estimate, or ``ValueError`` stating it when the results would not fit in ``max_bytes``
  (default: half the machine's memory), naming the flags that size the grid."""
  est = estimate(cfg)
  try:
    sweep.check_fits(est, max_bytes)
  except ValueError as err:
    raise ValueError(f"{err} Here: lower --seeds (now {cfg.seeds}) or shorten --widths, "
                     "--sample_sizes or --sigmas.") from None
  return est


def run(cfg: Config, workdir: str, log=print, max_bytes: int | None = None) -> dict[str, np.ndarray]:
  """Run the sweep (resuming from ``workdir/chunks``), evaluate, write the run record (with
  ``summary.json``: the :func:`boundary_summary` lines, the caption of ``figures.phase_diagram``).
  ``log`` receives the sweep's progress lines (None: silent).

  Raises:
    ValueError: the grid's results would exceed ``max_bytes`` (default half the machine's memory;
      raised before anything is computed or written, with the estimate), or ``workdir`` holds another
      sweep (see :func:`dae_theory.sweep.run_sweep`).
  """
  started = time.time()
  check_fits(cfg, max_bytes)
  x, labels, x_test = make_data(cfg)
  grid = cfg.grid
  root = jax.random.key(cfg.seed)  # data: fold_in(root, 0); sweep: 1; evaluation: 2
  on_disk = len(glob.glob(os.path.join(workdir, "chunks", "chunk_*.npz")))
  t0 = time.perf_counter()
  res = sweep.run_sweep(jax.random.fold_in(root, 1), x, grid.configs(), steps=cfg.steps,
                        batch_size=cfg.batch_size, chunk_size=cfg.chunk_size, log_every=10,
                        workdir=workdir, log=log, max_bytes=max_bytes)
  t1 = time.perf_counter()
  parts: dict = {}
  metrics = analysis.evaluate(jax.random.fold_in(root, 2), res, x, x_test,
                             labels if cfg.dataset == "mixture" else None, timings=parts)
  timing = timing_record(t1 - t0, time.perf_counter() - t1, parts, on_disk)
  if log is not None:
    log(timing_line(timing))
  # Grid axes (sigma, lam, lr, n, width, seed) -> drop the singleton lam and lr axes.
  shape = grid.shape
  out = {k: v.reshape(shape)[:, 0, 0] for k, v in metrics.items()}
  out["status"] = res.status.reshape(shape)[:, 0, 0]
  out["final_loss"] = res.losses[:, -1].reshape(shape)[:, 0, 0]
  out["widths"] = np.array(cfg.widths)
  out["sample_sizes"] = np.array(cfg.sample_sizes)
  out["sigmas"] = np.array(cfg.sigmas)
  out["w1"] = res.w1.reshape(shape + res.w1.shape[1:])[:, 0, 0]
  axes = {k: ["sigma", "n", "width", "seed"] for k in metrics}
  axes.update(status=["sigma", "n", "width", "seed"], final_loss=["sigma", "n", "width", "seed"],
              widths=["width"], sample_sizes=["n"], sigmas=["sigma"],
              w1=["sigma", "n", "width", "seed", "d", "unit"])
  card = data.data_card(x, labels, lam=cfg.lam, optimizer="adam", learning_rate=cfg.learning_rate,
                        steps=cfg.steps, seeds=cfg.seeds)
  hyp = hypotheses(cfg, x, labels)
  io.write_run(workdir, cfg, out, started, axes,
               extra={"summary.json": {"lines": boundary_summary(out) + [hypothesis_line(hyp)],
                                       "data_cards": {card_name(cfg): card}, "hypotheses": hyp},
                      "timing.json": timing})
  return out


def timing_record(train_s: float, eval_s: float, parts: dict, chunks_on_disk: int) -> dict:
  """The run record's ``timing.json`` (apart from ``summary.json``, whose content a rerun reproduces):
  wall times in seconds, measured in this process: ``train_time_s`` (the sweep, chunks loaded from
  disk included), ``eval_time_s`` (:func:`dae_theory.analysis.evaluate` in all) and its parts
  ``eval_closed_forms_s``, ``eval_compile_s``, ``eval_metrics_s``, ``eval_programs`` (compiled
  programs), ``eval_over_train`` (the ratio, a measure that survives load from other jobs better
  than either time) and ``chunks_on_disk`` (chunks found at the start: when > 0 the sweep resumed
  and ``train_time_s`` is not the time to train it)."""
  return {"train_time_s": round(train_s, 3), "eval_time_s": round(eval_s, 3),
          "eval_closed_forms_s": round(parts["closed_forms_s"], 3),
          "eval_compile_s": round(parts["compile_s"], 3),
          "eval_metrics_s": round(parts["metrics_s"], 3), "eval_programs": parts["programs"],
          "eval_over_train": round(eval_s / train_s, 4) if train_s > 0 else None,
          "chunks_on_disk": chunks_on_disk}


def timing_line(t: dict) -> str:
  """One log line for :func:`timing_record`."""
  resumed = (f"; the sweep resumed from {t['chunks_on_disk']} chunks on disk: the training time "
             "includes loading them and is not the time to train the sweep"
             if t["chunks_on_disk"] else "")
  ratio = "n/a" if t["eval_over_train"] is None else f"{t['eval_over_train']:.3f}"
  return (f"timing: training {t['train_time_s']:.2f} s, evaluation {t['eval_time_s']:.2f} s "
          f"(closed forms {t['eval_closed_forms_s']:.2f} s, compiling {t['eval_programs']} "
          f"program(s) {t['eval_compile_s']:.2f} s, metrics {t['eval_metrics_s']:.2f} s); "
          f"evaluation / training = {ratio}{resumed}")


def card_name(cfg: Config) -> str:
  """The name of the run's data card: the data set, its rows and the swept widths."""
  return (f"phase diagram, {cfg.dataset} data ({cfg.data_size} rows; "
          f"p = {min(cfg.widths)}-{max(cfg.widths)}, n = {min(cfg.sample_sizes)}-"
          f"{max(cfg.sample_sizes)})")


def hypotheses(cfg: Config, x: np.ndarray, labels: np.ndarray) -> dict:
  r"""Which hypotheses of the theorems behind the Eq. 9 and Eq. 8 rows the data meet, as numbers.

  - Cor. 3.2 (Eq. 9): the first n rows pairwise obtuse; ``obtuse_up_to_n`` is the largest n of the
    grid for which they are (0: none).
  - Theorem 3.1 / D.2 (Eq. 8), on all ``data_size`` rows with their mode labels (the obtuse data:
    each row its own cluster): α and β of Definition 3.1 (β < 0 needed), the range of within-cluster
    cosines (> 0 needed for the balanced code, docs/theory.md §3.2), and the margin γ of Theorem D.2
    (:func:`dae_theory.bounds.paper_margin`) for Eq. 8 blocks of p_k = rank + 1 at each σ. A number
    that is undefined (a refused construction or margin, e.g. β ≥ 0) is None."""
  xs = np.asarray(x, np.float64)
  u = xs / np.linalg.norm(xs, axis=1, keepdims=True)
  up_to = 0
  for n in sorted(cfg.sample_sizes):
    c = u[:n] @ u[:n].T
    if n >= 2 and np.all(c[~np.eye(n, dtype=bool)] < 0):
      up_to = n
  card = data.data_card(xs, labels)
  margins = []
  for s in cfg.sigmas:
    try:
      pk = cfg.rank + 1 if cfg.dataset == "mixture" else 1
      con = constructions.generalization_weights(x, labels, pk, s, cfg.lam)
      margins.append(float(bounds.paper_margin(x, labels, con).gamma))
    except ValueError:
      margins.append(None)  # undefined: None, JSON-safe (as the card's undefined numbers)
  return {"alpha": card["alpha"], "beta": card["beta"], "within_cos_min": card["within_cos_min"],
          "within_cos_max": card["within_cos_max"], "sigmas": [float(s) for s in cfg.sigmas],
          "margin_eq8": margins, "obtuse_up_to_n": up_to}


def hypothesis_line(hyp: dict) -> str:
  """One summary line for :func:`hypotheses`."""
  def f(v):
    return "n/a" if v is None else f"{v:.3g}"

  gam = ", ".join(f"{f(g)} (sigma={s:g})" for s, g in zip(hyp["sigmas"], hyp["margin_eq8"]))
  wc = f"{f(hyp['within_cos_min'])} to {f(hyp['within_cos_max'])}"
  return (f"hypotheses: Definition 3.1 alpha = {f(hyp['alpha'])}, beta = {f(hyp['beta'])} (< 0 "
          f"needed); within-cluster cosines {wc} (> 0 needed); Theorem D.2 margin gamma of the Eq. 8 "
          f"blocks {gam} (> 0 needed); Cor. 3.2's pairwise-obtuse samples: "
          + (f"the first n rows are pairwise obtuse for n <= {hyp['obtuse_up_to_n']}"
             if hyp["obtuse_up_to_n"] else "no n of the grid has pairwise-obtuse first n rows"))


def boundary_summary(out: dict[str, np.ndarray]) -> list[str]:
  """For each σ and n (seed means over the configs that did not diverge): the fraction of training
  samples stored in a column at the widest p, and the smallest width whose test/train loss ratio
  exceeds 2 (a memorizing net). Diverged configs (``status >= 0``) are excluded, and a first line says
  how many there were."""
  ok = out["status"] < 0  # (sigma, n, width, seed)
  lines = []
  if not ok.all():
    lines.append(
        f"{int((~ok).sum())} of {ok.size} configs diverged (loss non-finite or above "
        f"{train.DIVERGENCE_FACTOR:g} x its first step's; status >= 0 in results.npz) and are "
        "excluded from the boundary below; lower --learning_rate to train them.")
  with warnings.catch_warnings():  # a cell whose every seed diverged is all-NaN
    warnings.simplefilter("ignore", RuntimeWarning)
    stored = np.nanmean(np.where(ok, out["stored_fraction"], np.nan), -1)  # (sigma, n, width)
    ratio = np.nanmean(np.where(ok, out["test_loss"] / out["train_loss"], np.nan), -1)
  for si, s in enumerate(out["sigmas"]):
    parts = []
    for ni, n in enumerate(out["sample_sizes"]):
      if not ok[si, ni].any():
        parts.append(f"n={n}: all diverged")
        continue
      hit = np.flatnonzero(ratio[si, ni] > 2)
      first = f"p>={out['widths'][hit[0]]}" if hit.size else "none"
      widest = stored[si, ni, -1]
      parts.append(f"n={n}: {first} (stored "
                   + ("n/a, diverged" if np.isnan(widest) else f"{widest:.2f}") + ")")
    lines.append(f"sigma={s:g}: smallest width with test/train loss > 2 (stored-sample fraction at "
                 f"p={out['widths'][-1]}): " + ", ".join(parts))
  return lines


if __name__ == "__main__":
  from sims import _flags

  def _main(cfg: Config, workdir: str) -> None:
    from absl import app

    try:
      check_fits(cfg)  # before the workdir is created
    except ValueError as err:
      raise app.UsageError(str(err)) from None
    run(cfg, workdir)
    import json

    with open(os.path.join(workdir, "summary.json")) as f:
      for line in json.load(f)["lines"]:
        print(line)
    print(f"Run record in {workdir}/; draw it with: python -m figures.phase_diagram --phase_workdir {workdir}")

  _flags.main_with_config(Config, "runs/phase_diagram", _main)
