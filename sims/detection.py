r"""Memorization detection inside one model: the duplication-spectrum benchmark (docs/theory.md §10.1,
docs/experiments.md §4.1), the lab's analogue of the paper's Table 1 (memorized vs novel generations
of **one** network, AUROC and TPR at 1% FPR).

For each data set (scikit-learn digits; a Gaussian mixture of 4 modes × 500 samples in d = ``mixture_d``,
covariance rank ``mixture_rank``, mean norm 2, spread 1), centred by the training mean, ``seeds`` hybrid
time-conditioned DAEs (docs/theory.md §9; ``sims._common.diffusion_model``: Adam, cosine decay, one
learning rate and weight decay for every model). The training set of a model is **every** training
point plus K = len(``multiplicities``) chosen points duplicated: point j appears m_j times in all, m_j
running over ``multiplicities`` (default 1, 10, 30, 100, 300, 1000; the point at multiplicity 1 is an
ordinary training point tracked as a group). So one model holds every multiplicity, and detection is
evaluated inside it. The K points are pairwise obtuse in centred coordinates (cosines < −``obtuse_margin``,
``sims._common.memorization_set``): Cor. 3.2's hypothesis, under which each point can be stored by a
unit of its own without activating the others' (the greedy scan finds only 6 such points on centred
digits with margin 0, which fixes K ≤ 6 there). Model seed s assigns the multiplicities to the points
rotated by s (point j gets ``multiplicities[(j + s) mod K]``), so a multiplicity is not tied to one image.

**Width** ``width`` = 70 = 64 + 6: 64 units for the data's modes (d = 64 for digits, which the lab's
generalizing digit DAE uses; 4 modes × rank 16 = 64 for the mixture, one unit per covariance direction as
in the balanced blocks of Cor. 3.3) plus one unit per duplicated point (Cor. 3.4's hybrid minimizer
stores each duplicated point in its own unit). The data card says p and p/d.

**Labels** (part A, :mod:`dae_theory.copies`): a finite sample is a *copy* of training point i when
``copy_report(sample, distinct training points).is_copy`` (d₁/d₂ < 1/3 and relative L2 error < 0.1) and
its nearest point is i. Beside it, evaluated the same way: the *distance-ratio* label, d₁/d₂ < 1/3 alone
(the memorization literature's criterion, which admits a scaled copy when it is much nearer its point
than the next one), and the scale-blind *direction* label (cosine ≥ 0.95 to the nearest point), for
comparison only: the DAE is bias-free and positively homogeneous in y,
so a stored point is a line of fixed points, and its samples are often scaled copies (direction right,
norm off by 20–60%). Per multiplicity m: positives = samples that are copies of the tracked point of
multiplicity m, negatives = samples that are copies of nothing; the row "any duplicated point" takes the
copies of every point with m > 1. Copies of other (untracked) training points and non-finite samples
(the unclamped sampler can overflow) are counted and left out.

**Scores** (high = memorized) of every finite sample, with the model that made it: std(h) of the
un-modulated code relu(Wᵀ(y₀ + σε)) (the paper's Alg. 1) and the scale-free code metrics of
:data:`dae_theory.detection.SCORES`, at each σ in ``sigmas``; baselines: −(distance to the nearest
training point) (an oracle: it needs the training data), −(denoising error) and −(effective rank of the
denoiser's Jacobian) at σ = ``baseline_sigma``.

**Statistics**: per row, AUROC and TPR@1%FPR inside each model, averaged over the models that made both
a positive and a negative (:func:`dae_theory.detection.within_model_evaluation`), with a 95% two-level
bootstrap interval (resample model seeds, then samples within each model by class; ``n_boot``
resamples). The unit of replication is the model seed. A row whose positives number fewer than
``min_positives`` over all seeds, or that come from fewer than 2 models, says so instead of a number.
Each row also states :func:`dae_theory.detection.pooled_confound` of its models: the AUROC that "which
seed made the sample" alone would reach if the seeds' samples were pooled (the confound the old pooled
memorizing-vs-generalizing setting measured; the benchmark never pools).

  python -m sims.detection --workdir runs/detection   # about 100 s of CPU time (5 min wall on 2 cores
                                                     # shared with four other jobs)
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, detection, images, io
from sims._common import (DIFFUSION_LR, DIFFUSION_WD, diffusion_card, diffusion_model, generate,
                          memorization_set)
from sims._flags import require

DATASETS = ("digits", "mixture")
FPR = 0.01
# part A's scale-aware label; the memorization literature's distance-ratio criterion alone (d₁/d₂ < 1/3,
# no condition on the error, so a scaled copy close to its point relative to the next one counts); the
# scale-blind cosine label (comparison)
LABELS = ("copy", "ratio", "direction")
LABEL_NAMES = {"copy": "copy (d₁/d₂ < 1/3, rel. error < 0.1)", "ratio": "distance ratio (d₁/d₂ < 1/3)",
               "direction": "direction (cosine ≥ 0.95)"}
ANY = "any duplicated point"
# Readable names of the code scores (detection.SCORES keys; each signed so that high = memorized).
SCORE_NAMES = {"std": "std(h)", "neg_participation_ratio": "participation ratio",
               "l4_over_l2": "ℓ4/ℓ2 ratio", "max_over_mean": "max/mean", "neg_active_count":
               "active units", "gini": "Gini index"}
NEAREST = "nearest-training distance (oracle)"
# group codes of a sample: m >= 1 = copy of the tracked point of multiplicity m
NOVEL, UNTRACKED, NONFINITE = 0, -1, -2


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  datasets: tuple[str, ...] = DATASETS
  multiplicities: tuple[int, ...] = dataclasses.field(default=(1, 10, 30, 100, 300, 1000), metadata={
      "help": "total copies of each tracked point in the training set (one pairwise-obtuse point each)"})
  obtuse_margin: float = 0.0
  width: int = dataclasses.field(default=70, metadata={
      "help": "hidden units: 64 for the modes + one per tracked point (module docstring)"})
  steps: int = 20_000
  learning_rate: float = DIFFUSION_LR
  weight_decay: float = dataclasses.field(default=DIFFUSION_WD, metadata={
      "help": "weight decay, as lambda = d*wd/4 (docs/theory.md §12.6)"})
  seeds: int = dataclasses.field(default=5, metadata={"help": "model seeds per data set"})
  samples: int = dataclasses.field(default=2000, metadata={"help": "generated samples per model"})
  sigmas: tuple[float, ...] = (0.02, 0.1, 0.3)
  baseline_sigma: float = 0.02
  min_positives: int = dataclasses.field(default=5, metadata={
      "help": "a row with fewer positives over all seeds reports no number"})
  mixture_d: int = 32
  mixture_rank: int = 16
  n_boot: int = 500
  seed: int = 0

  def __post_init__(self):
    bad = [d for d in self.datasets if d not in DATASETS]
    if not self.datasets or bad:
      raise ValueError(f"--datasets must be a non-empty list from {DATASETS}, got {list(self.datasets)}.")
    if not self.sigmas or min(self.sigmas) <= 0:
      raise ValueError(f"--sigmas must be a non-empty list of values > 0, got {list(self.sigmas)}.")
    m = self.multiplicities
    if len(m) < 2 or min(m) < 1 or any(b <= a for a, b in zip(m, m[1:])):
      raise ValueError(f"--multiplicities must be at least 2 increasing integers >= 1, got {list(m)}.")
    require(self, ("width", "steps", "samples", "mixture_d", "mixture_rank", "n_boot",
                   "min_positives"), ">= 1", lambda v: v >= 1)
    require(self, ("seeds",), ">= 2 (intervals are over model seeds)", lambda v: v >= 2)
    require(self, ("learning_rate", "baseline_sigma"), "> 0", lambda v: v > 0)
    require(self, ("weight_decay", "obtuse_margin"), ">= 0", lambda v: v >= 0)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(multiplicities=(1, 300), width=16, steps=300, seeds=2, samples=60, sigmas=(0.1,),
               n_boot=20, mixture_d=8, mixture_rank=2)


def load(name: str, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
  """Centred training data of data set ``name`` and its class (digit) or mode labels."""
  if name == "digits":
    split = images.digits(seed=cfg.seed)
    x, y = split.train, split.train_labels
  else:
    mix = data.gaussian_mixture(jax.random.key(cfg.seed), 4, 500, cfg.mixture_d, cfg.mixture_rank,
                                2.0, 1.0)[0]
    x, y = np.asarray(mix.x), np.asarray(mix.labels)
  return (x - x.mean(0)).astype(np.float32), np.asarray(y, np.int64)


def tracked_points(x: np.ndarray, cfg: Config) -> np.ndarray:
  """Indices of the K = len(multiplicities) pairwise-obtuse points (``memorization_set``)."""
  try:
    return memorization_set(x, len(cfg.multiplicities), cfg.obtuse_margin)
  except ValueError as err:
    raise ValueError(f"--multiplicities (one pairwise-obtuse point each): {err}") from None


def multiplicity_of(n: int, points: np.ndarray, mults, seed_index: int) -> np.ndarray:
  """``(n,)`` copies of every training point in model ``seed_index``'s training set: 1, except point
  ``points[j]``, which gets ``mults[(j + seed_index) mod K]``."""
  k = len(points)
  out = np.ones(n, np.int64)
  out[points] = [mults[(j + seed_index) % k] for j in range(k)]
  return out


def sample_groups(samples: np.ndarray, x: np.ndarray, mult: np.ndarray, points: np.ndarray
                  ) -> tuple[dict, dict]:
  """Label every sample by each of :data:`LABELS`: the multiplicity of the tracked
  point it copies (>= 1), :data:`NOVEL` (copy of nothing), :data:`UNTRACKED` (copy of another training
  point) or :data:`NONFINITE`; and the copy report's fields (NaN for non-finite samples)."""
  ok = np.all(np.isfinite(samples), axis=1)
  groups = {lab: np.full(len(samples), NONFINITE, np.int64) for lab in LABELS}
  fields = ("nearest", "ratio", "relative_error", "norm_ratio", "cosine")
  rep_out = {f: np.full(len(samples), -1 if f == "nearest" else np.nan) for f in fields}
  if ok.any():
    rep = copies.copy_report(samples[ok], x)
    tracked = np.isin(rep.nearest, points)
    for lab, hit in (("copy", rep.is_copy), ("ratio", rep.ratio < copies.COPY_DISTANCE_RATIO),
                     ("direction", rep.cosine >= copies.COSINE_COPY)):
      g = np.where(hit, np.where(tracked, mult[rep.nearest], UNTRACKED), NOVEL)
      groups[lab][ok] = g
    for f in fields:
      rep_out[f][ok] = getattr(rep, f)
  return groups, rep_out


def score_all(key, cfg: Config, params, den, samples, x_train, timed: bool) -> tuple[dict, dict]:
  """Every score of every (finite) sample (high = memorized), keyed by its readable name, and the wall
  time per sample (s) of one batched call after a warm-up (only when ``timed``, else NaN)."""
  from dae_theory import diffusion

  rep = lambda y: diffusion.representation(params, y)
  n = samples.shape[0]
  scores, secs = {}, {}

  def call(fn):
    if not timed:
      return fn(), float("nan")
    fn()  # warm-up (compilation)
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) / n

  for i, s in enumerate(cfg.sigmas):
    k = jax.random.fold_in(key, i)
    out, t = call(lambda: detection.code_scores(k, rep, samples, s))
    for name, v in out.items():
      scores[f"{SCORE_NAMES[name]}, σ = {s:g}"], secs[f"{SCORE_NAMES[name]}, σ = {s:g}"] = v, t
  kb = jax.random.fold_in(key, 99)
  bs = cfg.baseline_sigma
  for name, fn in (
      (NEAREST, lambda: detection.nearest_distance(samples, x_train)),
      (f"denoising error, σ = {bs:g}", lambda: detection.denoising_error(kb, den, samples, bs)),
      (f"Jacobian effective rank, σ = {bs:g}", lambda: detection.jacobian_rank(kb, den, samples, bs))):
    scores[name], secs[name] = call(fn)
  return {k: np.asarray(v, np.float64) for k, v in scores.items()}, secs


def evaluate_rows(dataset: str, label: str, groups: list[np.ndarray], scores: list[dict], mults,
                  min_positives: int, n_boot: int, seed: int) -> list[dict]:
  """The benchmark's rows for one data set and one label: for each multiplicity m and for
  :data:`ANY`, the within-model AUROC and TPR@1%FPR of every score over the models with at least one
  positive and one negative, with two-level bootstrap intervals over those models.

  Args:
    groups: per model, ``(n_s,)`` group codes of its finite samples (:func:`sample_groups`).
    scores: per model, ``{score name: (n_s,)}`` of the same samples.
    mults: the multiplicities (one row each, in order).
    min_positives: fewer positives over all models (or positives in fewer than 2 models): no number.

  Returns:
    One dict per (group, score) with ``dataset, label, group, score, n_pos, n_neg`` (totals),
    ``pos_per_model``, ``models`` (evaluated), ``auroc, auroc_ci, auroc_per_model, tpr, tpr_ci,
    seed_identity_auroc`` (None in a row with too few positives, which has a ``note``).
  """
  names = list(scores[0])
  rows = []
  for gi, group in enumerate(list(mults) + [ANY]):
    pos = [(g > 1) if group == ANY else (g == group) for g in groups]
    neg = [g == NOVEL for g in groups]
    usable = [s for s in range(len(groups)) if pos[s].any() and neg[s].any()]
    base = dict(dataset=dataset, label=label, group=group if group == ANY else int(group),
                n_pos=int(sum(p.sum() for p in pos)), n_neg=int(sum(q.sum() for q in neg)),
                pos_per_model=[int(p.sum()) for p in pos], models=len(usable))
    if base["n_pos"] < min_positives or len(usable) < 2:
      for name in names:
        rows.append(dict(base, score=name, auroc=None, auroc_ci=None, auroc_per_model=None, tpr=None,
                         tpr_ci=None, seed_identity_auroc=None,
                         note=f"too few positives: {base['n_pos']} over {len(groups)} seeds, in "
                              f"{len(usable)} model(s) with negatives (need >= {min_positives} in "
                              ">= 2 models)"))
      continue
    keep = [pos[s] | neg[s] for s in usable]
    labels = [pos[s][k].astype(np.int64) for s, k in zip(usable, keep)]
    per = {name: [scores[s][name][k] for s, k in zip(usable, keep)] for name in names}
    res = detection.within_model_evaluation(seed * 1000 + gi, labels, per, fpr=FPR, n_boot=n_boot)
    confound = detection.pooled_confound(labels)
    for name in names:
      r = res[name]
      rows.append(dict(base, score=name, auroc=r.auroc.estimate, auroc_ci=list(r.auroc.ci),
                       auroc_per_model=r.auroc.per_model.tolist(), tpr=r.tpr.estimate,
                       tpr_ci=list(r.tpr.ci), seed_identity_auroc=confound, note=""))
  return rows


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train, sample, label and score every model, evaluate within models, write the run record to
  ``workdir`` (``table.json``, ``table.md``, ``summary.json``: the table's lines, ``rows``,
  ``counts`` (per data set, label and seed: samples per group), ``data_cards``, ``us_per_sample`` (of
  each score, seed 0), ``direction_copy_norm_ratio`` (per multiplicity: 10/50/90% quantiles of
  ‖sample‖/‖point‖ over the direction copies of all seeds), ``seconds`` (wall time per phase)), return
  the arrays with ``rows`` and ``counts``."""
  log = log or (lambda *a: None)
  started = time.time()
  out: dict = {}
  rows, counts, cards, us = [], {}, {}, {}
  secs = {"train": 0.0, "sample": 0.0, "label": 0.0, "score": 0.0, "evaluate": 0.0}
  norm_ratio: dict = {}
  mults = tuple(cfg.multiplicities)
  for di, name in enumerate(cfg.datasets):
    x, y = load(name, cfg)
    points = tracked_points(x, cfg)
    out[f"{name}_points"] = points
    key = jax.random.fold_in(jax.random.key(cfg.seed), di)
    per_groups = {lab: [] for lab in LABELS}
    per_scores = []
    counts[name] = {lab: [] for lab in LABELS}
    direction_norms = {m: [] for m in mults}
    for s in range(cfg.seeds):
      t0 = time.time()
      mult = multiplicity_of(len(x), points, mults, s)
      x_train = np.repeat(x, mult, axis=0)
      if s == 0:
        cards[name] = diffusion_card(x_train, cfg.width, cfg.steps, cfg.seeds,
                                     np.repeat(y, mult), cfg.learning_rate, cfg.weight_decay)
        cards[name]["multiplicities"] = list(mults)
        cards[name]["distinct_points"] = int(len(x))
        cards[name]["width_rule"] = (f"{cfg.width - len(points)} units for the modes + one for each of "
                                     f"the {len(points)} tracked points")
      ks = jax.random.fold_in(key, s)
      t = time.perf_counter()
      params, den = diffusion_model(jax.random.fold_in(ks, 0), jnp.asarray(x_train), cfg.width,
                                    cfg.steps, cfg.learning_rate, cfg.weight_decay)
      jax.block_until_ready(params)
      secs["train"] += time.perf_counter() - t
      t = time.perf_counter()
      smp = np.asarray(generate(jax.random.fold_in(ks, 1), den, cfg.samples, x.shape[1]))
      secs["sample"] += time.perf_counter() - t
      t = time.perf_counter()
      groups, rep = sample_groups(smp, x, mult, points)
      ok = groups["copy"] != NONFINITE
      secs["label"] += time.perf_counter() - t
      t = time.perf_counter()
      sc, per_sample = score_all(jax.random.fold_in(ks, 2), cfg, params, den, jnp.asarray(smp[ok]), x,
                                 timed=(s == 0))
      secs["score"] += time.perf_counter() - t
      if s == 0:
        us[name] = {k: 1e6 * v for k, v in per_sample.items()}
      for m in mults:
        direction_norms[m] += rep["norm_ratio"][groups["direction"] == m].tolist()
      per_scores.append(sc)
      for lab in LABELS:
        per_groups[lab].append(groups[lab][ok])
        g = groups[lab]
        counts[name][lab].append({"nonfinite": int((g == NONFINITE).sum()), "novel": int((g == NOVEL).sum()),
                                  "untracked": int((g == UNTRACKED).sum()),
                                  **{str(m): int((g == m).sum()) for m in mults}})
        out[f"{name}_seed{s}_group_{lab}"] = g
      for f, v in rep.items():
        out[f"{name}_seed{s}_{f}"] = v
      for k, v in sc.items():
        out[f"{name}_seed{s}_score/{k}"] = v
      out[f"{name}_seed{s}_multiplicity"] = mult[points]
      log(f"[detection] {name} seed {s}: {int(ok.sum())} finite samples, copies "
          f"{counts[name]['copy'][-1]}, direction copies {counts[name]['direction'][-1]} "
          f"({time.time() - t0:.0f} s)")
    norm_ratio[name] = {str(m): (np.percentile(v, [10, 50, 90]).tolist() if v else None)
                        for m, v in direction_norms.items()}
    t = time.perf_counter()
    for lab in LABELS:
      rows += evaluate_rows(name, lab, per_groups[lab], per_scores, mults, cfg.min_positives,
                            cfg.n_boot, cfg.seed + di)
    secs["evaluate"] += time.perf_counter() - t
  table = format_table(rows)
  head = [f"{name}, {lab} label: copies per multiplicity over {cfg.seeds} seeds "
          + ", ".join(f"m = {m}: {sum(c[str(m)] for c in counts[name][lab])}" for m in mults)
          + f"; copies of untracked points {sum(c['untracked'] for c in counts[name][lab])}; "
          f"non-finite samples {sum(c['nonfinite'] for c in counts[name][lab])} of "
          f"{cfg.seeds * cfg.samples}" for name in cfg.datasets for lab in LABELS]
  summary = {"lines": head + table.splitlines(), "rows": rows, "counts": counts, "data_cards": cards,
             "us_per_sample": us, "label_names": LABEL_NAMES, "unit": "model seed",
             "direction_copy_norm_ratio": norm_ratio, "seconds": secs}
  io.write_run(workdir, cfg, out, started,
               extra={"table.json": rows, "table.md": table, "summary.json": summary})
  out["rows"] = rows
  out["counts"] = counts
  return out


def _interval(est, ci) -> str:
  return f"{est:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def format_table(rows: list[dict]) -> str:
  """Markdown table of :func:`evaluate_rows`'s rows (intervals: 95%, over model seeds)."""
  lines = ["| data | label | multiplicity | score | AUROC [95% CI over seeds] | TPR@1%FPR [95% CI] | "
           "positives / negatives (models) | seed-identity AUROC |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if r["auroc"] is None:
      auc, tpr, conf = r["note"], "", ""
    else:
      auc, tpr = _interval(r["auroc"], r["auroc_ci"]), _interval(r["tpr"], r["tpr_ci"])
      conf = f"{r['seed_identity_auroc']:.3f}"
    lines.append(f"| {r['dataset']} | {r['label']} | {r['group']} | {r['score']} | {auc} | {tpr} | "
                 f"{r['n_pos']} / {r['n_neg']} ({r['models']}) | {conf} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/detection", run,
                          lambda out, cfg: [format_table(out["rows"]), "(table.md, table.json)"])
