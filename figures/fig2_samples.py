r"""Fig. 2: samples of the memorizing and the generalizing diffusion DAE beside their nearest training
images, with the memorized fraction by the scale-aware copy label (:func:`dae_theory.copies.copy_report`:
d₁/d₂ < 1/3 and relative L2 error < 0.1) and by the older, scale-blind cosine ≥ 0.95, and the sample
quality numbers of ``sims.image_dae``. The histograms pool every seed's samples on one set of bins.
The caption carries both models' data cards (``summary.json`` "data_cards",
:func:`figures.style.card_text`): the two kinds share one training recipe. Tiles are raw pixels (mean
added back) on one grey scale, [−1, 1] (black … white; values outside are clipped), so a sample's
contrast is comparable with its image's. Reads ``python -m sims.image_dae``.

  python -m figures.fig2_samples --image_workdir runs/image_dae --out figures
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"image": ("sims.image_dae", "runs/image_dae")}

SHOW = 12
LABEL_PT = 8


def _seeds(v) -> str:
  return ", ".join(f"{f:.2f}" for f in np.atleast_1d(v))


def quality_lines(a) -> list[str]:
  """The sample-quality numbers (medians; per seed for the samples)."""
  lines = []
  for name, kind in (("mem", "memorizing"), ("gen", "generalizing")):
    lines.append(
        f"{kind}: nearest-training distance {_seeds(a[f'{name}_sample_nn_dist_median'])} "
        f"(held-out real digits {float(a[f'{name}_heldout_nn_dist_median']):.2f}); classifier "
        f"confidence {_seeds(a[f'{name}_sample_confidence_median'])} (held-out "
        f"{float(a['heldout_confidence_median']):.2f}); pixels outside [−1, 1] "
        f"{', '.join(f'{f:.1%}' for f in a[f'{name}_outside_fraction'])}")
  return lines


CARDS = ("diffusion memorizing", "diffusion generalizing")


def draw(loaded: dict, out_dir: str):
  config, a, summary = loaded["image"]
  import matplotlib.pyplot as plt

  style.apply()
  side, mean, thr = int(a["side"]), a["mean"], config["threshold"]
  train = a["train_images"] - mean
  fig = plt.figure(figsize=(11, 6.4))
  grid = fig.add_gridspec(3, 2, width_ratios=[3.4, 1], height_ratios=[1, 1, 0.42])
  fig.suptitle("row 1: samples, labelled nearest-training cosine | relative L2 error (* = copy by the "
               "scale-aware label); row 2: the cosine-nearest training image. Raw pixels, one grey "
               "scale [−1, 1] for every tile", x=0.01, ha="left", fontsize=8)
  all_cos = np.concatenate([a["mem_nn_cos"].ravel(), a["gen_nn_cos"].ravel()])
  all_cos = all_cos[np.isfinite(all_cos)]
  # one set of bins for every seed and both models (the finite cosines; a sample the sampler
  # overflowed on has none and is counted in the summary instead)
  bins = np.linspace(min(0.3, float(all_cos.min())) if all_cos.size else 0.3, 1, 36)
  n_seeds = a["mem_nn_cos"].shape[0]
  for row, (name, title, train_set) in enumerate((
      ("mem", f"memorizing ({config['n_memorize']} training images)", train[a["mem_idx"]]),
      ("gen", f"generalizing ({train.shape[0]} training images)", train))):
    smp, cos, idx = a[f"{name}_samples"][0], a[f"{name}_nn_cos"][0], a[f"{name}_nn_idx"][0]
    rel, cp = a[f"{name}_copy_relative_error"][0], a[f"{name}_copy_is_copy"][0]
    ax = fig.add_subplot(grid[row, 0])
    pair = np.concatenate([smp[:SHOW], train_set[idx[:SHOW]]]) + mean
    labels = [f"{c:.2f}|{e:.2f}{'*' if k else ''}" for c, e, k in zip(cos[:SHOW], rel[:SHOW], cp[:SHOW])]
    style.image_grid(ax, pair, side, SHOW, labels=labels + [""] * SHOW, vmin=-1.0, vmax=1.0)
    for text in ax.texts:  # image_grid labels at 6 pt; the house minimum is 8
      text.set_fontsize(LABEL_PT)
    ax.set_title(f"({'ac'[row]}) {title}: memorized fraction per seed\nscale-aware copy label "
                 f"{_seeds(a[f'{name}_copy_fraction'])}   |   cosine ≥ {thr}: "
                 f"{_seeds(a[f'{name}_fraction'])}", loc="left")
    hx = fig.add_subplot(grid[row, 1])
    c_all = a[f"{name}_nn_cos"].ravel()
    hx.hist(c_all[np.isfinite(c_all)], bins=bins, color=f"C{row}")
    hx.axvline(thr, color="k", ls="--", lw=1, label=f"cosine {thr}")
    hx.set_title(f"({'bd'[row]}) {'memorizing' if row == 0 else 'generalizing'}", loc="left")
    hx.set_xlabel("nearest-training cosine")
    hx.set_ylabel(f"samples (all {n_seeds} seeds)")
    if row == 0:
      hx.legend(frameon=False, loc="upper left")
  tx = fig.add_subplot(grid[2, :])
  tx.axis("off")
  tx.text(0, 1, "(e) sample quality (medians, per seed; held-out = the real digits not in the training "
          "split; classifier = logistic regression on the training digits):\n"
          + "\n".join(l.replace("); ", ");\n    ", 1) for l in quality_lines(a)), va="top", ha="left",
          fontsize=8, transform=tx.transAxes)
  fig.tight_layout()
  q = quality_lines(a)
  caption = (f"Fig. 2 ({config['dataset']}): memorized fraction of the memorizing DAE "
             f"{a['mem_copy_fraction'].mean():.2f} by the scale-aware copy label (seeds "
             f"{_seeds(a['mem_copy_fraction'])}) vs {a['mem_fraction'].mean():.2f} by cosine ≥ {thr} "
             f"(seeds {_seeds(a['mem_fraction'])}); generalizing DAE {a['gen_copy_fraction'].mean():.2f} "
             f"vs {a['gen_fraction'].mean():.2f} ({len(a['mem_fraction'])} seeds × "
             f"{a['mem_samples'].shape[1]} samples; histograms: all seeds on one set of bins). Sample "
             f"quality (medians) — {q[0]}; {q[1]}. Data cards (one shared recipe for both): "
             + " ".join(style.card_text(summary["data_cards"][n], n) for n in CARDS) + ".")
  return style.save(fig, out_dir, "fig2_samples"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
