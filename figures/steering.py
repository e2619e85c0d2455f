r"""Representation steering (Eq. 11): image strips over the steering strength a for a generalizing and a
memorizing diffusion DAE, the target-class probability along a, and the jump share of each path.
Reads ``python -m sims.steering``.

  python -m figures.steering --steering_workdir runs/steering
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"steering": ("sims.steering", "runs/steering")}


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, a, _ = loaded["steering"]
  a_rel, mean = a["a_rel"], a["mean"]
  every = max(1, (len(a_rel) - 1) // 10)
  cols = np.arange(0, len(a_rel), every)
  fig = plt.figure(figsize=(10, 6.4))
  grid = fig.add_gridspec(3, 2, height_ratios=[1.2, 1.2, 1.3])
  names = {"gen": "generalizing", "mem": "memorizing"}
  for r, kind in enumerate(("gen", "mem")):
    ax = fig.add_subplot(grid[r, :])
    strip = a[f"{kind}_strips"][0][:, :2]  # (levels, 2 paths, d)
    tiles = np.concatenate([strip[cols, j] for j in range(strip.shape[1])]) + mean
    style.image_grid(ax, tiles, 8, len(cols),
                     labels=[f"{v:.2f}" for v in a_rel[cols]] + [""] * len(cols))
    lo, hi = a[f"{kind}_jump_share_ci"]
    ax.set_title(f"{names[kind]} DAE, two paths (seed 0), a_rel under the first row; jump share "
                 f"{float(a[f'{kind}_jump_share_mean']):.3f} [{lo:.3f}, {hi:.3f}]", loc="left")
  ax = fig.add_subplot(grid[2, 0])
  for kind, c in (("gen", "C0"), ("mem", "C3")):
    p = a[f"{kind}_prob"]  # (seeds, levels, paths)
    m = p.mean((0, 2))
    q = np.percentile(p.transpose(1, 0, 2).reshape(len(a_rel), -1), [10, 90], axis=1)
    ax.plot(a_rel, m, color=c, label=f"{names[kind]} (mean, 10–90% of paths)")
    ax.fill_between(a_rel, q[0], q[1], color=c, alpha=0.2)
  ax.set_xlabel("a_rel = a·‖v‖ / mean‖h‖")
  ax.set_ylabel(f"P(class {int(a['target_class'])})")
  ax.legend(frameon=False)
  bx = fig.add_subplot(grid[2, 1])
  js = np.concatenate([a["gen_jump_share"].ravel(), a["mem_jump_share"].ravel()])
  bins = np.linspace(js.min(), js.max(), 30)
  for kind, c in (("gen", "C0"), ("mem", "C3")):
    bx.hist(a[f"{kind}_jump_share"].ravel(), bins=bins, alpha=0.6, color=c, label=names[kind])
  bx.axvline(1 / (len(a_rel) - 1), color="k", ls=":", lw=1, label="evenly moving path")
  bx.set_xlabel("jump share of a path (largest step / path length)")
  bx.set_ylabel("paths")
  bx.legend(frameon=False)
  fig.tight_layout()
  parts = []
  for kind in ("gen", "mem"):
    j, jl = float(a[f"{kind}_jump_share_mean"]), a[f"{kind}_jump_share_ci"]
    m, ml = float(a[f"{kind}_monotonicity_mean"]), a[f"{kind}_monotonicity_ci"]
    parts.append(f"{names[kind]}: jump share {j:.3f} [{jl[0]:.3f}, {jl[1]:.3f}], monotonicity "
                 f"{m:.3f} [{ml[0]:.3f}, {ml[1]:.3f}]")
  caption = (f"Steering towards class {int(a['target_class'])} ({a['gen_jump_share'].size} paths per "
             f"kind; an evenly moving path has jump share {1 / (len(a_rel) - 1):.3f}): "
             + "; ".join(parts) + ".")
  return style.save(fig, out_dir, "steering"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
