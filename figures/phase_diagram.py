r"""Phase diagram heatmaps over (width p, sample size n), one column per σ, with the p = n line.

Rows: fraction of training samples stored in a column, fraction of memorizing columns, participation
ratio of test codes, generalization gap log10(test/train loss), and the distances to the Eq. 9 (memorizing) and Eq. 8 (balanced) constructions.
Values are seed means. Reads ``results.npz`` of ``python -m sims.phase_diagram``. The caption carries
the run's data card and which of the theorems' hypotheses its data meet (the default mixture breaks
those of Eq. 9 for n above the number of modes and those of Eq. 8: α ≈ 2.1, within-cluster cosines
below 0, γ < 0; ``sims.phase_diagram``'s docstring gives flags that meet them).

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
      ax.set_title(f"({chr(ord('a') + r * len(sigmas) + c)}) {title}\nσ = {s:g}", loc="left")
      fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  axes[0, 0].legend(loc="upper left", frameon=False, labelcolor="w")
  hyp = summary.get("hypotheses")
  if hyp:  # which hypotheses of the Eq. 9 / Eq. 8 rows the data meet (sims.phase_diagram.hypotheses)
    fig.suptitle(_hypothesis_title(hyp), fontsize=9, y=1.0)
  fig.tight_layout()
  # the caption: the boundary and hypothesis lines the sim wrote (sims.phase_diagram), then the card
  cards = " ".join(style.card_text(c, n) for n, c in summary.get("data_cards", {}).items())
  caption = " ".join(summary["lines"]) + (f" Data card: {cards}" if cards else "")
  return style.save(fig, out_dir, "phase_diagram"), caption


def _hypothesis_title(hyp: dict) -> str:
  """Two lines: the Theorem 3.1 / D.2 hypotheses of the Eq. 8 rows, Cor. 3.2's of the Eq. 9 rows."""
  def f(v):
    return "n/a" if v is None else f"{v:.3g}"

  gam = [g for g in hyp["margin_eq8"] if g is not None]
  eq8_ok = (hyp["beta"] is not None and hyp["beta"] < 0 and gam and min(gam) > 0
            and (hyp["within_cos_min"] is None or hyp["within_cos_min"] > 0))
  eq8 = (f"Eq. 8 hypotheses {'met' if eq8_ok else 'broken'}: α = {f(hyp['alpha'])}, β = "
         f"{f(hyp['beta'])}, within-cluster cosines ≥ {f(hyp['within_cos_min'])}, Theorem D.2 margin "
         f"γ = {', '.join(f(g) for g in hyp['margin_eq8'])} (σ = "
         f"{', '.join(f'{s:g}' for s in hyp['sigmas'])})")
  up = hyp["obtuse_up_to_n"]
  eq9 = ("Eq. 9 (Cor. 3.2) needs pairwise-obtuse samples: "
         + (f"met for n ≤ {up}" if up else "broken for every n of the grid"))
  return eq8 + "\n" + eq9


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
