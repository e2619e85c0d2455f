r"""Phase diagram heatmaps over (width p, sample size n), one column per σ, with the p = n line.

Rows: fraction of training samples stored in a column, fraction of memorizing columns, participation
ratio of test codes, generalization gap log10(test/train loss), and the distances to the Eq. 9 (memorizing) and Eq. 8 (balanced) constructions.
Values are seed means. Reads ``results.npz`` of ``python -m sims.phase_diagram``.

  python -m figures.phase_diagram --phase_workdir runs/phase_diagram --out figures
"""

from __future__ import annotations

import warnings

import numpy as np

from dae_theory import copies
from figures import style

RUNS = {"phase": ("sims.phase_diagram", "runs/phase_diagram")}

ROWS = [("stored_fraction", f"samples stored in a column (cos≥{copies.COSINE_COPY:g})", (0, 1)),
        ("memorizing_fraction", f"memorizing columns (cos≥{copies.COSINE_COPY:g})", (0, 1)),
        ("pr_test", "participation ratio (test codes)", None),
        ("gap", "log10(test loss / train loss)", None),
        ("dist_mem", "WWᵀ distance to Eq. 9 (memorizing)", (0, 1)),
        ("dist_gen", "WWᵀ distance to Eq. 8 (balanced)", (0, 1))]


def draw(loaded: dict, out_dir: str):
  config, arrays, summary = loaded["phase"]
  import matplotlib.pyplot as plt

  style.apply()
  widths, ns, sigmas = arrays["widths"], arrays["sample_sizes"], arrays["sigmas"]
  with warnings.catch_warnings():  # dist_gen is NaN where p < M: left blank
    warnings.simplefilter("ignore", RuntimeWarning)
    vals = {k: np.nanmean(arrays[k], -1) for k, _, _ in ROWS if k != "gap"}
  vals["gap"] = np.nanmean(np.log10(arrays["test_loss"] / arrays["train_loss"]), -1)
  fig, axes = plt.subplots(len(ROWS), len(sigmas), figsize=(3.4 * len(sigmas), 2.6 * len(ROWS)),
                           squeeze=False)
  for r, (key, title, lim) in enumerate(ROWS):
    for c, s in enumerate(sigmas):
      ax = axes[r, c]
      v = vals[key][c].T  # (width, n)
      kw = {} if lim is None else {"vmin": lim[0], "vmax": lim[1]}
      im = ax.imshow(v, origin="lower", aspect="auto", **kw)
      ax.set_xticks(range(len(ns)), [str(n) for n in ns], rotation=45)
      ax.set_yticks(range(len(widths)), [str(w) for w in widths])
      # p = n line in index coordinates (both axes are powers of two on the default grid).
      xi = np.interp(np.log2(widths), np.log2(ns), np.arange(len(ns)), left=np.nan, right=np.nan)
      ax.plot(xi, np.arange(len(widths)), "w--", lw=1.2, label="p = n")
      ax.set_xlabel("sample size n")
      ax.set_ylabel("width p")
      ax.set_title(f"{title}\nσ = {s:g}")
      fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  axes[0, 0].legend(loc="upper left", frameon=False, labelcolor="w")
  fig.tight_layout()
  # the caption: the boundary lines the sim wrote (sims.phase_diagram.boundary_summary)
  return style.save(fig, out_dir, "phase_diagram"), " ".join(summary["lines"])


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
