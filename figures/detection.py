r"""Memorization detection inside one model (the duplication-spectrum benchmark, Table 1 analogue):
per data set, (a) how often a model's samples copy the point of each multiplicity, by the scale-aware
copy label, by the distance ratio alone and by the scale-blind direction label; (b–d) the within-model AUROC of the scores against
the multiplicity, with 95% intervals over model seeds (two-level bootstrap). Reads
``python -m sims.detection``.

  python -m figures.detection --detection_workdir runs/detection
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"detection": ("sims.detection", "runs/detection")}
LABELS = ("copy", "ratio", "direction")
ANY = "any duplicated point"
TITLES = {"copy": "copy label (d₁/d₂ < 1/3, rel. error < 0.1)",
          "ratio": "distance-ratio label (d₁/d₂ < 1/3)",
          "direction": "direction label (cosine ≥ 0.95), comparison"}
MARKS = {"copy": ("o", "C3"), "ratio": ("^", "C2"), "direction": ("s", "C0")}


def _shown(config: dict) -> list[str]:
  """The scores drawn: std(h) at every σ, the participation ratio at the middle σ, the baselines."""
  sigmas = config["sigmas"]
  mid = sigmas[len(sigmas) // 2]
  bs = config["baseline_sigma"]
  return ([f"std(h), σ = {s:g}" for s in sigmas] + [f"participation ratio, σ = {mid:g}",
          "nearest-training distance (oracle)", f"denoising error, σ = {bs:g}",
          f"Jacobian effective rank, σ = {bs:g}"])


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, _, summary = loaded["detection"]
  datasets, mults = config["datasets"], config["multiplicities"]
  rows, counts, cards = summary["rows"], summary["counts"], summary["data_cards"]
  shown = _shown(config)
  styles = {name: (f"C{i}", "-" if name.startswith("std") else "--") for i, name in enumerate(shown)}
  fig, axes = plt.subplots(len(datasets), 1 + len(LABELS), figsize=(17, 3.6 * len(datasets)),
                           squeeze=False)
  parts, letter = [], iter("abcdefghijklmnop")
  for r, name in enumerate(datasets):
    ax = axes[r, 0]
    n_seeds = len(counts[name]["copy"])
    for lab in LABELS:
      marker, color = MARKS[lab]
      per = np.array([[c[str(m)] for m in mults] for c in counts[name][lab]], float)
      total = np.array([sum(v for k, v in c.items() if k != "nonfinite") for c in counts[name][lab]])
      frac = per / np.maximum(total, 1)[:, None]
      for s in range(n_seeds):
        ax.scatter(mults, frac[s], s=10, marker=marker, color=color, alpha=0.35, lw=0)
      ax.plot(mults, frac.mean(0), marker=marker, color=color, lw=1.2,
              label=f"{ {'copy': 'copy', 'ratio': 'distance-ratio', 'direction': 'direction'}[lab]} label "
                    "(mean; dots: seeds)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(0, 1)
    ax.set_xlabel("multiplicity of the point (copies in the training set)")
    ax.set_ylabel("fraction of samples copying it")
    ax.set_title(f"({next(letter)}) {name}: copies per multiplicity, {n_seeds} seeds")
    ax.legend(frameon=False, loc="upper left")
    for c, lab in enumerate(LABELS, start=1):
      ax = axes[r, c]
      sel = [x for x in rows if x["dataset"] == name and x["label"] == lab]
      groups = list(mults) + [ANY]
      lows = []
      for si, score in enumerate(shown):
        pts = [(groups.index(x["group"]), x) for x in sel if x["score"] == score and x["auroc"] is not None]
        if not pts:
          continue
        pos = np.array([g for g, _ in pts]) + 0.07 * (si - (len(shown) - 1) / 2)  # bars side by side
        est = np.array([x["auroc"] for _, x in pts])
        lo, hi = np.array([x["auroc_ci"] for _, x in pts]).T
        lows.append(lo.min())
        color, ls = styles[score]
        ax.errorbar(pos, est, yerr=[est - lo, hi - est], color=color, ls="none", marker="o", ms=3.5,
                    lw=1.1, capsize=2, label=score)
      floor = min([0.5] + lows) - 0.03
      few = [i for i, g in enumerate(groups) if not any(x["group"] == g and x["auroc"] is not None for x in sel)]
      for i in few:
        ax.text(i, floor + 0.02, "n/a", ha="center", va="bottom", fontsize=8, color="0.4")
      ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
      ax.set_xticks(range(len(groups)), [str(g) if g != ANY else "any\nduplicated" for g in groups])
      ax.set_xlim(-0.5, len(groups) - 0.5)
      ax.set_ylim(floor, 1.01)
      ax.set_xlabel("multiplicity of the copied point")
      ax.set_ylabel("AUROC within a model\n(mean over seeds, 95% CI)")
      ax.set_title(f"({next(letter)}) {name}: {TITLES[lab]}")
      top = [x for x in sel if x["score"] == shown[len(config["sigmas"]) // 2] and x["auroc"] is not None
             and x["group"] != ANY]
      if top:
        t = max(top, key=lambda x: x["group"])
        parts.append(f"{name}, {lab} label, m = {t['group']}: {t['score']} AUROC {t['auroc']:.3f} "
                     f"[{t['auroc_ci'][0]:.3f}, {t['auroc_ci'][1]:.3f}], TPR@1%FPR {t['tpr']:.3f} "
                     f"({t['n_pos']} positives in {t['models']} models)")
      else:
        parts.append(f"{name}, {lab} label: no multiplicity with enough positives")
  handles, names = [], []
  for ax in axes[:, 1:].ravel():
    for h, n in zip(*ax.get_legend_handles_labels()):
      if n not in names:
        handles.append(h), names.append(n)
  if handles:
    fig.legend(handles, names, loc="lower center", ncol=4, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, -0.01))
  fig.tight_layout(rect=(0, 0.07, 1, 1))
  cap_cards = " ".join(style.card_text(cards[n], n) for n in datasets)
  caption = ("Detection inside one model (duplication spectrum). Left column: the fraction of each "
             "model's samples that copy the point of each multiplicity (line: mean over seeds; dots: "
             "seeds); the other columns: the within-model AUROC of the scores per multiplicity under "
             "each label. Positives: samples that copy the point "
             "of multiplicity m (copy label: d₁/d₂ < 1/3 and relative L2 error < 0.1; distance-ratio label: "
             "d₁/d₂ < 1/3 alone, the memorization literature's criterion; direction label: "
             "cosine ≥ 0.95, for comparison); negatives: samples that copy nothing. Intervals: 95%, "
             "two-level bootstrap over model seeds, then samples within each model; n/a: fewer than "
             f"{config['min_positives']} positives over the seeds, or positives in fewer than 2 models. "
             + "; ".join(parts) + ". " + cap_cards)
  return style.save(fig, out_dir, "detection"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
