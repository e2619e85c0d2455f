r"""Fig. 6: hybrid data (duplicated points + Gaussian modes). (a) Each trained column, per seed,
classified as memorizing a duplicated point (cosine ≥ :data:`dae_theory.copies.COSINE_COPY` = 0.95;
one colour per point), as part of a mode's block (one colour per mode) or as neither, with the W Wᵀ
distance to the Cor. 3.4 construction. (b) For one seed, the cosine of every trained column with the
duplicated points and with each mode's principal directions (eigenvectors of its samples' uncentred
second moment), so the two kinds of column are seen directly in the weights. The caption adds the
data's α, within-cluster cosines and Theorem D.2 margin per seed (the hypotheses of Cor. 3.4) and the
data card of seed 0. Reads ``python -m sims.mixture_dae``.

  python -m figures.fig6_hybrid --mixture_workdir runs/mixture_dae
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"mixture": ("sims.mixture_dae", "runs/mixture_dae")}

SEED = 0  # the seed of panel (b)
DUP_COLORS = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22"]  # reds/browns: duplicated points
MODE_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#7f7f7f"]  # blues/greens: modes


def _color(k: int, m: int) -> str:
  if k < 0:
    return "0.8"
  return DUP_COLORS[k % len(DUP_COLORS)] if k < m else MODE_COLORS[(k - m) % len(MODE_COLORS)]


def _name(k: int, m: int) -> str:
  return "neither" if k < 0 else (f"copy of point {k + 1}" if k < m else f"block of mode {k - m + 1}")


def _order(kind: np.ndarray) -> np.ndarray:
  return np.argsort(np.where(kind < 0, 99, kind), kind="stable")


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt
  from matplotlib.lines import Line2D

  style.apply()
  config, a, summary = loaded["mixture"]
  m, modes = config["duplicated"], config["modes"]
  kind, dup_cos = a["hybrid_kind"], a["hybrid_dup_cos"]
  counts = a["hybrid_counts"]  # (seed, cluster): columns of each type
  con = a["hybrid_construction_counts"]
  dist = a["hybrid_gram_distance"]
  seeds, p = kind.shape
  seed = min(SEED, seeds - 1)
  fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), gridspec_kw={"width_ratios": [1.45, 1]})
  ax = axes[0]
  for s in range(seeds):
    order = _order(kind[s])
    ax.scatter(np.arange(p), np.full(p, s), c=[_color(k, m) for k in kind[s][order]], s=70,
               marker="s")
    for j, u in enumerate(order):
      ax.text(j, s + 0.32, f"{dup_cos[s, u]:.2f}", ha="center", va="center", fontsize=8)
  ax.set_yticks(range(seeds), [f"seed {s}\n{dist[s]:.3f}" for s in range(seeds)])
  ax.set_xticks([])
  ax.set_xlabel("trained columns, grouped by type\n(number under each: its best cosine to a "
                "duplicated point)")
  ax.set_ylabel("seed, with W Wᵀ distance to Cor. 3.4")
  ax.set_ylim(-0.5, seeds - 0.2)
  ax.invert_yaxis()
  present = sorted({int(k) for k in np.unique(kind)}, key=lambda k: (k < 0, k))
  handles = [Line2D([], [], marker="s", ls="", ms=7, color=_color(k, m), label=_name(k, m))
             for k in present]
  ax.legend(handles=handles, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2),
            ncol=min(4, len(handles)))
  ax.set_title("(a) column types per seed", loc="left")

  bx = axes[1]
  w = a["hybrid_w"][seed]  # (d, p)
  dirs = a["hybrid_mode_dirs"][seed]  # (modes, r, d)
  refs = np.concatenate([a["hybrid_dup_points"][seed], dirs.reshape(-1, dirs.shape[-1])])
  ref_names = [f"point {i + 1}" for i in range(m)] + [
      f"mode {k + 1}: u{j + 1}" for k in range(modes) for j in range(dirs.shape[1])]
  ref_kind = list(range(m)) + [m + k for k in range(modes) for _ in range(dirs.shape[1])]
  order = _order(kind[seed])
  wc = w[:, order] / np.maximum(np.linalg.norm(w[:, order], axis=0), 1e-12)
  rc = refs / np.maximum(np.linalg.norm(refs, axis=1, keepdims=True), 1e-12)
  cos = wc.T @ rc.T  # (p, refs)
  im = bx.imshow(cos, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
  bx.set_xticks(range(len(ref_names)), ref_names, rotation=60, ha="right", rotation_mode="anchor")
  bx.set_yticks(range(p), [f"col {u + 1}" for u in order])
  for t, k in zip(bx.get_xticklabels(), ref_kind):
    t.set_color(_color(k, m))
  for t, k in zip(bx.get_yticklabels(), kind[seed][order]):
    t.set_color(_color(int(k), m))
  for x0 in np.cumsum([m] + [dirs.shape[1]] * (modes - 1)) - 0.5:
    bx.axvline(x0, color="k", lw=0.6)
  for spine in bx.spines.values():
    spine.set_visible(False)
  cb = fig.colorbar(im, ax=bx, fraction=0.05, pad=0.03)
  cb.set_label("cosine(trained column, reference vector)")
  bx.set_xlabel("duplicated points; each mode's principal directions u1, u2, …")
  bx.set_title(f"(b) seed {seed}: trained columns vs the data's directions", loc="left")
  fig.tight_layout()
  exact = int(np.sum(np.all(counts == con, 1)))
  dup_best = np.abs(cos[:, :m]).max(0)
  caption = (f"Fig. 6: (a) in {exact} of {seeds} seeds every duplicated point has exactly one "
             f"memorizing column and every mode a block of the construction's size; W Wᵀ distance to "
             f"the Cor. 3.4 construction {', '.join(f'{v:.3f}' for v in dist)} (per seed). (b) seed "
             f"{seed}: each duplicated point's best column has cosine "
             f"{', '.join(f'{v:.3f}' for v in dup_best)}; a mode's block columns mix that mode's "
             f"top {dirs.shape[1]} principal directions (the in-block rotation).")
  if "hybrid_margin" in a:  # records before the hypothesis check lack it
    gam = a["hybrid_margin"]
    caption += (f" Hypotheses: α = {a['hybrid_alpha'].min():.3f}–{a['hybrid_alpha'].max():.3f}, "
                f"smallest within-cluster cosine {a['hybrid_within_cos_min'].min():.3f} (> 0 needed), "
                f"Theorem D.2 margin γ of the Cor. 3.4 construction "
                f"{', '.join(f'{v:.3f}' for v in gam)} ({int(np.sum(gam > 0))} of {len(gam)} seeds > "
                f"0, as the theorem needs).")
  card = summary.get("data_cards", {}).get("Fig. 6 hybrid, seed 0")
  if card:
    caption += " " + style.card_text(card, "Fig. 6 hybrid, seed 0")
  return style.save(fig, out_dir, "fig6_hybrid"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
