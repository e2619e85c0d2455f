r"""Dashboard of the memorization → generalization transition against the training set size N
(``python -m sims.transition``): digits and the Gaussian mixture in the same panel (colour = data set),
every curve the mean over model seeds with ± one standard error over seeds, the sigmoid in log N fitted
to the seed-mean curve (thin line) and the transition N (marker with its 95% t-interval over model
seeds, drawn only when the per-seed fits identify it). Top row: the representation view, the Gaussian
lens, the agreement lens with its same-data ceiling and the Jacobian lens with its chance level. Middle
row: the held-out linearity score and the distance to the Wiener filter against σ (colour = N). Bottom
row: LS on held-out vs training inputs, GL on the raw scale, the Jacobian's energy in a local and a
global principal subspace, and the Gaussian lens across width.

  python -m figures.transition --transition_workdir runs/transition
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from figures import style

RUNS = {"transition": ("sims.transition", "runs/transition")}
NAMES = {"digits": "digits", "mixture": "Gaussian mixture"}


def _mean_se(v):
  """Mean and standard error over the seed axis 0 (NaN-aware)."""
  v = np.asarray(v, float)
  k = np.sum(np.isfinite(v), 0)
  se = np.nanstd(v, 0, ddof=1) / np.sqrt(np.maximum(k, 1)) if v.shape[0] > 1 else np.zeros(v.shape[1:])
  return np.nanmean(v, 0), se


def _fmt(f: dict) -> str:
  ok = sum(f["identified"])
  if ok == 0:
    why = f["reasons"][0]
    short = ("midpoint beyond the grid" if "beyond the grid" in why else
             "still moving at the ends of the grid" if "asymptotes" in why else why.split(":")[0])
    return f"not identified ({short})"
  lo, hi = f["interval"]
  iv = f" [{lo:.0f}, {hi:.0f}]" if np.isfinite(lo) else ""
  return f"{f['center']:.0f}{iv} ({ok}/{len(f['identified'])} seeds)"


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt
  from matplotlib.lines import Line2D
  from matplotlib.ticker import NullFormatter

  style.apply()
  config, a, summary = loaded["transition"]
  fits, cards = summary["fits"], summary.get("data_cards", {})
  sizes = np.asarray(a["sizes"], float)
  grid = a["profile_sigmas"]
  datasets = config["datasets"]
  dcol = {name: f"C{i}" for i, name in enumerate(datasets)}
  ncol = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))
  j0 = int(np.argmin(np.abs(grid - config["sigma"])))
  fine = np.geomspace(sizes[0], sizes[-1], 200)
  # README shows it 760 px wide: 12 pt on a 12.5 in figure is about 10 px there
  rc = {"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 12, "xtick.labelsize": 11,
        "ytick.labelsize": 11, "legend.fontsize": 10.5}
  with plt.rc_context(rc):
    fig, axes = plt.subplots(3, 4, figsize=(13, 10.5))
    letters = iter("abcdefghijkl")
    flat = iter(axes.ravel())

    def panel(title):
      ax = next(flat)
      ax.set_title(f"({next(letters)}) {title}", loc="left")
      return ax

    def vs_n(ax):
      ax.set_xscale("log", base=2)
      ax.set_xlim(sizes[0] / 1.3, sizes[-1] * 1.3)
      ax.set_xlabel("training set size N")

    def curve(ax, name, key, ls="-", mk="o"):
      m, se = _mean_se(a[f"{name}/{key}"])
      ax.errorbar(sizes, m, yerr=se, fmt=mk, ls=ls, ms=4, lw=1.3, capsize=2, color=dcol[name])
      return m

    def fitted(ax, name, lens, y_mark, draw_curve=True):
      f = fits[name][lens]
      if draw_curve and f["params_mean_curve"] is not None and f["mean_curve_identified"]:
        left, right, t_mid, slope = f["params_mean_curve"]
        ax.plot(fine, left + (right - left) * expit(slope * (np.log(fine) - t_mid)), color=dcol[name],
                lw=0.8, alpha=0.8)
      if sum(f["identified"]) and np.isfinite(f["center"]):
        lo, hi = np.clip(f["interval"], sizes[0], sizes[-1])  # drawn inside the grid only
        err = None if not np.isfinite(lo) else [[f["center"] - lo], [hi - f["center"]]]
        ax.errorbar([f["center"]], [y_mark], xerr=err, fmt="v", ms=8, color=dcol[name], capsize=3,
                    lw=2, mec="k", mew=0.6)

    def style_legend(ax, items, loc="best"):
      lo, hi = ax.get_ylim()
      if loc.startswith("upper"):  # headroom: the legend sits above the curves
        ax.set_ylim(lo, hi + 0.35 * (hi - lo))
      elif loc.startswith("lower"):
        ax.set_ylim(lo - 0.35 * (hi - lo), hi)
      ax.legend([Line2D([], [], color="k", ls=ls, marker=mk, ms=4) for ls, mk, _ in items],
                [lab for *_, lab in items], loc=loc, frameon=True, facecolor="white", edgecolor="none",
                framealpha=0.85)

    def lens_panel(title, series, marks, loc, ylabel=None, draw_curve=True, extra=None):
      """Curves (key, line style, marker, label) per data set, their legend, then the transition
      marks of the lenses ``marks`` on the side away from the legend."""
      ax = panel(title)
      for name in datasets:
        for key, ls, mk, _ in series:
          curve(ax, name, key, ls, mk)
        if extra:
          extra(ax, name)
      vs_n(ax)
      if ylabel:
        ax.set_ylabel(ylabel)
      items = [(ls, mk, lab) for _, ls, mk, lab in series]
      if extra:
        items.append((":", "", extra.__doc__))
      style_legend(ax, items, loc)
      lo, hi = ax.get_ylim()
      y = lo + (0.05 if loc.startswith("upper") else 0.95) * (hi - lo)
      for name in datasets:
        for lens in marks:
          fitted(ax, name, lens, y, draw_curve)
      return ax

    def chance(ax, name):
      """chance level"""
      ax.fill_between(sizes, a[f"{name}/baseline_mean"], a[f"{name}/baseline_q95"], color=dcol[name],
                      alpha=0.15, lw=0)
      ax.plot(sizes, a[f"{name}/baseline_mean"], ":", color=dcol[name], lw=1.5)

    # (a)-(d): the four lenses against N
    lens_panel("memorized fraction",
               [("copy_fraction", "-", "o", "scale-aware label"),
                ("cosine_fraction", "--", "s", "cosine label")],
               ["representation", "representation, cosine label"], "upper right")
    lens_panel(f"Gaussian lens, σ = {grid[j0]:.2g}",
               [("rmse_gaussian", "-", "o", "to the Wiener filter"),
                ("rmse_distilled", "--", "s", "to its own linear fit")], ["gaussian"], "upper right",
               "RMSE")
    lens_panel("agreement: sample cosine",
               [("pair_cosine_mean", "-", "o", "disjoint data (A vs B)"),
                ("ceiling_cosine_mean", "--", "s", "same data, other init")], ["agreement"],
               "lower right")
    # the Jacobian fit is of the excess over chance: only its transition N is drawn
    lens_panel("Jacobian: top eigenvector",
               [("jac_sample_alignment", "-", "o", "trained model")], ["jacobian"], "upper right",
               "max |cos| to a sample", draw_curve=False, extra=chance)
    # (e)-(h): profiles over σ on held-out inputs, colour = N
    for key, label in (("ls_profile", "held-out LS vs σ"), ("rmse_profile", "RMSE to Wiener vs σ")):
      for name in datasets:
        ax = panel(f"{name}: {label}")
        v = a[f"{name}/{key}"]  # (seeds, sizes, sigmas)
        for i in range(len(sizes)):
          m, se = _mean_se(v[:, i])
          ax.errorbar(grid, m, yerr=se, fmt="o-", ms=3, lw=1.2, capsize=1.5, color=ncol[i])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("noise level σ")
        if key == "ls_profile":
          ax.set_ylabel("linearity score")
        else:
          ax.set_ylabel("RMSE")
    # (i)-(l)
    lens_panel(f"linearity score, σ = {grid[j0]:.2g}",
               [("ls_heldout", "-", "o", "held-out inputs"),
                ("ls_train", "--", "s", "training inputs (old)")], ["linearity"], "lower right")
    ax = panel("GL, raw [−1, 1] scale")
    for name in datasets:
      curve(ax, name, "gl")
    vs_n(ax)
    ax.set_ylabel("mean ‖x − NN(x)‖ / ‖x‖")
    ax.set_ylim(0, None)
    ax = panel("top eigenvector: subspace energy")
    for name in datasets:
      curve(ax, name, "jac_local_energy")
      curve(ax, name, "jac_subspace_energy", "--", "s")
      ax.axhline(float(a[f"{name}/local_chance"]), color=dcol[name], ls=":", lw=1.2)
    vs_n(ax)
    style_legend(ax, [("-", "o", f"local PCA, rank {config['local_rank']}"),
                      ("--", "s", f"global PCA, rank {config['subspace_rank']}"),
                      (":", "", "chance, local")], "upper right")
    ax = panel(f"Gaussian lens vs width, N = {config['sweep_n']}")
    for name in datasets:
      ax.plot(a["sweep_widths"], a[f"{name}/sweep_width_rmse"], "o-", ms=4, color=dcol[name])
      d = cards.get(f"{name} N={config['sweep_n']}", {}).get("d")
      if d:
        ax.axvline(2 * d, color=dcol[name], ls=":", lw=1.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width p (dotted: p = 2d)")
    ax.set_ylabel(f"RMSE to Wiener, σ = {config['sigma']:g}")
    # shared legends: data sets (top), N (for e-h)
    handles = [Line2D([], [], color=dcol[n], lw=2.5) for n in datasets]
    handles += [Line2D([], [], color="0.4", marker="v", ls="", ms=8, mec="k")]
    labels = [NAMES.get(n, n) for n in datasets] + ["transition N (95% interval over seeds)"]
    handles += [Line2D([], [], color=ncol[i], lw=2.5) for i in range(len(sizes))]
    labels += [f"N = {int(n)}" for n in sizes]
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), frameon=False,
               bbox_to_anchor=(0.5, 1.0), fontsize=12, columnspacing=1.2, handlelength=1.6)
    fig.tight_layout(rect=(0, 0, 1, 0.925), h_pad=0.8, w_pad=0.4)
  parts = []
  for name in datasets:
    parts.append(f"{NAMES.get(name, name)}: transition N ≈ " + "; ".join(
        f"{lens} {_fmt(f)}" for lens, f in fits[name].items()))
  card_keys = [k for k in cards if k.endswith(f"N={int(sizes[0])}") or k.endswith(f"N={int(sizes[-1])}")]
  caption = ("Transition (means over " + f"{config['seeds']} model seeds, bars ± 1 s.e. over seeds; "
             "intervals are 95% Student-t over the seeds whose sigmoid fit is identified): "
             + "; ".join(parts) + ". " + " ".join(style.card_text(cards[k], k) for k in card_keys))
  return style.save(fig, out_dir, "transition"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
