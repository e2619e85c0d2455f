r"""Fig. 4: densities of std(h) for memorized vs generalized training points (top) and the code h of
one training point as sorted magnitudes |h|, one axis for the memorizing and one for the generalizing
model (bottom), on real images and on a Gaussian mixture. Reads ``python -m sims.image_dae`` and
``python -m sims.mixture_dae``.

  python -m figures.fig4_std --image_workdir runs/image_dae --mixture_workdir runs/mixture_dae
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae"),
        "mixture": ("sims.mixture_dae", "runs/mixture_dae")}


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  fig = plt.figure(figsize=(9, 5.6))
  grid = fig.add_gridspec(2, 4, height_ratios=[1.15, 1])
  top, bottom = iter("ab"), iter("cdef")
  parts = []
  for col, (name, label) in enumerate((("image", loaded["image"][0]["dataset"]),
                                       ("mixture", "Gaussian mixture"))):
    _, a, _ = loaded[name]
    short = label if name == "image" else "mixture"
    ax = fig.add_subplot(grid[0, 2 * col:2 * col + 2])
    bins = np.linspace(min(a["mem_std"].min(), a["gen_std"].min()),
                       max(a["mem_std"].max(), a["gen_std"].max()), 40)
    ax.hist(a["gen_std"], bins=bins, density=True, alpha=0.6, label="generalized points", color="C0")
    ax.hist(a["mem_std"], bins=bins, density=True, alpha=0.6, label="memorized points", color="C3")
    ax.set_xlabel("std(h) of a noisy training point")
    ax.set_ylabel("density")
    ax.set_title(f"({next(top)}) {label}: AUROC std(h) {a['auroc_std']:.3f}, "
                 f"participation ratio {a['auroc_pr']:.3f}", loc="left")
    ax.legend(frameon=False)
    lines = []
    for j, (key, c, lab) in enumerate((("h_mem", "C3", "memorizing model"),
                                       ("h_gen", "C0", "generalizing model"))):
      bx = fig.add_subplot(grid[1, 2 * col + j])
      mag = np.sort(np.abs(np.asarray(a[key], float)))[::-1]
      rank = np.arange(1, len(mag) + 1)
      bx.plot(rank, mag, "o-" if len(mag) <= 32 else "-", ms=3, color=c, lw=1)
      bx.set_xlabel("units sorted by |h|")
      if j == 0:
        bx.set_ylabel("|h| of one training point")
      bx.set_title(f"({next(bottom)}) {short}:\n{lab}", loc="left")
      bx.set_ylim(bottom=0)
      lines.append(mag)
    parts.append(f"{label}: medians {np.median(a['mem_std']):.3f} (memorized) vs "
                 f"{np.median(a['gen_std']):.3f} (generalized), AUROC {a['auroc_std']:.3f} for std(h) "
                 f"and {a['auroc_pr']:.3f} for the participation ratio; one point's code has "
                 f"{_count(lines[0])} (memorizing) vs {_count(lines[1])} (generalizing) units above "
                 f"10% of its largest |h|")
  fig.tight_layout()
  return style.save(fig, out_dir, "fig4_std"), "Fig. 4: std(h) " + "; ".join(parts) + "."


def _count(mag: np.ndarray) -> int:
  """Units with |h| above 10% of the largest (mag sorted, largest first)."""
  return int(np.sum(mag > 0.1 * mag[0])) if mag.size and mag[0] > 0 else 0


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
