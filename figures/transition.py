r"""Dashboard: the representation view and the three lenses (Gaussian, agreement, Jacobian) against the
training set size N, digits and Gaussian mixture in the same panel (colour = data set, dotted line =
its transition point), with the Jacobian trace, the participation ratio of h and the Gaussian lens
across width and training steps; then per data set the disjoint-subset and nearest-training cosine
histograms and train/test PSNR (colour = N). Reads
``python -m sims.transition``.

  python -m figures.transition --transition_workdir runs/transition
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"transition": ("sims.transition", "runs/transition")}
PANELS = [
    ("representation", [("memorized_fraction", "memorized fraction"),
                        ("nn_cosine_mean", "nearest-training cosine")]),
    ("gaussian", [("rmse_gaussian", "RMSE(trained, Wiener)"),
                  ("rmse_distilled", "RMSE(trained, its linear fit)")]),
    ("linearity", [("ls_small", "LS at small σ"), ("ls_large", "LS at σ_large")]),
    ("agreement", [("pair_cosine_mean", "A vs B sample cosine"), ("gl", "GL score")]),
    ("jacobian", [("jac_sample_alignment", "top eigvec |cos| to a sample"),
                  ("jac_subspace_energy", "its energy in the top-10 PCA span")]),
]


def _fmt(n_star: float) -> str:
  return f"{n_star:.0f}" if np.isfinite(n_star) else "none (flat curve)"


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt
  from matplotlib.lines import Line2D

  style.apply()
  config, a, summary = loaded["transition"]
  transition = summary["transition"]  # {lens: metric key}: sims.transition.TRANSITION
  sizes = a["sizes"]
  datasets = config["datasets"]
  dcol = {name: f"C{i}" for i, name in enumerate(datasets)}
  ncol = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))  # one colour per N
  with plt.rc_context({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
                       "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9}):
    fig, axes = plt.subplots(4, 4, figsize=(12, 11.5))
    flat = iter(axes.ravel())
    letters = iter("abcdefghijklmnop")

    def panel(title):
      ax = next(flat)
      ax.set_title(f"({next(letters)}) {title}", loc="left")
      return ax

    def vs_n(ax, xlabel="training set size N"):
      ax.set_xscale("log", base=2)
      ax.set_xlabel(xlabel)

    # lens curves: both data sets in one panel (colour = data set, line style = metric)
    for lens, series in PANELS:
      ax = panel(f"{lens} lens" if lens != "representation" else "representation")
      for name in datasets:
        for j, (k, _) in enumerate(series):
          ax.plot(sizes, a[f"{name}/{k}"], "o-" if j == 0 else "s--", ms=3, color=dcol[name])
        if lens in transition:
          n_star = float(a[f"{name}/transition/{lens}"])
          if np.isfinite(n_star):
            ax.axvline(n_star, color=dcol[name], ls=":", lw=1.2)
      vs_n(ax)
      lo, hi = ax.get_ylim()
      ax.set_ylim(lo, hi + 0.4 * (hi - lo))  # headroom: the metric legend sits above the curves
      ax.legend([Line2D([], [], color="k", ls=ls, marker=mk, ms=3) for ls, mk in (("-", "o"), ("--", "s"))
                 ][:len(series)], [lab for _, lab in series], loc="upper center", fontsize=8, frameon=True,
                facecolor="white", edgecolor="none", framealpha=1)
    for key, title in (("jac_trace", "Jacobian trace (eff. dimension)"),
                       ("pr_mean", "participation ratio of h")):
      ax = panel(title)
      for name in datasets:
        ax.plot(sizes, a[f"{name}/{key}"], "o-", ms=3, color=dcol[name])
      vs_n(ax)
    for axis, label in (("width", "width p"), ("steps", "Adam steps")):
      ax = panel(f"Gaussian lens vs {label} (N = {config['sweep_n']})")
      for name in datasets:
        ax.plot(a["sweep_widths" if axis == "width" else "sweep_steps"], a[f"{name}/sweep_{axis}_rmse"],
                "o-", ms=3, color=dcol[name])
      vs_n(ax, label)
      ax.set_ylabel("RMSE(trained, Wiener)")
    # per data set: agreement and nearest-training histograms, PSNR curves (colour = N)
    for key, title, xlabel, lo in (("pair_cosine", "disjoint-subset agreement",
                                    "cosine of A's to B's sample", -0.2),
                                   ("nn_cosine", "nearest-training cosine",
                                    "A's sample vs nearest training image", 0.0)):
      for name in datasets:
        ax = panel(f"{name}: {title}")
        v = a[f"{name}/{key}"]  # (sizes, samples)
        bins = np.linspace(min(lo, v.min()), 1, 30)
        for i in range(len(sizes)):
          ax.hist(v[i], bins=bins, histtype="step", lw=1.2, color=ncol[i])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("samples")
    for name in datasets:
      ax = panel(f"{name}: denoising PSNR")
      for i in range(len(sizes)):
        ax.plot(a[f"{name}/psnr_in"][i], a[f"{name}/psnr_train"][i], "o-", ms=3, lw=1, color=ncol[i])
        ax.plot(a[f"{name}/psnr_in"][i], a[f"{name}/psnr_test"][i], "s--", ms=3, lw=1, color=ncol[i])
      ax.set_xlabel("input PSNR (dB)")
      ax.set_ylabel("output PSNR (dB)")
      ax.legend([Line2D([], [], color="k", ls="-", marker="o", ms=3),
                 Line2D([], [], color="k", ls="--", marker="s", ms=3)], ["train", "test"],
                frameon=False, fontsize=8, loc="upper left")
    for ax in flat:  # the free slot(s): the shared legends
      ax.axis("off")
      first = ax.legend([Line2D([], [], color=dcol[n], lw=2) for n in datasets] +
                        [Line2D([], [], color="0.3", ls=":", lw=1.2)],
                        [f"{n}" for n in datasets] + ["transition N (dotted)"],
                        title="data set (panels a–i)", frameon=False, loc="upper left",
                        bbox_to_anchor=(0, 1))
      ax.add_artist(first)
      ax.legend([Line2D([], [], color=ncol[i], lw=2) for i in range(len(sizes))],
                [f"N = {n}" for n in sizes], title="training set size (j–o)", frameon=False,
                loc="upper left", bbox_to_anchor=(0, 0.55), ncol=2)
      break
    fig.tight_layout()
  parts = []
  for name in datasets:
    parts.append(f"{name}: transition N ≈ " + ", ".join(
        f"{lens} {_fmt(float(a[f'{name}/transition/{lens}']))}" for lens in transition))
  return style.save(fig, out_dir, "transition"), "Transition: " + "; ".join(parts) + "."


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
