r"""Fig. 6: hybrid data (duplicated points + Gaussian modes). Each trained column is classified as
memorizing (cosine ≥ :data:`dae_theory.copies.COSINE_COPY` = 0.95 to a duplicated point) or as part
of a mode's block; counts per cluster against the Cor. 3.4 construction, and the W Wᵀ distance to it.
Reads ``python -m sims.mixture_dae``.

  python -m figures.fig6_hybrid --mixture_workdir runs/mixture_dae
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"mixture": ("sims.mixture_dae", "runs/mixture_dae")}


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, a, _ = loaded["mixture"]
  m, modes = config["duplicated"], config["modes"]
  kind, dup_cos = a["hybrid_kind"], a["hybrid_dup_cos"]
  counts = a["hybrid_counts"]  # (seed, cluster): columns of each type
  con = a["hybrid_construction_counts"]
  dist = a["hybrid_gram_distance"]
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [1.4, 1]})
  ax = axes[0]
  seeds, p = kind.shape
  for s in range(seeds):
    order = np.argsort(np.where(kind[s] < 0, 99, kind[s]), kind="stable")
    colors = [("C3" if k < m else f"C{k - m}") if k >= 0 else "0.7" for k in kind[s][order]]
    ax.scatter(np.arange(p), np.full(p, s), c=colors, s=60, marker="s")
    for j, u in enumerate(order):
      ax.text(j, s + 0.28, f"{dup_cos[s, u]:.2f}", ha="center", fontsize=5)
  ax.set_yticks(range(seeds), [f"seed {s}\n{dist[s]:.3f}" for s in range(seeds)])
  ax.set_xlabel("columns (red: memorizing a duplicated point; other colours: a mode's block; grey: "
                "neither)\nlabel: best cosine to a duplicated point")
  ax.set_ylim(-0.5, seeds - 0.3)
  ax.set_title("column types per seed (left axis: WWᵀ distance to Cor. 3.4)", loc="left")
  bx = axes[1]
  x = np.arange(m + modes)
  bx.bar(x - 0.2, counts.mean(0), 0.4, label="trained (seed mean)", color="C0")
  ok = (con >= 0).all(1)
  bx.bar(x + 0.2, con[ok].mean(0) if ok.any() else np.zeros(m + modes), 0.4, color="0.5",
         label="Cor. 3.4 construction")
  bx.set_xticks(x, [f"dup {i}" for i in range(m)] + [f"mode {k}" for k in range(modes)],
                rotation=45)
  bx.set_ylabel("columns")
  bx.legend(frameon=False)
  fig.tight_layout()
  exact = int(np.sum(np.all(counts == con, 1)))
  caption = (f"Fig. 6: in {exact} of {seeds} seeds every duplicated point has exactly one memorizing "
             f"column and every mode a block of the construction's size; W Wᵀ distance to the Cor. 3.4 "
             f"construction {', '.join(f'{v:.3f}' for v in dist)} (per seed).")
  return style.save(fig, out_dir, "fig6_hybrid"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
