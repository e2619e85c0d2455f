r"""Fig. 4: densities of std(h) for memorized vs generalized training points (top) and the code h of
one training point as sorted magnitudes |h|, one axis for the memorizing and one for the generalizing
model (bottom), on real images and on a Gaussian mixture. Reads ``python -m sims.image_dae`` and
``python -m sims.mixture_dae``.

Replication. The image run trains ``plain_seeds`` (memorizing, generalizing) pairs of plain DAEs; its
densities pool every pair's scored points, and each AUROC is the mean over pairs with a 95% two-level
bootstrap interval (``auroc_std_ci``, ``auroc_pr_ci``: pairs resampled, then points within each; the
unit of replication is the model seed). A record without these fields (one model per kind, as the
mixture run may be) is drawn without an interval, and the caption says so. The bottom row shows seed
0's codes.

  python -m figures.fig4_std --image_workdir runs/image_dae --mixture_workdir runs/mixture_dae
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae"),
        "mixture": ("sims.mixture_dae", "runs/mixture_dae")}
IMAGE_CARDS = ("plain memorizing", "plain generalizing")


def auroc_text(a: dict, score: str) -> str:
  """``0.973 [0.95, 0.99]``: the AUROC (mean over model seeds) and its interval, when recorded."""
  text = f"{float(a[f'auroc_{score}']):.3f}"
  if f"auroc_{score}_ci" in a:
    lo, hi = np.asarray(a[f"auroc_{score}_ci"], float)
    text += f" [{lo:.3f}, {hi:.3f}]"
  return text


def seeds_of(a: dict) -> int:
  """Model seeds (pairs) behind the record's AUROC: 1 without per-seed values."""
  return len(np.atleast_1d(a["auroc_std_per_seed"])) if "auroc_std_per_seed" in a else 1


def replication_text(a: dict) -> str:
  s = seeds_of(a)
  if s > 1 and "auroc_std_ci" in a:
    return (f"mean over {s} model seeds (one memorizing and one generalizing model each) with a 95% "
            f"interval over model seeds (seeds resampled, then points within each)")
  return "one model per kind: no interval over model seeds"


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  fig = plt.figure(figsize=(9.6, 5.9))
  grid = fig.add_gridspec(2, 4, height_ratios=[1.15, 1])
  top, bottom = iter("ab"), iter("cdef")
  parts = []
  for col, (name, label) in enumerate((("image", loaded["image"][0]["dataset"]),
                                       ("mixture", "Gaussian mixture"))):
    _, a, _ = loaded[name]
    short = label if name == "image" else "mixture"
    mem_std, gen_std = np.ravel(a["mem_std"]), np.ravel(a["gen_std"])  # every seed's points
    s = seeds_of(a)
    ax = fig.add_subplot(grid[0, 2 * col:2 * col + 2])
    bins = np.linspace(min(mem_std.min(), gen_std.min()), max(mem_std.max(), gen_std.max()), 40)
    pooled = f" ({s} seeds pooled)" if s > 1 else ""
    ax.hist(gen_std, bins=bins, density=True, alpha=0.6, label=f"generalized points{pooled}",
            color="C0")
    ax.hist(mem_std, bins=bins, density=True, alpha=0.6, label=f"memorized points{pooled}",
            color="C3")
    ax.set_xlabel("std(h) of a noisy training point")
    ax.set_ylabel("density")
    unit = f" (mean of {s} model seeds, 95% interval)" if s > 1 and "auroc_std_ci" in a else \
        " (one model per kind)"
    ax.set_title(f"({next(top)}) {label}: AUROC{unit}\nstd(h) {auroc_text(a, 'std')}, "
                 f"participation ratio {auroc_text(a, 'pr')}", loc="left")
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
      bx.set_title(f"({next(bottom)}) {short}{', seed 0' if s > 1 else ''}:\n{lab}", loc="left")
      bx.set_ylim(bottom=0)
      lines.append(mag)
    parts.append(f"{label}: medians {np.median(mem_std):.3f} (memorized) vs "
                 f"{np.median(gen_std):.3f} (generalized), AUROC {auroc_text(a, 'std')} for std(h) "
                 f"and {auroc_text(a, 'pr')} for the participation ratio ({replication_text(a)}); "
                 f"one point's code has {_count(lines[0])} (memorizing) vs {_count(lines[1])} "
                 f"(generalizing) units above 10% of its largest |h|")
  fig.tight_layout()
  config, _, summary = loaded["image"]
  cards = " ".join(style.card_text(summary["data_cards"][n], n) for n in IMAGE_CARDS
                   if n in summary.get("data_cards", {}))
  mix_cards = " ".join(style.card_text(c, n) for n, c in
                       loaded["mixture"][2].get("data_cards", {}).items() if n.startswith("Fig. 4"))
  recipe = ("" if config.get("plain_recipe") != "reference" else
            " The image models use the reference code's per-kind recipes (they differ in λ and "
            "optimizer).")
  caption = ("Fig. 4: std(h) " + "; ".join(parts) + "." + recipe
             + (f" Data cards: {cards}" if cards else "") + (f" {mix_cards}" if mix_cards else "")
             + ("." if cards or mix_cards else ""))
  return style.save(fig, out_dir, "fig4_std"), caption


def _count(mag: np.ndarray) -> int:
  """Units with |h| above 10% of the largest (mag sorted, largest first)."""
  return int(np.sum(mag > 0.1 * mag[0])) if mag.size and mag[0] > 0 else 0


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
