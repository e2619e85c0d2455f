r"""Fig. 3: encoder columns of a memorizing and a generalizing DAE (σ = 0.2) as images, sorted by
norm, each labelled with its best cosine to an image of its own training set. Reads
``python -m sims.image_dae``.

  python -m figures.fig3_columns --image_workdir runs/image_dae --out figures
"""

from __future__ import annotations

import numpy as np

from dae_theory import metrics
from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae")}

SHOW = 20


def draw(loaded: dict, out_dir: str):
  config, a, _ = loaded["image"]
  import matplotlib.pyplot as plt

  style.apply()
  side = int(a["side"])
  fig, axes = plt.subplots(2, 1, figsize=(8, 4.4))
  lines = []
  for ax, name, title in ((axes[0], "mem", f"memorizing ({config['n_memorize']} images)"),
                          (axes[1], "gen", f"generalizing ({a['train_images'].shape[0]} images)")):
    order = np.argsort(-a[f"{name}_col_norm"])[:SHOW]
    cos = a[f"{name}_col_cos"]
    style.image_grid(ax, a[f"{name}_w"].T[order], side, SHOW // 2,
                     labels=[f"{c:.2f}" for c in cos[order]], pad=2)
    live = a[f"{name}_col_live"]
    lines.append(f"{title}: {live.sum()} of {len(live)} columns live (norm > "
                 f"{metrics.LIVE_COLUMN:.0%} of max), best cosine {cos[live].min():.3f}–{cos[live].max():.3f}")
    ax.set_title(f"{lines[-1]}\n(top {SHOW} columns by norm; label = best cosine to a training image)",
                 loc="left")
  fig.tight_layout()
  caption = f"Fig. 3 ({config['dataset']}, σ = {config['sigma']}): " + "; ".join(lines) + "."
  return style.save(fig, out_dir, "fig3_columns"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
