r"""Fig. 4: densities of std(h) for memorized vs generalized training points (top) and the code h of
one training point (bottom), on real images and on a Gaussian mixture. Reads ``python -m sims.image_dae``
and ``python -m sims.mixture_dae``.

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
  fig, axes = plt.subplots(2, 2, figsize=(8, 5.2))
  parts = []
  for col, (name, label) in enumerate((("image", loaded["image"][0]["dataset"]),
                                       ("mixture", "Gaussian mixture"))):
    _, a, _ = loaded[name]
    ax = axes[0, col]
    bins = np.linspace(min(a["mem_std"].min(), a["gen_std"].min()),
                       max(a["mem_std"].max(), a["gen_std"].max()), 40)
    ax.hist(a["gen_std"], bins=bins, density=True, alpha=0.6, label="generalized", color="C0")
    ax.hist(a["mem_std"], bins=bins, density=True, alpha=0.6, label="memorized", color="C3")
    ax.set_xlabel("std(h) of a noisy training point")
    ax.set_ylabel("density")
    ax.set_title(f"{label}: AUROC std(h) {a['auroc_std']:.3f}, −PR {a['auroc_pr']:.3f}")
    ax.legend(frameon=False)
    bx = axes[1, col]
    for key, c, lab in (("h_gen", "C0", "generalizing model"), ("h_mem", "C3", "memorizing model")):
      h = a[key]
      bx.plot(np.arange(len(h)), h, "o-" if len(h) <= 32 else "-", ms=3, color=c, lw=1, label=lab)
    bx.set_xlabel("hidden unit")
    bx.set_ylabel("h of one training point")
    bx.legend(frameon=False)
    parts.append(f"{label}: medians {np.median(a['mem_std']):.3f} (memorized) vs "
                 f"{np.median(a['gen_std']):.3f} (generalized), AUROC {a['auroc_std']:.3f} for std(h) "
                 f"and {a['auroc_pr']:.3f} for the participation ratio")
  fig.tight_layout()
  return style.save(fig, out_dir, "fig4_std"), "Fig. 4: std(h) " + "; ".join(parts) + "."


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
