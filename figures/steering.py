r"""Representation steering (Eq. 11) measured where it does not saturate: P(target) against the steering
strength for a memorizing and a generalizing diffusion DAE and the pixel-interpolation baseline, for a
class the memorizing model stores and one it does not; the fraction of path points on the data
manifold; the transition metrics with intervals over model seeds; example paths on one grey scale.
Reads ``python -m sims.steering``.

  python -m figures.steering --steering_workdir runs/steering
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"steering": ("sims.steering", "runs/steering")}
KINDS = ("mem", "gen", "pixel")
NAMES = {"mem": "memorizing DAE", "gen": "generalizing DAE", "pixel": "pixel interpolation"}
COLORS = {"mem": "C3", "gen": "C0", "pixel": "0.45"}
STYLES = {"mem": "-", "gen": "-", "pixel": "--"}
TARGETS = ("stored", "other")
METRIC_PANELS = (("width_g", "width of the rise 0.1 → 0.9, in a_rel"),
                 ("max_slope_g", "largest ΔP / Δa_rel"),
                 ("jump_share_g", "jump share / even path's"))


def _num(e: dict) -> tuple[float, float, float]:
  """(mean, lo, hi) of an interval entry of summary.json (NaN is stored as the string "nan")."""
  return tuple(float("nan") if e[k] is None else float(e[k]) for k in ("mean", "lo", "hi"))


def _iv(e: dict, digits: int = 3) -> str:
  m, lo, hi = _num(e)
  return "n/a" if not np.isfinite(m) else f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _seed_band(prob: np.ndarray, n_boot: int = 500, seed: int = 0):
  """Mean over model seeds of each seed's mean P over its paths, and a 95% band resampling seeds.
  ``prob (seeds, levels, paths)`` (NaN for a diverged output)."""
  per_seed = np.nanmean(prob, 2)  # (seeds, levels)
  rng = np.random.default_rng(seed)
  draws = per_seed[rng.integers(0, len(per_seed), (n_boot, len(per_seed)))].mean(1)
  return per_seed.mean(0), np.percentile(draws, 2.5, 0), np.percentile(draws, 97.5, 0)


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, a, summ = loaded["steering"]
  a_rel, mean = a["a_rel"], a["mean"]
  stored, other = (int(c) for c in a["target_classes"])
  cls = {"stored": stored, "other": other}
  label_t = {"stored": f"class {stored} (stored)", "other": f"class {other} (not stored)"}
  table = summ["metrics"]
  seeds = int(config["seeds"])
  lo, hi = (float(w) for w in a["window"])

  fig = plt.figure(figsize=(11, 9.6))
  grid = fig.add_gridspec(3, 3, height_ratios=[1.0, 0.9, 1.25], hspace=0.45, wspace=0.3)
  letters = iter("abcdefghij")

  def letter(ax):
    ax.text(-0.12, 1.06, next(letters), transform=ax.transAxes, fontsize=11, fontweight="bold",
            va="bottom")

  for col, t in enumerate(TARGETS):
    ax = fig.add_subplot(grid[0, col])
    letter(ax)
    for kind in KINDS:
      m, blo, bhi = _seed_band(a[f"{kind}_{t}_prob"])
      ax.plot(a_rel, m, STYLES[kind], color=COLORS[kind], label=NAMES[kind])
      ax.fill_between(a_rel, blo, bhi, color=COLORS[kind], alpha=0.2, lw=0)
    for level in (0.1, 0.9):
      ax.axhline(level, color="k", lw=0.6, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("steering strength a_rel = a·‖v‖ / mean‖h‖")
    ax.set_ylabel(f"P(class {cls[t]})")
    ax.set_title(f"towards {label_t[t]}", loc="left")
    if col == 0:
      ax.legend(frameon=False, loc="lower right")
  ax = fig.add_subplot(grid[0, 2])
  letter(ax)
  for kind in KINDS:
    for t, ls in (("stored", "-"), ("other", ":")):
      on = a[f"{kind}_{t}_on"].mean((0, 2))  # all seeds and paths
      ax.plot(a_rel, on, ls, color=COLORS[kind], label=f"{NAMES[kind]}, {label_t[t]}")
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel("steering strength a_rel")
  ax.set_ylabel("fraction of path points on the manifold")
  ax.set_title("manifold guard (norm band, held-out distance)", loc="left")
  from matplotlib.lines import Line2D
  handles = [Line2D([], [], color=COLORS[k], ls=STYLES[k], label=NAMES[k]) for k in KINDS] + [
      Line2D([], [], color="k", ls="-", label=f"towards {label_t['stored']}"),
      Line2D([], [], color="k", ls=":", label=f"towards {label_t['other']}")]
  ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

  xpos = {("stored", "mem"): 0, ("stored", "gen"): 1, ("stored", "pixel"): 2,
          ("other", "mem"): 4, ("other", "gen"): 5, ("other", "pixel"): 6}
  for col, (name, title) in enumerate(METRIC_PANELS):
    ax = fig.add_subplot(grid[1, col])
    letter(ax)
    for (t, kind), x in xpos.items():
      for tag, dx, face in (("g", -0.17, COLORS[kind]), ("u", 0.17, "white")):
        m, elo, ehi = _num(table[kind][t][name[:-1] + tag])
        if not np.isfinite(m):
          if tag == "g":
            ax.text(x, 0.03, "never\nreaches\n0.9", ha="center", va="bottom", fontsize=8,
                    color=COLORS[kind], transform=ax.get_xaxis_transform())
          continue
        ax.errorbar([x + dx], [m], yerr=[[m - elo], [ehi - m]], fmt="o", color=COLORS[kind],
                    mfc=face, capsize=3, label=NAMES[kind] if t == "stored" and tag == "g" else None)
    ax.set_xticks([1, 5], [label_t["stored"], label_t["other"]])
    ax.set_xlim(-0.8, 6.8)
    ax.set_title(title, loc="left")
    if name == "jump_share_g":
      ax.axhline(1.0, color="k", lw=0.6, ls=":")
    if col == 2:
      ax.legend(handles=[
          Line2D([], [], color="k", marker="o", ls="", label="on-manifold levels only"),
          Line2D([], [], color="k", marker="o", mfc="white", ls="", label="all levels")],
          frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

  ax = fig.add_subplot(grid[2, :])
  letter(ax)
  every = max(1, (len(a_rel) - 1) // 10)
  cols = np.arange(0, len(a_rel), every)
  tiles = []
  for kind in KINDS:
    strip = a[f"{kind}_strip"][:, 0]  # (levels, d): seed 0, path 0, stored target
    tiles.append(strip[cols] + mean)
  # Empty labels leave image_grid's gap under each tile; the labels are drawn here at 8 pt.
  style.image_grid(ax, np.concatenate(tiles), 8, len(cols), labels=[""] * (3 * len(cols)),
                   vmin=-1.0, vmax=1.0)
  side, pad, gap = 8, 1, max(2, 8 // 3)  # image_grid's layout
  for r, kind in enumerate(KINDS):
    on = a[f"{kind}_stored_on"][0, :, 0]
    y0 = pad + r * (side + pad + gap)
    ax.text(-1, y0 + side / 2, NAMES[kind], ha="right", va="center", fontsize=8)
    for c, k in enumerate(cols):
      ax.text(pad + c * (side + pad) + side / 2, y0 + side + gap / 2,
              f"{a_rel[k]:.1f}" + ("" if on[k] else " off"), ha="center", va="center", fontsize=8)
  last = ", ".join(f"{a[f'{kind}_stored_norm_ratio'][0, cols[-1], 0]:.1f} ({NAMES[kind]})" for kind in KINDS)
  ax.set_title(f"one path towards class {stored} per row (seed 0, the same noise): a_rel under each "
               f"tile, 'off' = off the manifold;\nraw pixels clipped to one grey scale [−1, 1], which "
               f"hides how large a path grows:\n‖x‖ / median data norm at a_rel = {a_rel[cols[-1]]:.1f} "
               f"is {last}", loc="left")

  parts = []
  for t in TARGETS:
    for kind in KINDS:
      e = table[kind][t]
      parts.append(f"{label_t[t]}, {NAMES[kind]}: width {_iv(e['width_g'])}, max ΔP/Δa_rel "
                   f"{_iv(e['max_slope_g'], 2)}, jump share/even {_iv(e['jump_share_g'], 2)}, "
                   f"reaches P ≥ 0.9 on the manifold {_iv(e['reached_g'], 2)} (all levels: width "
                   f"{_iv(e['width_u'])}, max ΔP/Δa_rel {_iv(e['max_slope_u'], 2)}, jump share/even "
                   f"{_iv(e['jump_share_u'], 2)}), path points off {_iv(e['off_fraction'], 2)}, "
                   f"steepest rise with both levels on the manifold {_iv(e['steepest_on'], 2)}")
  caption = (f"Steering towards a class the memorizing model stores (class {stored}) and one it does "
             f"not (class {other}), a·v added only while σ ∈ [{lo:g}, {hi:g}] "
             f"({int(a['steered_levels'])} of 60 sampler levels); {int(config['paths'])} paths per "
             f"model. Curves: mean over {seeds} model seeds of each seed's mean P, band 95% over "
             f"model seeds. (d–f) Filled: guarded metrics, from only the levels where a path is on "
             f"the data manifold (norm ratio to the training digits in [0.5, 2] and nearest-training "
             f"distance at most the 99% quantile of held-out digits'; steps only between adjacent "
             f"on-manifold levels); open: all levels. Values with 95% intervals over model seeds "
             f"(seeds, then paths resampled): " + "; ".join(parts) + ". "
             + " ".join(style.card_text(card, name)
                        for name, card in summ["data_cards"].items()))
  return style.save(fig, out_dir, "steering"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
