r"""Fig. 2: samples of the memorizing and the generalizing diffusion DAE beside their nearest training
images, with the memorized fraction. Reads ``python -m sims.image_dae``.

  python -m figures.fig2_samples --image_workdir runs/image_dae --out figures
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae")}

SHOW = 12


def draw(loaded: dict, out_dir: str):
  config, a, _ = loaded["image"]
  import matplotlib.pyplot as plt

  style.apply()
  side, mean, thr = int(a["side"]), a["mean"], config["threshold"]
  train = a["train_images"] - mean
  fig = plt.figure(figsize=(9.5, 5.6))
  grid = fig.add_gridspec(2, 2, width_ratios=[3.2, 1])
  for row, (name, title, train_set) in enumerate((
      ("mem", f"memorizing ({config['n_memorize']} training images)", train[a["mem_idx"]]),
      ("gen", f"generalizing ({train.shape[0]} training images)", train))):
    smp, cos, idx = a[f"{name}_samples"][0], a[f"{name}_nn_cos"][0], a[f"{name}_nn_idx"][0]
    ax = fig.add_subplot(grid[row, 0])
    pair = np.concatenate([smp[:SHOW], train_set[idx[:SHOW]]]) + mean
    style.image_grid(ax, pair, side, SHOW, labels=[f"{c:.2f}" for c in cos[:SHOW]] + [""] * SHOW)
    frac = a[f"{name}_fraction"]
    ax.set_title(f"{title}\nrow 1: samples (label: nearest-training cosine); row 2: nearest "
                 f"training image\nmemorized fraction (cos ≥ {thr}) {frac.mean():.2f} "
                 f"(seeds: {', '.join(f'{f:.2f}' for f in frac)})", loc="left")
    hx = fig.add_subplot(grid[row, 1])
    hx.hist(a[f"{name}_nn_cos"].ravel(), bins=np.linspace(min(0.3, cos.min()), 1, 36), color=f"C{row}")
    hx.axvline(thr, color="k", ls="--", lw=1)
    hx.set_xlabel("nearest-training cosine")
    hx.set_ylabel("samples (all seeds)")
  fig.tight_layout()
  caption = (f"Fig. 2 ({config['dataset']}): memorized fraction {a['mem_fraction'].mean():.2f} for the "
             f"memorizing DAE vs {a['gen_fraction'].mean():.2f} for the generalizing one "
             f"({len(a['mem_fraction'])} seeds × {a['mem_samples'].shape[1]} samples).")
  return style.save(fig, out_dir, "fig2_samples"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
