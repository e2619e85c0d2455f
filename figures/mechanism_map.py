r"""The mechanism map: for each optimizer, where memorization is spiky (columns store samples) and
where it is diffuse, over the largest pairwise cosine β of the samples and the weight decay λ, at each
width p/n; then how long training takes to reach the spiky state, and how many columns a spiky net
keeps per stored sample.

Upper rows: one heatmap per optimizer (columns) and p/n (rows), x = β (measured), y = nλ/min‖x_i‖²;
colour = seed-mean stored-sample fraction (scale-aware: a sample's aligned column group carries at
least half of x_iᵀf(x_i)); cells whose net does not memorize (seed-mean test/train loss ≤ 2) are
hatched grey; a white frame marks the cells where Cor. 3.2's hypothesis holds (β < 0 and nλ <
min‖x_i‖²; p ≥ n), where the number is the seed-mean W Wᵀ distance to Eq. 9. Next row: seed-mean
stored fraction against the training step (the checkpoints of one trajectory) at p/n = 2 for each β at
the smallest λ, with the range over model seeds. Last row: live columns per training sample at the
widest p, seed mean with the range over model seeds, against β (1 = W_mem itself, more = split
columns). Reads ``results.npz`` and ``summary.json`` of ``python -m sims.mechanism_map``.

  python -m figures.mechanism_map --map_workdir runs/mechanism_map --out figures
"""

from __future__ import annotations

import warnings

import numpy as np

from figures import style

RUNS = {"map": ("sims.mechanism_map", "runs/mechanism_map")}

NAMES = {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD", "sgd_momentum": "SGD + momentum 0.9"}


def draw(loaded: dict, out_dir: str):
  config, a, summary = loaded["map"]
  import matplotlib.pyplot as plt

  style.apply()
  betas, lams, widths, steps = a["betas_measured"], a["lams"], a["widths"], a["steps"]
  opts = [str(o) for o in a["optimizers"]]
  n = int(config["clusters"]) * int(config["per_cluster"])
  ok = a["status"] < 0
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    stored = np.nanmean(np.where(ok, a["stored_fraction"], np.nan), 4)  # (b, o, l, w, k)
    ratio = np.exp(np.nanmean(np.log(np.where(ok, a["ratio"], np.nan)), 4))
    dist = np.nanmean(np.where(ok, a["dist_eq9"], np.nan), 4)
  nl = a["n_lam_over_min_sq"][0, 0, :, 0, 0, 0]
  rows = len(widths) + 2
  fig, axes = plt.subplots(rows, len(opts), figsize=(3.9 * len(opts), 3.0 * rows), squeeze=False,
                           layout="constrained")
  letter = iter("abcdefghijklmnopqrstuvwxyz")
  im = None
  for wi, w in enumerate(widths):
    for oi, o in enumerate(opts):
      ax = axes[wi, oi]
      v = stored[:, oi, :, wi, -1].T  # (lam, beta)
      im = ax.imshow(v, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
      memo = ratio[:, oi, :, wi, -1].T > 2
      for li in range(len(lams)):
        for bi in range(len(betas)):
          if not memo[li, bi]:
            ax.add_patch(plt.Rectangle((bi - 0.5, li - 0.5), 1, 1, facecolor="0.75",
                                       edgecolor="0.45", hatch="///", lw=0))
          dv = dist[bi, oi, li, wi, -1]
          if np.isfinite(dv):
            ax.add_patch(plt.Rectangle((bi - 0.45, li - 0.45), 0.9, 0.9, fill=False,
                                       edgecolor="w", lw=1.2))
            ax.text(bi, li, f"{dv:.2f}", ha="center", va="center", fontsize=7,
                    color="k" if v[li, bi] > 0.6 or not memo[li, bi] else "w")
      ax.set_xticks(range(len(betas)), [f"{b:+.2f}" for b in betas], rotation=60)
      ax.set_yticks(range(len(lams)), [f"{x:.2g}" for x in nl])
      ax.set_xlabel("largest pairwise cosine β")
      if oi == 0:
        ax.set_ylabel("nλ / min‖x_i‖²")
      ax.set_title(f"({next(letter)}) {NAMES.get(o, o)}, p/n = {w / n:g}")
  cb = fig.colorbar(im, ax=axes[:len(widths), -1].tolist(), fraction=0.05, pad=0.02)
  cb.set_label("stored-sample fraction (seed mean)")
  # (e) time to the spiky state at p/n = 2 (or the closest width), smallest lambda
  wi2 = int(np.argmin(np.abs(widths / n - 2)))
  cmap = plt.get_cmap("coolwarm")
  for oi, o in enumerate(opts):
    ax = axes[-2, oi]
    for bi, b in enumerate(betas):
      per = np.where(ok[bi, oi, 0, wi2], a["stored_fraction"][bi, oi, 0, wi2], np.nan)  # (s, k)
      col = cmap(bi / max(len(betas) - 1, 1))
      ax.plot(steps, np.nanmean(per, 0), "o-", color=col, ms=3, label=f"β = {b:+.2f}")
      ax.fill_between(steps, np.nanmin(per, 0), np.nanmax(per, 0), color=col, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(steps[::2], [str(int(t)) for t in steps[::2]])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("training step")
    if oi == 0:
      ax.set_ylabel("stored-sample fraction")
    ax.set_title(f"({next(letter)}) {NAMES.get(o, o)}: p/n = {widths[wi2] / n:g},\n"
                 f"nλ/min‖x‖² = {nl[0]:.2g}, over training")
  axes[-2, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
  # (f) live columns per sample at the widest p
  for oi, o in enumerate(opts):
    ax = axes[-1, oi]
    for li in range(len(lams)):
      per = np.where(ok[:, oi, li, -1, :, -1], a["live_columns"][:, oi, li, -1, :, -1], np.nan) / n
      col = plt.get_cmap("viridis")(li / max(len(lams) - 1, 1))
      ax.errorbar(np.arange(len(betas)) + 0.06 * (li - len(lams) / 2), np.nanmean(per, 1),
                  yerr=[np.nanmean(per, 1) - np.nanmin(per, 1), np.nanmax(per, 1) - np.nanmean(per, 1)],
                  fmt="o-", ms=3, lw=1, capsize=2, color=col, label=f"nλ/min‖x‖² = {nl[li]:.2g}")
    ax.axhline(1, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(betas)), [f"{b:+.2f}" for b in betas], rotation=60)
    ax.set_xlabel("largest pairwise cosine β")
    if oi == 0:
      ax.set_ylabel("live columns per sample")
    ax.set_ylim(0, widths[-1] / n + 0.3)
    ax.set_title(f"({next(letter)}) {NAMES.get(o, o)}:\np/n = {widths[-1] / n:g}, end of training")
  axes[-1, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
  from matplotlib.patches import Patch
  key = [Patch(facecolor="0.75", edgecolor="0.45", hatch="///", label="does not memorize (test/train ≤ 2)"),
         Patch(fill=False, edgecolor="k", lw=1.2,
               label="Cor. 3.2 holds: number = W Wᵀ distance to Eq. 9")]
  axes[0, -1].legend(handles=key, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
  cards = " ".join(style.card_text(c, nm) for nm, c in summary.get("data_cards", {}).items())
  caption = ("Heatmaps: seed-mean stored-sample fraction at the end of training per (β, nλ/min‖x_i‖²); "
             "hatched grey: the cell does not memorize (test/train loss ratio ≤ 2); framed: Cor. 3.2's "
             "hypothesis holds there, and the number is the W Wᵀ distance to Eq. 9. "
             + " ".join(summary["lines"]) + " Intervals: range over model seeds (retrained)."
             + (f" Data cards: {cards}" if cards else ""))
  return style.save(fig, out_dir, "mechanism_map"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
