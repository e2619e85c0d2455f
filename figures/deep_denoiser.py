r"""Deep denoisers (the lab's bias-free U-Nets, ``python -m sims.deep_denoiser``): the paper's Section 4
redone inside deep models. Row 1, Fig. 5's analogue: std(h) of the max-pooled code at the chosen tap
for the memorizing (smallest N) and generalizing (largest N) model, one image's code, the per-tap
medians, and samples. Row 2, Table 1's analogue inside one model: copies per multiplicity and the
within-model AUROC / TPR@1%FPR per tap beside the baselines (95% intervals over model seeds), and the
AUROC of every code score at every tap. Row 3: steering (Eq. 11) at a mid tap, and the lenses against
N with their fitted transition N. Row 4: the Jacobian's eigen-images and spectra. Reads the run record
only (trained weights are in its ``checkpoints``; nothing is retrained).

  python -m figures.deep_denoiser --deep_workdir runs/deep_denoiser
"""

from __future__ import annotations

import numpy as np

from figures import style

RUNS = {"deep": ("sims.deep_denoiser", "runs/deep_denoiser")}
ANY = "any duplicated point"
KIND_NAMES = {"mem": "memorizing", "gen": "generalizing", "pixel": "pixel interpolation"}
LENS_NAMES = {"representation": "memorized fraction", "gaussian": "RMSE to Wiener filter",
              "linearity": "linearity score", "agreement": "disjoint-data sample cosine",
              "jacobian": "Jacobian alignment − chance"}


def _num(x) -> float:
  """A stored number, NaN for None or a non-number (the record writes NaN as a string)."""
  return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else float("nan")


def _ci(rows, score):
  r = next((x for x in rows if x["score"] == score and x["auroc"] is not None), None)
  return r


def _fit_text(f: dict) -> str:
  ok = sum(f["identified"])
  if ok == 0:
    why = f["reasons"][0]
    return ("not identified (" + ("beyond the grid" if "beyond the grid" in why else
                                  "still moving at the grid's ends" if "asymptotes" in why else
                                  why.split(":")[0]) + ")")
  lo, hi = (_num(q) for q in f["interval"])
  iv = f" [{lo:.0f}, {hi:.0f}]" if np.isfinite(lo) else ""
  return f"N* = {_num(f['center']):.0f}{iv} ({ok}/{len(f['identified'])} seeds)"


def draw(loaded: dict, out_dir: str):
  import matplotlib.pyplot as plt

  style.apply()
  config, a, summary = loaded["deep"]
  v = summary["settings"]
  side = int(a["side"])
  sizes = np.asarray(a["sizes"])
  taps = summary["taps"]
  tap = config["tap"]
  fig, axes = plt.subplots(4, 4, figsize=(17, 15))
  letters = iter("abcdefghijklmnop")
  title = lambda ax, text: ax.set_title(f"({next(letters)}) {text}", loc="left")
  parts = []

  # (a) std(h) distributions at the chosen tap (seed 0)
  ax = axes[0, 0]
  mem, gen = a[f"fig5/{tap}/mem_std"], a[f"fig5/{tap}/gen_std"]
  bins = np.linspace(min(mem.min(), gen.min()), max(mem.max(), gen.max()), 30)
  ax.hist(gen, bins, alpha=0.6, color="C0", label=f"generalizing (N = {sizes[-1]})", density=True)
  ax.hist(mem, bins, alpha=0.6, color="C3", label=f"memorizing (N = {sizes[0]})", density=True)
  ax.set_xlabel(f"std(h), tap {tap} (max-pooled, σ = {config['probe_sigma']:g})")
  ax.set_ylabel("density")
  ax.legend(frameon=False)
  title(ax, f"Fig. 5 analogue: std(h) at tap {tap}, seed 0")
  e = summary["fig5"][tap]
  parts.append(f"(a) at tap {tap} the median std(h) is {np.mean(e['mem_median']):.3g} (memorizing, "
               f"N = {sizes[0]}) vs {np.mean(e['gen_median']):.3g} (generalizing, N = {sizes[-1]}), "
               f"means over {len(e['mem_median'])} model seeds")

  # (b) one training image's code
  ax = axes[0, 1]
  cm, cg = a[f"fig5/{tap}/mem_code"], a[f"fig5/{tap}/gen_code"]
  idx = np.arange(len(cm))
  ax.bar(idx - 0.2, cm, 0.4, color="C3", label="memorizing")
  ax.bar(idx + 0.2, cg, 0.4, color="C0", label="generalizing")
  ax.set_xlabel(f"channel of tap {tap}")
  ax.set_ylabel("max-pooled activation")
  ax.legend(frameon=False)
  title(ax, "one noisy training image's code")

  # (c) per-tap medians, every seed
  ax = axes[0, 2]
  x = np.arange(len(taps))
  for kind, col, off in (("mem", "C3", -0.1), ("gen", "C0", 0.1)):
    med = np.array([summary["fig5"][t][f"{kind}_median"] for t in taps])  # (taps, seeds)
    ax.plot(x + off, med.mean(1), "o-", color=col, label=f"{KIND_NAMES[kind]} (mean; dots: seeds)")
    for s in range(med.shape[1]):
      ax.scatter(x + off, med[:, s], s=10, color=col, alpha=0.4, lw=0)
  ax.set_xticks(x, taps)
  ax.set_xlabel("tap (network order)")
  ax.set_ylabel("median std(h) over training images")
  ax.legend(frameon=False)
  title(ax, "std(h) per tap")

  # (d) training images and samples
  ax = axes[0, 3]
  k = min(8, len(a["mem_samples"]), len(a["train_images"]))
  imgs = np.r_[a["train_images"][:k], a["mem_samples"][:k], a["gen_samples"][:k]] + a["mean"]
  style.image_grid(ax, imgs, side, k, vmin=-1, vmax=1)
  title(ax, f"rows: training images; samples N = {sizes[0]}; N = {sizes[-1]}")

  # (e) copies per multiplicity, every label
  ax = axes[1, 0]
  mults = config["multiplicities"]
  for label, (mk, col) in {"copy": ("o", "C3"), "ratio": ("^", "C2"), "direction": ("s", "C0")}.items():
    counts = summary["detection"]["counts"][label]
    per = np.array([[c[str(m)] for m in mults] for c in counts], float)
    total = np.array([sum(val for key, val in c.items() if key != "nonfinite") for c in counts])
    frac = per / np.maximum(total, 1)[:, None]
    for s in range(len(frac)):
      ax.scatter(mults, frac[s], s=12, marker=mk, color=col, alpha=0.4, lw=0)
    ax.plot(mults, frac.mean(0), marker=mk, color=col, label=f"{label} label (mean; dots: seeds)")
  ax.set_xscale("log")
  ax.set_yscale("symlog", linthresh=1e-2)
  ax.set_ylim(0, 1)
  ax.set_xlabel("multiplicity of the duplicated image")
  ax.set_ylabel("fraction of samples copying it")
  ax.legend(frameon=False, loc="upper left")
  title(ax, f"copies per multiplicity, {len(counts)} model seeds")
  counts = summary["detection"]["counts"]["copy"]

  # (f, g) within-model AUROC / TPR per tap, std(h), beside the baselines
  lab = summary["detection"].get("label_shown")
  rows = [r for r in summary["detection"]["rows"] if r["label"] == lab and r["group"] == ANY]
  baselines = [n for n in summary["detection"]["score_names"] if ":" not in n]
  for ax, stat, name in ((axes[1, 1], "auroc", "AUROC"), (axes[1, 2], "tpr", "TPR@1%FPR")):
    any_num = False
    for si, sig in enumerate(config["det_sigmas"]):
      pts = [(i, _ci(rows, f"{t}: std(h), σ = {sig:g}")) for i, t in enumerate(taps)]
      pts = [(i, r) for i, r in pts if r is not None]
      if pts:
        any_num = True
        i = np.array([p[0] for p in pts]) + 0.1 * (si - 0.5)
        est = np.array([p[1][stat] for p in pts])
        lo, hi = np.array([p[1][f"{stat}_ci"] for p in pts]).T
        ax.errorbar(i, est, [est - lo, hi - est], fmt="o", capsize=2, color=f"C{si}",
                    label=f"std(h), σ = {sig:g}")
    for bi, b in enumerate(baselines):
      r = _ci(rows, b)
      if r is None:
        continue
      any_num = True
      xb = len(taps) + bi
      ax.errorbar([xb], [r[stat]], [[r[stat] - r[f"{stat}_ci"][0]], [r[f"{stat}_ci"][1] - r[stat]]],
                  fmt="s", capsize=2, color="0.3")
    short = {"nearest-training distance (oracle)": "nearest\n(oracle)",
             "denoising error": "denoising\nerror", "Jacobian effective rank": "Jacobian\nrank"}
    ax.set_xticks(range(len(taps) + len(baselines)),
                  list(taps) + [short.get(b.split(",")[0], b.split(",")[0]) for b in baselines],
                  fontsize=8)
    if stat == "auroc":
      ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(-0.02 if stat == "tpr" else 0.0, 1.02)
    ax.set_ylabel(f"within-model {name}\n(mean over seeds, 95% CI)")
    if not any_num:
      ax.text(0.5, 0.5, "too few copies for a number", transform=ax.transAxes, ha="center")
    ax.legend(frameon=False, loc="lower left")
    title(ax, f"detection per tap ({name}), {lab or 'no'} label")
  best = sorted([r for r in rows if r["auroc"] is not None], key=lambda r: -r["auroc"])
  if best:
    r = best[0]
    parts.append(f"(f–h) shown: the {lab} label (the strictest with positives in half of the models); "
                 f"the best score for 'any duplicated image' is {r['score']}: within-model AUROC "
                 f"{r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}], TPR@1%FPR "
                 f"{r['tpr']:.3f} ({r['n_pos']} positives in {r['models']} models)")
    code = [x for x in best if ":" in x["score"]]
    if code:
      c = code[0]
      parts.append(f"the best code score is {c['score']}: AUROC {c['auroc']:.3f} [{c['auroc_ci'][0]:.3f}, "
                   f"{c['auroc_ci'][1]:.3f}], TPR@1%FPR {c['tpr']:.3f}")
  else:
    parts.append("(f) too few copies of the duplicated images for a within-model number")

  # (h) AUROC heat map: every code score at every tap (first σ)
  ax = axes[1, 3]
  sig = config["det_sigmas"][0]
  fams = ["std(h)", "participation ratio", "ℓ4/ℓ2 ratio", "max/mean", "active units", "Gini index"]
  mat = np.full((len(fams), len(taps)), np.nan)
  for i, f in enumerate(fams):
    for j, t in enumerate(taps):
      r = _ci(rows, f"{t}: {f}, σ = {sig:g}")
      if r is not None:
        mat[i, j] = r["auroc"]
  im = ax.imshow(mat, vmin=0, vmax=1, cmap="RdBu_r", aspect="auto")
  for i in range(len(fams)):
    for j in range(len(taps)):
      if np.isfinite(mat[i, j]):
        ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8)
  ax.set_xticks(range(len(taps)), taps)
  ax.set_yticks(range(len(fams)), fams)
  fig.colorbar(im, ax=ax, fraction=0.046, label="within-model AUROC")
  title(ax, f"AUROC of each code score per tap, σ = {sig:g}, {lab or 'no'} label")

  # (i) steering P(target)
  ax = axes[2, 0]
  st = summary.get("steering")
  if st:
    a_rel = a["steer/a_rel"]
    for kind, col in (("mem", "C3"), ("gen", "C0"), ("pixel", "0.4")):
      for t, ls in (("stored", "-"), ("other", "--")):
        p = np.nanmean(a[f"steer/{kind}_{t}_prob"], axis=(0, 2))
        ax.plot(a_rel, p, ls, color=col, marker="o", ms=3,
                label=f"{KIND_NAMES[kind]}, {'stored' if t == 'stored' else 'not-stored'} class")
    ax.set_xlabel("a_rel (steering strength / mean ‖h̄‖)")
    ax.set_ylabel("P(target class), mean over seeds and paths")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=8)
    c0, c1 = st["classes"]
    title(ax, f"steering at tap {config['steer_tap']}: classes {c0} (stored), {c1}")
    m = st["metrics"]
    f = lambda e: "n/a" if not np.isfinite(_num(e["mean"])) else f"{e['mean']:.2f}"
    parts.append(f"(i) steering toward class {c0}: guarded 10–90% width {f(m['mem']['stored']['width_g'])} "
                 f"(memorizing), {f(m['gen']['stored']['width_g'])} (generalizing), "
                 f"{f(m['pixel']['stored']['width_g'])} (pixel baseline); reached P ≥ 0.9 on the "
                 f"manifold {f(m['mem']['stored']['reached_g'])}, {f(m['gen']['stored']['reached_g'])}, "
                 f"{f(m['pixel']['stored']['reached_g'])}")
    # (j) strips
    ax = axes[2, 1]
    strip = [a[f"steer/{kind}_strip"][:, 0] for kind in ("mem", "gen", "pixel")]
    levels = strip[0].shape[0]
    style.image_grid(ax, np.concatenate(strip) + a["mean"], side, levels, vmin=-1, vmax=1)
    title(ax, "one path per row (memorizing, generalizing, pixel); a_rel →")
  else:
    for ax in axes[2, :2]:
      ax.text(0.5, 0.5, f"steering not run:\n{summary.get('steering_note', '')}", ha="center",
              va="center", transform=ax.transAxes, fontsize=8, wrap=True)
      ax.set_axis_off()
    parts.append(f"(i–j) steering not run: {summary.get('steering_note', '')}")

  # (k) lenses against N with fitted transition N
  ax = axes[2, 2]
  for i, (lens, key) in enumerate(summary["transition"].items()):
    val = np.asarray(a[f"lens/{key}"], float)
    mean = np.nanmean(val, 0)
    lo, hi = np.nanmin(mean), np.nanmax(mean)
    scale = (lambda y: (y - lo) / (hi - lo)) if hi > lo else (lambda y: y * 0 + 0.5)
    fit = summary["fits"][lens]
    mark = f"N* = {_num(fit['center']):.0f}" if sum(fit["identified"]) else "N* n/a"
    ax.plot(sizes, scale(mean), "o-", color=f"C{i}", label=f"{LENS_NAMES[lens]} ({mark})")
    f = summary["fits"][lens]
    if sum(f["identified"]):
      ax.axvline(_num(f["center"]), color=f"C{i}", lw=0.8, ls=":")
  ax.set_xscale("log")
  ax.set_xlabel("training set size N")
  ax.set_ylabel("lens value, min–max scaled")
  ax.legend(frameon=True, framealpha=0.85, fontsize=8, loc="center right")
  title(ax, "lenses against N (dotted: fitted N*)")
  parts.append("(k) transition N: " + "; ".join(f"{LENS_NAMES[lens]} {_fit_text(f)}"
                                                 for lens, f in summary["fits"].items()))

  # (l) tr J against sigma per N
  ax = axes[2, 3]
  js = np.asarray(a["jacobian_sigmas"])
  tr = np.nanmean(a["lens/jac_trace"], 0)  # (sizes, sigmas)
  cols = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))
  for i, n in enumerate(sizes):
    ax.plot(js, tr[i], "o-", color=cols[i], label=f"N = {n}")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("σ")
  ax.set_ylabel("tr J (effective dimension)")
  ax.legend(frameon=False, fontsize=8)
  title(ax, "effective dimension against σ (mean over seeds)")
  parts.append(f"(l) tr J at σ = {js[0]:g}: {tr[0, 0]:.1f} (N = {sizes[0]}) vs {tr[-1, 0]:.1f} "
               f"(N = {sizes[-1]})")

  # (m, n) eigen-images; (o) spectra
  for ax, kind, n in ((axes[3, 0], "mem", sizes[0]), (axes[3, 1], "gen", sizes[-1])):
    ev = a[f"{kind}_eigvecs"]
    style.image_grid(ax, ev, side, len(ev))
    title(ax, f"top Jacobian eigenvectors, N = {n} (σ = {config['lens_sigma']:g})")
  ax = axes[3, 2]
  j0 = int(np.argmin(np.abs(js - config["lens_sigma"])))
  eig = np.nanmean(a["lens/jac_eigenvalues"], 0)  # (sizes, sigmas, d)
  for i, n in enumerate(sizes):
    ax.plot(np.arange(1, eig.shape[-1] + 1), eig[i, j0], color=cols[i], label=f"N = {n}")
  ax.set_xscale("log")
  ax.set_xlabel("eigenvalue index")
  ax.set_ylabel("eigenvalue of (J + Jᵀ)/2")
  ax.legend(frameon=False, fontsize=8)
  title(ax, f"Jacobian spectrum at σ = {js[j0]:g}")

  # (p) detection samples
  ax = axes[3, 3]
  smp = a["det/samples"]
  grp = a["det/samples_group"]
  shown_copies = int(np.sum(grp > 0))
  style.image_grid(ax, np.nan_to_num(smp) + a["mean"], side, 8, vmin=-1, vmax=1)
  title(ax, f"samples of detection model seed 0 ({shown_copies} of {len(grp)} copies by the copy label)")

  fig.tight_layout()
  cards = " ".join(style.card_text(c, n) for n, c in summary["data_cards"].items())
  caption = (f"Deep denoisers: bias-free U-Nets (base width {v['width']}, channel_mult "
             f"{list(v['channel_mult'])}, {summary['n_params']} parameters, {v['steps']} steps, "
             f"{config['dataset']} {side}×{side}), one recipe for every model. "
             + "; ".join(parts) + ". Intervals: 95%, over model seeds (detection: two-level "
             "bootstrap, seeds then samples; steering: seeds then paths; transition N: Student-t "
             "over the seeds whose fit is identified). " + cards)
  return style.save(fig, out_dir, "deep_denoiser"), caption


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
