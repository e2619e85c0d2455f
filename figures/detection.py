r"""Memorization detection (Table 1 analogue): ROC curves of std(h) and the baselines, pooled
(memorizing vs generalizing model) and within the hybrid model, and the densities of std(h). Reads
``python -m sims.detection``.

  python -m figures.detection --detection_workdir runs/detection
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"detection": ("sims.detection", "runs/detection")}


def _scores(a: dict, prefix: str) -> dict:
  return {k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)}


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt
  from sklearn.metrics import roc_curve

  from dae_theory import detection

  style.apply()
  config, a, _ = loaded["detection"]
  datasets = config["datasets"]
  sig = config["sigmas"][len(config["sigmas"]) // 2]
  main = f"std σ={sig:g}"
  fig, axes = plt.subplots(len(datasets), 3, figsize=(11, 3.3 * len(datasets)), squeeze=False)
  parts = []
  for r, name in enumerate(datasets):
    for c, setting in enumerate(("pooled", "hybrid")):
      ax = axes[r, c]
      labels = a[f"{name}_{setting}_labels"]
      sc = _scores(a, f"{name}_{setting}_score/")
      if labels.min() == labels.max():
        ax.text(0.5, 0.5, "one class only: no ROC", ha="center", transform=ax.transAxes)
        continue
      for k in (main, f"neg_participation_ratio σ={sig:g}") + tuple(
          k for k in sc if "σ=" not in k or k.startswith(("denoising", "Jacobian"))):
        f, t, _ = roc_curve(labels, sc[k])
        ax.plot(f, t, lw=1.6 if k == main else 1, label=f"{k}: {detection.auroc(labels, sc[k]):.3f}")
      ax.plot([0, 1], [0, 1], "k:", lw=0.8)
      ax.set_xscale("symlog", linthresh=0.01)
      ax.axvline(0.01, color="0.6", lw=0.8)
      ax.set_xlabel("false-positive rate (line: 1%)")
      ax.set_ylabel("true-positive rate")
      ax.set_title(f"{name}, {setting}: {labels.sum()} memorized / {(1 - labels).sum()} novel")
      ax.legend(frameon=False, fontsize=6, loc="lower right", title="AUROC", title_fontsize=6)
      parts.append(f"{name} {setting}: std(h) AUROC {detection.auroc(labels, sc[main]):.3f}")
    ax = axes[r, 2]
    labels = a[f"{name}_hybrid_labels"]
    v = a[f"{name}_hybrid_score/{main}"]
    bins = np.linspace(v.min(), v.max(), 40)
    for cls, color, lab in ((0, "C0", "novel samples"), (1, "C3", "memorized samples")):
      if np.any(labels == cls):  # an empty class has no density
        ax.hist(v[labels == cls], bins=bins, density=True, alpha=0.6, color=color, label=lab)
    ax.set_xlabel(f"std(h) at σ = {sig:g}")
    ax.set_ylabel("density")
    ax.set_title(f"{name}, hybrid model: std(h)")
    ax.legend(frameon=False)
  fig.tight_layout()
  caption = (f"Detection (labels: nearest-training cosine ≥ {config['threshold']}): "
             + "; ".join(parts) + ".")
  return style.save(fig, out_dir, "detection"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
