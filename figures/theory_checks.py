r"""Theory checks: (a) distance of trained weights to the Eq. 8 construction over training; (b) the
decomposition gap against the explicit bound (log scale) over the normalized margin; (c) noise flip
rate against Φ(−t); (d) the test loss against n_k beside the printed and corrected Cor. 3.3 limits.
Reads ``python -m sims.theory_checks``.

  python -m figures.theory_checks --checks_workdir runs/theory_checks
"""

from __future__ import annotations

import warnings

import numpy as np

from figures import style

RUNS = {"checks": ("sims.theory_checks", "runs/theory_checks")}


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, a, summary = loaded["checks"]
  fig, axes = plt.subplots(2, 2, figsize=(8.4, 6.4))
  ax = axes[0, 0]
  for s, row in enumerate(a["train_distance"]):
    ax.loglog(a["train_steps"], row, "o-", ms=3, label=f"seed {s}")
  ax.set_xlabel("Adam steps (constant rate)")
  ax.set_ylabel("‖WWᵀ − W*W*ᵀ‖ / ‖W*W*ᵀ‖")
  ax.set_title("(a) trained weights → Eq. 8 (learned allocation)")
  ax.legend(frameon=False)

  ax = axes[0, 1]
  t, bound, gap, se = a["gap_t_min"], a["gap_bound"], np.abs(a["gap_signed"]), a["gap_se"]
  seen = gap > 4 * se
  ax.semilogy(t, bound, "s-", color="C1", label="explicit bound (docs/theory.md §4)")
  ax.errorbar(t[seen], gap[seen], yerr=se[seen], fmt="o", color="C0", label="|L − L_dec| (Monte Carlo)")
  if (~seen).any():
    floor = bound.min() / 10  # where no gate flipped in any draw, se = 0: drawn at this floor
    ax.semilogy(t[~seen], np.maximum(4 * se[~seen], floor), "v", color="C0", mfc="none",
                label="unresolved: below 4 s.e. (or no flip at all)")
  tt = np.linspace(t.min(), t.max(), 100)
  ax.semilogy(tt, np.exp(-tt**2 / 2) * gap[seen][0] / np.exp(-t[seen][0] ** 2 / 2) if seen.any()
              else np.exp(-tt**2 / 2), "k:", lw=1, label="∝ exp(−t²/2)")
  ax.set_xlabel("smallest normalized margin t_min (σ varies)")
  ax.set_ylabel("loss difference")
  ax.set_title("(b) decomposition gap vs bound")
  ax.legend(frameon=False, fontsize=7)

  ax = axes[1, 0]
  q, m = a["flip_predicted"], a["flip_measured"]
  n_mc = int(a["n_mc"])
  keep = q > 0.1 / n_mc
  ax.loglog(q[keep], np.maximum(m[keep], 0.5 / n_mc), ".", ms=3, alpha=0.6, label="(sample, unit)")
  lo = max(q[keep].min(), 0.5 / n_mc) if keep.any() else 1e-4
  line = np.geomspace(lo, 1, 50)
  ax.loglog(line, line, "k--", lw=1, label="measured = Φ(−t)")
  band = 2 * np.sqrt(line * (1 - line) / n_mc)
  ax.fill_between(line, np.maximum(line - band, 0.5 / n_mc), line + band, color="0.85",
                  label="±2 binomial s.e.")
  ax.set_xlabel("predicted flip probability Φ(−t)")
  ax.set_ylabel(f"measured flip rate ({n_mc} draws; 0 drawn at 0.5/draws)")
  ax.set_title(f"(c) gate flips under noise, σ = {config['flip_sigma']}")
  ax.legend(frameon=False, fontsize=7)

  ax = axes[1, 1]
  nk, test, test_se = a["cor33_sizes"], a["cor33_test"], a["cor33_test_se"]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    ax.errorbar(nk, np.nanmean(test, 0), yerr=np.nanmax(test_se, 0), fmt="o-", ms=3,
                label="test loss of the Eq. 8 construction")
  ax.axhline(float(a["cor33_corrected"]), color="C2", ls="--", label="corrected limit (ours)")
  ax.axhline(float(a["cor33_printed"]), color="C3", ls=":", label="printed Cor. 3.3 (C_k term dropped)")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("samples per mode n_k")
  ax.set_ylabel("test loss")
  ax.set_title(f"(d) Cor. 3.3, p_k = {config['cor33_width']}, σ = {config['sigma']}")
  ax.legend(frameon=False, fontsize=7)
  fig.tight_layout()
  # the caption: the summary lines the sim wrote (sims.theory_checks.summary)
  return style.save(fig, out_dir, "theory_checks"), " ".join(summary["lines"])


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
