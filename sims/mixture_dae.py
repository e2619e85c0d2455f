r"""Memorizing vs generalizing DAEs on a Gaussian mixture (Fig. 4, mixture half) and on hybrid data
(Fig. 6), from random init.

**Fig. 4 (mixture).** A mixture of ``clusters`` modes (centred-simplex means of norm ``mean_norm``,
rank-``rank`` covariances of scale ``spread``). Samples of one mode are pairwise acute (they share the
mean), so a few of them are not memorized column by column (in our probe no sample of 16 was stored
at p = 24–48); as on digits, the memorization set is ``n_memorize`` centred samples picked with
pairwise cosines < −``obtuse_margin`` (Cor. 3.2's hypothesis). The generalizing model sees all
``clusters·per_cluster`` centred samples. Scores: std(h) and participation ratio of h(x + σε), AUROC
(the settings of the paper's mixture figure are not published: docs/theory.md §11; these are ours).

**Fig. 6 (hybrid).** ``duplicated`` points repeated ``multiplicity`` times plus ``modes`` Gaussian
modes (:func:`dae_theory.data.hybrid`), width ``hybrid_width``. Each trained column is classified:
*memorizing* when its cosine to a duplicated point is ≥ :data:`dae_theory.copies.COSINE_COPY` (0.95),
*block k* when it serves mode k (:func:`dae_theory.metrics.learned_allocation`), *dead* otherwise.
Compared with the Cor. 3.4 construction for the learned allocation (one column per duplicated point, a
balanced Eq. 8 block per mode): column counts and the relative distance between W Wᵀ of the two.
Stored per seed for the figure: the trained W (``hybrid_w``), the duplicated points and each mode's top
``hybrid_rank + 1`` principal directions (:func:`mode_directions`).

  python -m sims.mixture_dae --workdir runs/mixture_dae          # about 30 s on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import constructions, copies, data, io, metrics, train
from sims._common import memorization_set, std_separation
from sims._flags import require


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  d: int = 32
  clusters: int = 4
  rank: int = 16
  mean_norm: float = 2.0
  spread: float = 1.0
  per_cluster: int = 500
  n_memorize: int = 5
  obtuse_margin: float = 0.0
  width: int = 16
  sigma: float = 0.2
  lam: float = 1e-4
  steps: int = 4000
  learning_rate: float = 1e-2
  batch_size: int = 128
  draws: int = dataclasses.field(default=100, metadata={"help": "noise draws per memorized point"})
  duplicated: int = 3
  multiplicity: int = 10
  modes: int = 3
  per_mode: int = 200
  hybrid_rank: int = 2
  hybrid_width: int = 12
  hybrid_steps: int = 20_000
  seeds: int = 5
  seed: int = 0

  def __post_init__(self):
    require(self, ("d", "clusters", "rank", "per_cluster", "width", "steps", "batch_size", "draws",
                   "duplicated", "multiplicity", "modes", "per_mode", "hybrid_rank", "hybrid_width",
                   "hybrid_steps", "seeds"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("sigma", "learning_rate", "mean_norm", "spread"), "> 0", lambda v: v > 0)
    require(self, ("lam", "obtuse_margin"), ">= 0", lambda v: v >= 0)
    if self.n_memorize > self.d + 1:
      raise ValueError(f"--n_memorize must be <= d + 1 = {self.d + 1} (pairwise-obtuse sets are no "
                       f"larger), got {self.n_memorize}.")

  @classmethod
  def smoke(cls) -> "Config":
    return cls(per_cluster=100, steps=200, draws=10, per_mode=40, hybrid_steps=200, seeds=1)


def classify_columns(params, hyb: data.LabelledData, duplicated: int,
                     threshold: float = copies.COSINE_COPY
                     ) -> tuple[np.ndarray, np.ndarray]:
  """Per column: type (−1 dead, 0 … duplicated−1 memorizing that point, duplicated + k block of mode
  k) and its best cosine to a duplicated point."""
  w = params.w1
  dup_points = hyb.means[:duplicated]  # the duplicated points are the first simplex centres
  cos = np.asarray(metrics.cosine_matrix(w.T, dup_points))  # (p, duplicated)
  alloc = metrics.learned_allocation(params, hyb.x, hyb.labels)
  kind = np.where(cos.max(1) >= threshold, cos.argmax(1), alloc)
  kind = np.where((cos.max(1) < threshold) & (alloc >= 0) & (alloc < duplicated), -1, kind)
  return kind, cos.max(1)


def mode_directions(hyb: data.LabelledData, duplicated: int, modes: int, r: int) -> np.ndarray:
  """``(modes, r, d)``: each mode's top ``r`` principal directions, the eigenvectors of its samples'
  uncentred second moment (the U_k of an Eq. 8 block: the DAE has no bias), each signed so that
  uᵀ(mode mean) ≥ 0. A mode of rank-``hybrid_rank`` covariance and non-zero mean spans
  ``hybrid_rank + 1`` of them."""
  x, labels = np.asarray(hyb.x, np.float64), np.asarray(hyb.labels)
  out = []
  for k in range(modes):
    xk = x[labels == duplicated + k]
    _, _, vt = np.linalg.svd(xk, full_matrices=False)
    u = vt[:r]
    u = u * np.where(u @ xk.mean(0) < 0, -1.0, 1.0)[:, None]
    out.append(u)
  return np.stack(out).astype(np.float32)


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train the Fig. 4 (mixture) and Fig. 6 (hybrid) models, write the run record to ``workdir`` (with
  ``summary.json``: the :func:`summary` lines), return the results. ``log`` is accepted for the sims'
  shared signature (this sim logs no progress)."""
  started = time.time()
  key = jax.random.key(cfg.seed)
  ds, _ = data.gaussian_mixture(jax.random.fold_in(key, 0), cfg.clusters, cfg.per_cluster, cfg.d,
                                cfg.rank, cfg.mean_norm, cfg.spread)
  x = np.asarray(ds.x)
  centred = x - x.mean(0)
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  x_all, x_mem = jnp.asarray(centred), jnp.asarray(centred[mem_idx])
  mem = train.train_dae(jax.random.fold_in(key, 1), x_mem, cfg.width, cfg.sigma, cfg.lam, cfg.steps,
                        cfg.learning_rate)
  gen = train.train_dae(jax.random.fold_in(key, 2), x_all, cfg.width, cfg.sigma, cfg.lam, cfg.steps,
                        cfg.learning_rate, batch_size=train.batch_or_full(cfg.batch_size, x_all.shape[0]))
  out = std_separation(jax.random.fold_in(key, 3), mem.params, x_mem, gen.params, x_all, cfg.sigma,
                       cfg.draws)
  out["mem_stored"] = np.asarray(metrics.cosine_matrix(x_mem, mem.params.w1.T)).max(1)
  out["gen_col_cos"] = np.asarray(metrics.cosine_matrix(gen.params.w1.T, x_all)).max(1)

  kinds, dup_cos, dists, con_counts, ws, dup_pts, mode_dirs = [], [], [], [], [], [], []
  for s in range(cfg.seeds):
    hyb = data.hybrid(jax.random.fold_in(key, 100 + s), cfg.duplicated, cfg.multiplicity, cfg.modes,
                      cfg.per_mode, cfg.d, rank=cfg.hybrid_rank)
    res = train.train_dae(jax.random.fold_in(key, 200 + s), hyb.x, cfg.hybrid_width, cfg.sigma,
                          cfg.lam, cfg.hybrid_steps, cfg.learning_rate,
                          batch_size=train.batch_or_full(cfg.batch_size, hyb.x.shape[0]))
    kind, dc = classify_columns(res.params, hyb, cfg.duplicated)
    alloc = metrics.learned_allocation(res.params, hyb.x, hyb.labels)
    try:
      con = constructions.construction_for_allocation(hyb.x, hyb.labels, alloc, cfg.sigma, cfg.lam)
      dists.append(float(metrics.gram_distance(res.params, con.params)))
      con_counts.append(np.bincount(con.unit_block[con.unit_block >= 0],
                                    minlength=cfg.duplicated + cfg.modes))
    except ValueError as err:  # the learned allocation has no construction (e.g. p_k above the rank)
      print(f"hybrid seed {s}: no Cor. 3.4 construction for allocation {alloc.tolist()}: {err}")
      dists.append(np.nan)
      con_counts.append(np.full(cfg.duplicated + cfg.modes, -1))
    kinds.append(kind), dup_cos.append(dc)
    ws.append(np.asarray(res.params.w1)), dup_pts.append(np.asarray(hyb.means[:cfg.duplicated]))
    mode_dirs.append(mode_directions(hyb, cfg.duplicated, cfg.modes, cfg.hybrid_rank + 1))
  n_types = cfg.duplicated + cfg.modes
  counts = np.stack([np.bincount(k[k >= 0], minlength=n_types) for k in kinds])  # (seed, cluster)
  out.update(hybrid_kind=np.stack(kinds), hybrid_counts=counts, hybrid_dup_cos=np.stack(dup_cos),
             hybrid_gram_distance=np.array(dists), hybrid_construction_counts=np.stack(con_counts),
             hybrid_w=np.stack(ws), hybrid_dup_points=np.stack(dup_pts),
             hybrid_mode_dirs=np.stack(mode_dirs))
  io.write_run(workdir, cfg, out, started, axes={"hybrid_kind": ["seed", "unit"],
                                                 "hybrid_counts": ["seed", "cluster"],
                                                 "hybrid_construction_counts": ["seed", "cluster"],
                                                 "hybrid_w": ["seed", "dim", "unit"],
                                                 "hybrid_dup_points": ["seed", "point", "dim"],
                                                 "hybrid_mode_dirs": ["seed", "mode", "rank", "dim"]},
               extra={"summary.json": {"lines": summary(out, cfg)}})
  return out


def summary(out: dict, cfg: Config) -> list[str]:
  counts = out["hybrid_counts"].tolist()
  return [
      f"mixture: memorizing model stores its {cfg.n_memorize} samples at cosine "
      f"{out['mem_stored'].min():.3f}-{out['mem_stored'].max():.3f}; std(h) AUROC "
      f"{out['auroc_std']:.3f}, participation-ratio AUROC {out['auroc_pr']:.3f}",
      f"hybrid: columns per type (duplicated points, then modes) per seed {counts}; Cor. 3.4 "
      f"construction {out['hybrid_construction_counts'].tolist()}; WW^T distance "
      f"{np.round(out['hybrid_gram_distance'], 4).tolist()}",
  ]


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/mixture_dae", run, summary)
