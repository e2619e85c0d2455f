r"""Fig. 3: encoder columns of a memorizing and a generalizing DAE (σ = 0.2) as images on a diverging
colour map (RdBu_r, each tile scaled symmetrically to its own largest |value|, so white is 0). (a) The
memorizing model's live columns, sorted by norm, each beside its best-matching (centred) training image
with their cosine; (b) the generalizing model's top columns by norm, each labelled with its best cosine
to an image of its training set. Both panels show model seed 0; the caption adds, over every model
seed of the run, the live-column counts, the lowest best cosine of a memorizing live column, how many
memorized images have a live column at cosine ≥ 0.95, and the highest best cosine of a generalizing
column, with both models' data cards (the recipe, shared or the reference's per-kind one, is in them).
Reads ``python -m sims.image_dae``.

  python -m figures.fig3_columns --image_workdir runs/image_dae --out figures
"""

from __future__ import annotations

import numpy as np

from dae_theory import metrics
from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae")}

SHOW = 20  # generalizing columns shown
SHOW_MEM = 12  # memorizing (column, training image) pairs shown at most
CMAP = "RdBu_r"


def _tile(ax, img: np.ndarray, side: int, label: str | None = None, color: str = "k"):
  """One image on a symmetric diverging scale (vmin = −vmax = −max|img|); returns the image."""
  img = np.asarray(img, float).reshape(side, side)
  vmax = float(np.abs(img).max()) or 1.0
  im = ax.imshow(img / vmax, cmap=CMAP, vmin=-1, vmax=1, interpolation="nearest")
  ax.set_xticks([]), ax.set_yticks([])
  for spine in ax.spines.values():
    spine.set_visible(False)
  if label is not None:
    ax.set_xlabel(label, fontsize=8, labelpad=2, color=color)
  return im


CARDS = ("plain memorizing", "plain generalizing")


def _span(v, fmt: str = "{:.3f}") -> str:
  """``min–max`` of ``v`` (one value when they are equal)."""
  lo, hi = fmt.format(np.min(v)), fmt.format(np.max(v))
  return lo if lo == hi else f"{lo}–{hi}"


def seed_lines(config: dict, a: dict) -> str:
  """The over-seeds sentence of the caption (every plain-DAE model seed of the run)."""
  s, k = len(a["mem_live_count"]), config["n_memorize"]
  full = int(np.sum(a["mem_images_stored"] == k))
  return (f"Over {s} model seeds: memorizing live columns {_span(a['mem_live_count'], '{:d}')}, lowest "
          f"best cosine of a live column {_span(a['mem_live_cos_min'])}, all {k} memorized images "
          f"stored in a live column (cosine ≥ 0.95) in {full} of {s} seeds; generalizing live columns "
          f"{_span(a['gen_live_count'], '{:d}')}, highest best cosine {_span(a['gen_live_cos_max'])}")


def draw(loaded: dict, out_dir: str):
  config, a, summary = loaded["image"]
  a_all, a = a, dict(a)
  for k in ("w", "col_norm", "col_live", "col_cos", "col_match"):  # the panels show seed 0
    for name in ("mem", "gen"):
      a[f"{name}_{k}"] = a[f"{name}_{k}"][0]
  import matplotlib.pyplot as plt

  style.apply()
  side = int(a["side"])
  centred = a["train_images"] - a["mean"]
  mem_set = centred[a["mem_idx"]]
  fig = plt.figure(figsize=(9, 5.6))
  top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1], hspace=0.05)
  lines = []

  # (a) memorizing: live columns by norm, each beside its best-matching training image
  live = a["mem_col_live"]
  cos = a["mem_col_cos"]
  order = [u for u in np.argsort(-a["mem_col_norm"]) if live[u]][:SHOW_MEM]
  per_row = 6
  rows = int(np.ceil(len(order) / per_row))
  grid = top.add_gridspec(rows, 3 * per_row, width_ratios=[1, 1, 0.5] * per_row, wspace=0.05,
                          hspace=0.45, left=0.02, right=0.9, bottom=0.08, top=0.8)
  im = None
  for i, u in enumerate(order):
    r, c = divmod(i, per_row)
    match = int(a["mem_col_match"][u])
    im = _tile(top.add_subplot(grid[r, 3 * c]), a["mem_w"][:, u], side, f"col {u + 1}")
    _tile(top.add_subplot(grid[r, 3 * c + 1]), mem_set[match], side,
          f"img {match + 1}, {cos[u]:.2f}", color="0.3")
  title = f"memorizing ({config['n_memorize']} images)"
  per_image = np.bincount(a["mem_col_match"][live], minlength=len(mem_set))
  lines.append(f"{title}: {live.sum()} of {len(live)} columns live (norm > "
               f"{metrics.LIVE_COLUMN:.0%} of max), best cosine {cos[live].min():.3f}–"
               f"{cos[live].max():.3f}, {_span(per_image, '{:d}')} live columns per image (column "
               f"splitting)")
  top.suptitle(f"(a) {lines[-1]}\n{len(order)} live columns by norm, each beside its best-matching "
               f"training image (labels: column; image, cosine)", x=0.02, ha="left", fontsize=9)
  if im is not None:
    cax = top.add_axes([0.93, 0.15, 0.012, 0.6])
    cb = top.colorbar(im, cax=cax, ticks=[-1, 0, 1])
    cb.ax.set_yticklabels(["−max", "0", "+max"])
    cb.set_label("value / max |value|\nof each tile", fontsize=8)

  # (b) generalizing: top columns by norm, labelled with their best cosine
  live = a["gen_col_live"]
  cos = a["gen_col_cos"]
  order = np.argsort(-a["gen_col_norm"])[:SHOW]
  per_row = SHOW // 2
  grid = bottom.add_gridspec(int(np.ceil(len(order) / per_row)), per_row, wspace=0.08, hspace=0.45,
                             left=0.02, right=0.9, bottom=0.08, top=0.78)
  for i, u in enumerate(order):
    r, c = divmod(i, per_row)
    _tile(bottom.add_subplot(grid[r, c]), a["gen_w"][:, u], side, f"{cos[u]:.2f}")
  title = f"generalizing ({a['train_images'].shape[0]} images)"
  lines.append(f"{title}: {live.sum()} of {len(live)} columns live (norm > "
               f"{metrics.LIVE_COLUMN:.0%} of max), best cosine {cos[live].min():.3f}–{cos[live].max():.3f}")
  bottom.suptitle(f"(b) {lines[-1]}\ntop {len(order)} columns by norm (label: best cosine to a "
                  f"training image)", x=0.02, ha="left", fontsize=9)
  recipe = ("one shared recipe for both kinds" if config.get("plain_recipe") == "shared" else
            "the reference code's per-kind recipes (the kinds differ in λ and optimizer)")
  caption = (f"Fig. 3 ({config['dataset']}, σ = {config['sigma']}, {recipe}; diverging colour map, "
             f"each tile scaled to ±its largest |value|; panels: model seed 0): " + "; ".join(lines)
             + "; each memorizing column is shown beside its best-matching training image. "
             + seed_lines(config, a_all) + ". Data cards: "
             + " ".join(style.card_text(summary["data_cards"][n], n) for n in CARDS) + ".")
  return style.save(fig, out_dir, "fig3_columns"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
