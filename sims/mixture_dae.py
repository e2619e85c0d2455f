r"""Memorizing vs generalizing DAEs on a Gaussian mixture (Fig. 4, mixture half) and on hybrid data
(Fig. 6), from random init.

**Fig. 4 (mixture).** A mixture of ``clusters`` modes (centred-simplex means of norm ``mean_norm``,
rank-``rank`` covariances of scale ``spread``, each latent shrunk to norm ≤ ``max_radius``:
:func:`dae_theory.data.sample_mixture`). The defaults satisfy the hypotheses of the theorems the
figure tests, and the run record checks them (``summary.json`` "data_cards" and "hypotheses"): the
generalizing data are (α, β)-separable (Definition 3.1) with β = −1/(M−1) < 0 and
α ≤ spread·max_radius/mean_norm = 0.25 against the population means (about 0.26 against the sample
means), within-cluster cosines > 0, and the Theorem D.2 margin γ (:func:`dae_theory.bounds.paper_margin`,
Eq. 8 blocks of p_k = rank + 1, the Gram rank) is positive; the memorization set is pairwise obtuse
(Cor. 3.2). Samples of one mode are pairwise acute, so the memorization set (``n_memorize`` centred
samples picked with pairwise cosines < −``obtuse_margin``) has at most one sample per mode: hence
``clusters`` = 5 modes for the 5 memorized samples. Width ``width`` = 15 = clusters·(rank + 1), the
sum of the modes' Gram ranks (so no block is narrower than its mode's Gram rank, Known discrepancy 5),
and ≥ 3n for the memorizing model. The generalizing model sees all ``clusters·per_cluster`` centred
samples. Scores: std(h) and participation ratio of h(x + σε), AUROC as the mean over ``fig4_seeds``
model seeds (one memorizing and one generalizing model each) with a two-level bootstrap interval
(:func:`dae_theory.detection.hierarchical_bootstrap`: seeds resampled, then points within each; the
unit of replication is the model seed) (the settings of the paper's
mixture figure are not published: docs/theory.md §11; these are ours). Earlier defaults (4 modes,
rank 16, mean norm 2, spread 1, no clipping) broke Definition 3.1: α = 3.2 and within-cluster cosines
down to −0.55.

**Fig. 6 (hybrid).** ``duplicated`` points repeated ``multiplicity`` times plus ``modes`` Gaussian
modes (:func:`dae_theory.data.hybrid`, mean norm 4, spread ``hybrid_spread``), width ``hybrid_width``
= duplicated + modes·(hybrid_rank + 1), the construction's width. Per seed the run records α, the
smallest within-cluster cosine and the Theorem D.2 margin γ of the Cor. 3.4 construction
(``hybrid_alpha``, ``hybrid_within_cos_min``, ``hybrid_margin``): with spread 0.35 (α ≈ 0.3) γ > 0;
with ``data.hybrid``'s default spread 0.5 (α = 0.43–0.47) γ was negative for one of the first three
seeds (−0.03), so the guarantee did not cover every seed. Each trained column is classified:
*memorizing* when its cosine to a duplicated point is ≥ :data:`dae_theory.copies.COSINE_COPY` (0.95),
*block k* when it serves mode k (:func:`dae_theory.metrics.learned_allocation`), *dead* otherwise.
Compared with the Cor. 3.4 construction for the learned allocation (one column per duplicated point, a
balanced Eq. 8 block per mode): column counts and the relative distance between W Wᵀ of the two.
Stored per seed for the figure: the trained W (``hybrid_w``), the duplicated points and each mode's top
``hybrid_rank + 1`` principal directions (:func:`mode_directions`).

  python -m sims.mixture_dae --workdir runs/mixture_dae          # about 20 s on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import bounds, constructions, copies, data, detection, io, metrics, train
from sims._common import memorization_set, std_separation
from sims._flags import require


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  d: int = 32
  clusters: int = 5
  rank: int = 2
  mean_norm: float = 4.0
  spread: float = 0.5
  max_radius: float = dataclasses.field(
      default=2.0, metadata={"help": "shrink each mode's latent to norm <= this (0: Gaussian, no "
                                     "bound); alpha <= spread*max_radius/mean_norm"})
  per_cluster: int = 500
  n_memorize: int = 5
  obtuse_margin: float = 0.0
  width: int = 15
  sigma: float = 0.2
  lam: float = 1e-4
  steps: int = 4000
  learning_rate: float = 1e-2
  batch_size: int = 128
  draws: int = dataclasses.field(default=100, metadata={"help": "noise draws per memorized point"})
  fig4_seeds: int = dataclasses.field(
      default=3, metadata={"help": "model seeds of Fig. 4 (one memorizing + one generalizing model "
                                   "each; the unit of replication of its AUROC intervals)"})
  n_boot: int = dataclasses.field(default=1000, metadata={"help": "bootstrap resamples"})
  duplicated: int = 3
  multiplicity: int = 10
  modes: int = 3
  per_mode: int = 200
  hybrid_rank: int = 2
  hybrid_spread: float = 0.35
  hybrid_width: int = 12
  hybrid_steps: int = 20_000
  seeds: int = 5
  seed: int = 0

  def __post_init__(self):
    require(self, ("d", "clusters", "rank", "per_cluster", "width", "steps", "batch_size", "draws",
                   "fig4_seeds", "n_boot",
                   "duplicated", "multiplicity", "modes", "per_mode", "hybrid_rank", "hybrid_width",
                   "hybrid_steps", "seeds"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("sigma", "learning_rate", "mean_norm", "spread", "hybrid_spread"), "> 0",
            lambda v: v > 0)
    require(self, ("lam", "obtuse_margin", "max_radius"), ">= 0", lambda v: v >= 0)
    if self.d < self.clusters + self.rank:
      raise ValueError(f"--d={self.d} must be >= clusters + rank = {self.clusters + self.rank} "
                       "(covariances orthogonal to the means).")
    if self.d < self.duplicated + self.modes + self.hybrid_rank:
      raise ValueError(f"--d={self.d} must be >= duplicated + modes + hybrid_rank = "
                       f"{self.duplicated + self.modes + self.hybrid_rank}.")
    if self.n_memorize > self.d + 1:
      raise ValueError(f"--n_memorize must be <= d + 1 = {self.d + 1} (pairwise-obtuse sets are no "
                       f"larger), got {self.n_memorize}.")

  @classmethod
  def smoke(cls) -> "Config":
    return cls(per_cluster=100, steps=200, draws=10, per_mode=40, hybrid_steps=200, seeds=1,
               fig4_seeds=2, n_boot=100)


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


def mixture_data(cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Fig. 4's data: ``(centred (n, d), labels (n,), memorization-set row indices (n_memorize,))``,
  drawn from ``fold_in(key(seed), 0)``."""
  ds, _ = data.gaussian_mixture(jax.random.fold_in(jax.random.key(cfg.seed), 0), cfg.clusters,
                                cfg.per_cluster, cfg.d, cfg.rank, cfg.mean_norm, cfg.spread,
                                max_radius=cfg.max_radius or None)
  x = np.asarray(ds.x)
  centred = x - x.mean(0)
  return centred, np.asarray(ds.labels), memorization_set(centred, cfg.n_memorize,
                                                          cfg.obtuse_margin)


def hybrid_data(cfg: Config, s: int) -> data.LabelledData:
  """Fig. 6's data of hybrid seed ``s`` (:func:`dae_theory.data.hybrid`, from
  ``fold_in(key(seed), 100 + s)``)."""
  return data.hybrid(jax.random.fold_in(jax.random.key(cfg.seed), 100 + s), cfg.duplicated,
                     cfg.multiplicity, cfg.modes, cfg.per_mode, cfg.d, rank=cfg.hybrid_rank,
                     spread=cfg.hybrid_spread)


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train the Fig. 4 (mixture) and Fig. 6 (hybrid) models, write the run record to ``workdir`` (with
  ``summary.json``: the :func:`summary` lines), return the results. ``log`` is accepted for the sims'
  shared signature (this sim logs no progress)."""
  started = time.time()
  key = jax.random.key(cfg.seed)
  centred, labels, mem_idx = mixture_data(cfg)
  x_all, x_mem = jnp.asarray(centred), jnp.asarray(centred[mem_idx])
  # std_separation scores the first draws·n_memorize rows of the generalizing model's data: shuffled,
  # so they come from every mode (the rows are grouped by mode)
  x_scored = x_all[np.asarray(jax.random.permutation(jax.random.fold_in(key, 4), x_all.shape[0]))]
  seps, stored, col_cos = [], [], []
  for s in range(cfg.fig4_seeds):  # model seed s: one memorizing and one generalizing model
    mem = train.train_dae(jax.random.fold_in(jax.random.fold_in(key, 1), s), x_mem, cfg.width,
                          cfg.sigma, cfg.lam, cfg.steps, cfg.learning_rate)
    gen = train.train_dae(jax.random.fold_in(jax.random.fold_in(key, 2), s), x_all, cfg.width,
                          cfg.sigma, cfg.lam, cfg.steps, cfg.learning_rate,
                          batch_size=train.batch_or_full(cfg.batch_size, x_all.shape[0]))
    seps.append(std_separation(jax.random.fold_in(jax.random.fold_in(key, 3), s), mem.params, x_mem,
                               gen.params, x_scored, cfg.sigma, cfg.draws))
    stored.append(np.asarray(metrics.cosine_matrix(x_mem, mem.params.w1.T)).max(1))
    col_cos.append(np.asarray(metrics.cosine_matrix(gen.params.w1.T, x_all)).max(1))
  out = {k: np.stack([np.asarray(sep[k]) for sep in seps])  # (seed, point)
         for k in ("mem_std", "gen_std", "mem_pr", "gen_pr")}
  out["h_mem"], out["h_gen"] = seps[0]["h_mem"], seps[0]["h_gen"]  # seed 0's codes
  out["mem_stored"], out["gen_col_cos"] = np.stack(stored), np.stack(col_cos)  # (seed, point/unit)
  labels01 = np.r_[np.ones(out["mem_std"].shape[1]), np.zeros(out["gen_std"].shape[1])]
  for score, mem_s, gen_s in (("std", out["mem_std"], out["gen_std"]),
                              ("pr", -out["mem_pr"], -out["gen_pr"])):  # high = memorized
    hb = detection.hierarchical_bootstrap(cfg.seed, [(labels01, np.r_[m, g]) for m, g in
                                                     zip(mem_s, gen_s)], detection.auroc,
                                          n_boot=cfg.n_boot)
    out[f"auroc_{score}"] = np.float64(hb.estimate)  # mean over model seeds
    out[f"auroc_{score}_per_seed"] = np.asarray(hb.per_model)
    out[f"auroc_{score}_ci"] = np.asarray(hb.ci)
  plain = dict(lam=cfg.lam, optimizer="adam", learning_rate=cfg.learning_rate, steps=cfg.steps,
               seeds=cfg.fig4_seeds)
  cards = {"Fig. 4 mixture, memorizing model": data.data_card(
               centred[mem_idx], np.arange(len(mem_idx)), p=cfg.width, **plain),
           "Fig. 4 mixture, generalizing model": data.data_card(
               centred, labels, p=cfg.width, **plain)}
  gen_card, mem_card = (cards["Fig. 4 mixture, generalizing model"],
                        cards["Fig. 4 mixture, memorizing model"])
  out.update(mixture_alpha=np.float64(_nan(gen_card["alpha"])),
             mixture_beta=np.float64(_nan(gen_card["beta"])),
             mixture_within_cos=np.array([_nan(gen_card["within_cos_min"]),
                                          _nan(gen_card["within_cos_max"])]),
             mem_set_max_cos=np.float64(_nan(mem_card["beta"])))
  out["mixture_margin"] = np.float64(theorem_d2_margin(
      centred, labels, lambda: constructions.generalization_weights(
          centred, labels, cfg.rank + 1, cfg.sigma, cfg.lam)))

  kinds, dup_cos, dists, con_counts, ws, dup_pts, mode_dirs = [], [], [], [], [], [], []
  alphas, within, margins = [], [], []
  for s in range(cfg.seeds):
    hyb = hybrid_data(cfg, s)
    res = train.train_dae(jax.random.fold_in(key, 200 + s), hyb.x, cfg.hybrid_width, cfg.sigma,
                          cfg.lam, cfg.hybrid_steps, cfg.learning_rate,
                          batch_size=train.batch_or_full(cfg.batch_size, hyb.x.shape[0]))
    hx, hl = np.asarray(hyb.x), np.asarray(hyb.labels)
    card = data.data_card(hx, hl, p=cfg.hybrid_width, lam=cfg.lam, optimizer="adam",
                          learning_rate=cfg.learning_rate, steps=cfg.hybrid_steps, seeds=cfg.seeds)
    if s == 0:
      cards["Fig. 6 hybrid, seed 0"] = card
    alphas.append(_nan(card["alpha"])), within.append(_nan(card["within_cos_min"]))
    margins.append(theorem_d2_margin(hx, hl, lambda: constructions.hybrid_weights(
        hx, hl, cfg.hybrid_rank + 1, cfg.sigma, cfg.lam, duplicated=range(cfg.duplicated))))
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
             hybrid_mode_dirs=np.stack(mode_dirs), hybrid_alpha=np.array(alphas),
             hybrid_within_cos_min=np.array(within), hybrid_margin=np.array(margins))
  hyp = hypotheses(out, cards, cfg)
  io.write_run(workdir, cfg, out, started, axes={"hybrid_kind": ["seed", "unit"],
                                                 "hybrid_counts": ["seed", "cluster"],
                                                 "hybrid_construction_counts": ["seed", "cluster"],
                                                 "hybrid_w": ["seed", "dim", "unit"],
                                                 "hybrid_dup_points": ["seed", "point", "dim"],
                                                 "hybrid_mode_dirs": ["seed", "mode", "rank", "dim"],
                                                 "hybrid_alpha": ["seed"],
                                                 "mem_std": ["seed", "point"],
                                                 "gen_std": ["seed", "point"],
                                                 "mem_pr": ["seed", "point"],
                                                 "gen_pr": ["seed", "point"],
                                                 "mem_stored": ["seed", "point"],
                                                 "gen_col_cos": ["seed", "unit"],
                                                 "auroc_std_per_seed": ["seed"],
                                                 "auroc_pr_per_seed": ["seed"],
                                                 "auroc_std_ci": ["low/high"],
                                                 "auroc_pr_ci": ["low/high"],
                                                 "hybrid_within_cos_min": ["seed"],
                                                 "hybrid_margin": ["seed"]},
               extra={"summary.json": {"lines": summary(out, cfg), "data_cards": cards,
                                       "hypotheses": hyp}})
  return out


def _nan(v) -> float:
  return float("nan") if v is None else float(v)


def theorem_d2_margin(x, labels, build) -> float:
  """γ of Theorem D.2 (:func:`dae_theory.bounds.paper_margin`) for the construction ``build()``
  returns on ``(x, labels)``; NaN when the data or the construction do not admit one (β ≥ 0, or a
  construction the data refuse), so a failed hypothesis is recorded rather than raised."""
  try:
    return float(bounds.paper_margin(x, labels, build()).gamma)
  except ValueError:
    return float("nan")


def hypotheses(out: dict, cards: dict, cfg: Config) -> dict:
  """Which hypotheses of the theorems the figures test hold on this run's data, as numbers.

  Fig. 4's memorizing model: Cor. 3.2 needs pairwise-obtuse samples (β < 0 with each sample its own
  cluster) and p ≥ n. Its generalizing model: Definition 3.1 with β < 0, within-cluster cosines > 0
  (every unit of a balanced block fires on every point of its cluster, docs/theory.md §3.2), and
  Theorem D.2's margin γ > 0 for Eq. 8 blocks of p_k = rank + 1. Fig. 6: the same for the hybrid set
  of each seed (the duplicated clusters have α = 0)."""
  mem = cards["Fig. 4 mixture, memorizing model"]
  hm, hw = out["hybrid_margin"], out["hybrid_within_cos_min"]
  return {
      "fig4_memorizing_pairwise_obtuse": bool(_nan(mem["beta"]) < 0),
      "fig4_memorizing_p_ge_n": bool(cfg.width >= mem["n"]),
      "fig4_generalizing_beta_negative": bool(out["mixture_beta"] < 0),
      "fig4_generalizing_within_cos_positive": bool(out["mixture_within_cos"][0] > 0),
      "fig4_generalizing_margin": float(out["mixture_margin"]),
      "fig4_generalizing_margin_positive": bool(out["mixture_margin"] > 0),
      "fig6_seeds_with_positive_margin": int(np.sum(hm > 0)),
      "fig6_seeds_with_within_cos_positive": int(np.sum(hw > 0)),
      "fig6_seeds": int(len(hm)),
  }


def summary(out: dict, cfg: Config) -> list[str]:
  """The run's summary lines: the Fig. 4 mixture scores, the Fig. 6 column counts, and which of the
  theorems' hypotheses the data meet (:func:`hypotheses`)."""
  counts = out["hybrid_counts"].tolist()
  lines = [
      f"mixture ({cfg.fig4_seeds} model seeds, one memorizing and one generalizing model each): the "
      f"memorizing models store their {cfg.n_memorize} samples at cosine "
      f"{out['mem_stored'].min():.3f}-{out['mem_stored'].max():.3f}; std(h) AUROC "
      f"{out['auroc_std']:.3f} [{out['auroc_std_ci'][0]:.3f}, {out['auroc_std_ci'][1]:.3f}] (per seed "
      f"{np.round(out['auroc_std_per_seed'], 3).tolist()}), participation-ratio AUROC "
      f"{out['auroc_pr']:.3f} [{out['auroc_pr_ci'][0]:.3f}, {out['auroc_pr_ci'][1]:.3f}] (per seed "
      f"{np.round(out['auroc_pr_per_seed'], 3).tolist()}); mean over model seeds, 95% interval over "
      f"model seeds (seeds resampled, then points within each); medians std(h) "
      f"{np.median(out['mem_std']):.3f} vs {np.median(out['gen_std']):.3f}, participation ratio "
      f"{np.median(out['mem_pr']):.3f} vs {np.median(out['gen_pr']):.3f} (memorized vs generalized)",
      f"hybrid: columns per type (duplicated points, then modes) per seed {counts}; Cor. 3.4 "
      f"construction {out['hybrid_construction_counts'].tolist()}; WW^T distance "
      f"{np.round(out['hybrid_gram_distance'], 4).tolist()}",
  ]
  hm = out["hybrid_margin"]
  wc = out["mixture_within_cos"]
  lines.append(
      f"hypotheses: Fig. 4 memorization set pairwise cosines <= {float(out['mem_set_max_cos']):.3f} "
      f"(Cor. 3.2 needs < 0), p = {cfg.width} for n = {cfg.n_memorize}; Fig. 4 mixture alpha = "
      f"{float(out['mixture_alpha']):.3f}, beta = {float(out['mixture_beta']):.3f}, within-cluster "
      f"cosines {wc[0]:.3f}-{wc[1]:.3f} (need > 0), Theorem D.2 margin gamma = "
      f"{float(out['mixture_margin']):.3f} (need > 0); Fig. 6 hybrid per seed alpha "
      f"{np.round(out['hybrid_alpha'], 3).tolist()}, smallest within-cluster cosine "
      f"{np.round(out['hybrid_within_cos_min'], 3).tolist()}, gamma {np.round(hm, 3).tolist()} "
      f"({int(np.sum(hm > 0))} of {len(hm)} seeds > 0)")
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/mixture_dae", run, summary)
