r"""Memorization detection on the lab's diffusion DAEs (docs/theory.md §10, docs/experiments.md §4.1): a table
like the paper's Table 1 (AUROC, TPR at 1% FPR, time per sample) and the data for its figure.

For each data set (scikit-learn digits; a Gaussian mixture of 4 modes × 500 samples in d = ``mixture_d``,
covariance rank ``mixture_rank``, mean norm 2, spread 1), three time-conditioned DAEs (docs/theory.md §9),
trained on centred data:

* **memorizing**: ``n_memorize`` training points picked pairwise obtuse (as in ``sims.image_dae``);
* **generalizing**: every training point;
* **hybrid**: every training point plus the ``n_memorize`` points again, ``multiplicity`` copies each
  (duplicated training data, Cor. 3.4's setting), width ``hybrid_width``.

Each generates samples; a sample is labelled **memorized** when its cosine to its nearest training point
(of that model's training set, centred coordinates) is ≥ ``threshold`` (default
:data:`dae_theory.copies.COSINE_COPY` = 0.95). Two evaluations:

* **pooled**: the memorizing model's samples with the generalizing model's (each scored with the model
  that generated it), the analogue of a detector deployed across models;
* **hybrid**: the hybrid model's own samples, some copies of duplicated points and the rest novel: the
  paper's within-model setting (memorized vs non-memorized generations of one network).

Scores (high = memorized): std(h) of the un-modulated code relu(Wᵀ(y₀ + σε)) (the paper's Alg. 1) and
the scale-free metrics of :mod:`dae_theory.detection`, at each σ in ``sigmas``; baselines: the distance
to the nearest training point (an oracle: it needs the training data), the denoising error at
σ = ``baseline_sigma``, and the effective rank of the denoiser's Jacobian there. Each row: AUROC and
TPR@1%FPR with stratified-bootstrap 95% intervals, and the scoring time per sample (wall time of one
batched call after a warm-up, on this machine).

  python -m sims.detection --workdir runs/detection        # about 1.5 min on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, detection, diffusion, images, io
from sims._common import diffusion_model, generate, memorization_set
from sims._flags import require

DATASETS = ("digits", "mixture")


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  datasets: tuple[str, ...] = DATASETS
  n_memorize: int = 5
  obtuse_margin: float = 0.05
  multiplicity: int = dataclasses.field(default=300, metadata={"help": "copies of each duplicated point"})
  width: int = 64
  hybrid_width: int = 128
  steps: int = 20_000
  mem_lr: float = 1e-2
  gen_lr: float = 1e-3
  hybrid_lr: float = 1e-2
  n_samples: int = dataclasses.field(default=500, metadata={"help": "samples per model (pooled)"})
  hybrid_samples: int = 2000
  threshold: float = copies.COSINE_COPY
  sigmas: tuple[float, ...] = (0.02, 0.1, 0.3)
  baseline_sigma: float = 0.02
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
    require(self, ("multiplicity", "width", "hybrid_width", "steps", "n_samples", "hybrid_samples",
                   "mixture_d", "mixture_rank", "n_boot"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("mem_lr", "gen_lr", "hybrid_lr", "baseline_sigma"), "> 0", lambda v: v > 0)
    require(self, ("obtuse_margin",), ">= 0", lambda v: v >= 0)
    require(self, ("threshold",), "in (0, 1]", lambda v: 0 < v <= 1)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(steps=300, width=16, hybrid_width=16, n_samples=40, hybrid_samples=60, n_boot=20,
               sigmas=(0.1,), multiplicity=20)


def load(name: str, cfg: Config) -> np.ndarray:
  """Centred training data of data set ``name``."""
  if name == "digits":
    x = images.digits(seed=cfg.seed).train
  else:
    x = np.asarray(data.gaussian_mixture(jax.random.key(cfg.seed), 4, 500, cfg.mixture_d,
                                         cfg.mixture_rank, 2.0, 1.0)[0].x)
  return (x - x.mean(0)).astype(np.float32)


def _timed(fn):
  fn()  # warm-up (compilation)
  t = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t


def score_all(key, cfg: Config, params, den, samples, x_train) -> tuple[dict, dict]:
  """Every score of every sample (high = memorized) and its wall time per sample (s)."""
  rep = lambda y: diffusion.representation(params, y)
  n = samples.shape[0]
  scores, secs = {}, {}
  for i, s in enumerate(cfg.sigmas):
    k = jax.random.fold_in(key, i)
    out, t = _timed(lambda: detection.code_scores(k, rep, samples, s))
    for name, v in out.items():
      scores[f"{name} σ={s:g}"], secs[f"{name} σ={s:g}"] = v, t / n
  kb = jax.random.fold_in(key, 99)
  bs = cfg.baseline_sigma
  for name, fn in (
      ("nearest-neighbour distance (oracle)", lambda: detection.nearest_distance(samples, x_train)),
      (f"denoising error σ={bs:g}", lambda: detection.denoising_error(kb, den, samples, bs)),
      (f"Jacobian effective rank σ={bs:g}", lambda: detection.jacobian_rank(kb, den, samples, bs))):
    scores[name], t = _timed(fn)
    secs[name] = t / n
  return scores, secs


def _model_samples(key, cfg: Config, kind: str, x_all, x_dup, n):
  x = {"mem": x_dup, "gen": x_all,
       "hybrid": jnp.concatenate([x_all, jnp.repeat(x_dup, cfg.multiplicity, axis=0)])}[kind]
  width = cfg.hybrid_width if kind == "hybrid" else cfg.width
  lr = {"mem": cfg.mem_lr, "gen": cfg.gen_lr, "hybrid": cfg.hybrid_lr}[kind]
  params, den = diffusion_model(jax.random.fold_in(key, 0), x, width, cfg.steps, lr)
  samples = generate(jax.random.fold_in(key, 1), den, n, x.shape[1])
  train_set = x_dup if kind == "mem" else x_all  # copies add nothing to the nearest-neighbour search
  cos, idx = diffusion.nearest_cosine(samples, train_set)
  return params, den, samples, np.asarray(cos), np.asarray(idx), train_set


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train, sample and score, write the run record to ``workdir`` (``table.json``, ``table.md`` and
  ``summary.json``: the lines of the table), return the results with the table's ``rows``. ``log`` is
  accepted for the sims' shared signature (this sim logs no progress)."""
  started = time.time()
  out: dict = {}
  rows = []
  for di, name in enumerate(cfg.datasets):
    x_np = load(name, cfg)
    dup = memorization_set(x_np, cfg.n_memorize, cfg.obtuse_margin)
    x_all, x_dup = jnp.asarray(x_np), jnp.asarray(x_np[dup])
    key = jax.random.fold_in(jax.random.key(cfg.seed), di)
    per_kind = {}
    for ki, kind in enumerate(("mem", "gen", "hybrid")):
      n = cfg.hybrid_samples if kind == "hybrid" else cfg.n_samples
      params, den, smp, cos, idx, train_set = _model_samples(jax.random.fold_in(key, ki), cfg, kind,
                                                             x_all, x_dup, n)
      sc, secs = score_all(jax.random.fold_in(key, 10 + ki), cfg, params, den, smp, train_set)
      per_kind[kind] = (sc, secs, (cos >= cfg.threshold).astype(int))
      out[f"{name}_{kind}_nn_cos"] = cos
      out[f"{name}_{kind}_samples"] = np.asarray(smp)
      if kind == "hybrid":
        out[f"{name}_hybrid_copies_of_duplicated"] = np.isin(idx[cos >= cfg.threshold], dup)
    settings = {
        "pooled": ({k: np.r_[per_kind["mem"][0][k], per_kind["gen"][0][k]] for k in per_kind["mem"][0]},
                   np.r_[per_kind["mem"][2], per_kind["gen"][2]], per_kind["mem"][1]),
        "hybrid": (per_kind["hybrid"][0], per_kind["hybrid"][2], per_kind["hybrid"][1])}
    for setting, (sc, labels, secs) in settings.items():
      out[f"{name}_{setting}_labels"] = labels
      for score_name, v in sc.items():
        out[f"{name}_{setting}_score/{score_name}"] = v
        row = dict(dataset=name, setting=setting, score=score_name, n_memorized=int(labels.sum()),
                   n_novel=int((1 - labels).sum()), us_per_sample=1e6 * secs[score_name])
        if 0 < labels.sum() < len(labels):
          det = detection.evaluate(labels, v, n_boot=cfg.n_boot, seed=cfg.seed)
          row.update(auroc=det.auroc, auroc_ci=det.auroc_ci, tpr=det.tpr, tpr_ci=det.tpr_ci)
        else:
          row.update(auroc=np.nan, auroc_ci=(np.nan, np.nan), tpr=np.nan, tpr_ci=(np.nan, np.nan),
                     note="one class only: no ROC")
        rows.append(row)
  table = format_table(rows)
  io.write_run(workdir, cfg, out, started,
               extra={"table.json": rows, "table.md": table,
                      "summary.json": {"lines": table.splitlines()}})
  out["rows"] = rows
  return out


def format_table(rows: list[dict]) -> str:
  lines = ["| data | setting | score | AUROC [95% CI] | TPR@1%FPR [95% CI] | µs/sample | memorized / novel |",
           "|---|---|---|---|---|---|---|"]
  for r in rows:
    if np.isnan(r["auroc"]):
      auc = tpr = "n/a (one class)"
    else:
      auc = f"{r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}]"
      tpr = f"{r['tpr']:.3f} [{r['tpr_ci'][0]:.3f}, {r['tpr_ci'][1]:.3f}]"
    lines.append(f"| {r['dataset']} | {r['setting']} | {r['score']} | {auc} | {tpr} | "
                 f"{r['us_per_sample']:.1f} | {r['n_memorized']} / {r['n_novel']} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/detection", run, lambda out, cfg: [format_table(out["rows"]), "(table.md, table.json)"])
