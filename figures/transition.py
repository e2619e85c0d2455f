r"""Dashboard: the representation view and the three lenses (Gaussian, agreement, Jacobian) against the
training set size N, on digits and on a Gaussian mixture, with the transition point of each lens; a
bottom row per data set with the disjoint-subset cosine histograms and train/test PSNR. Reads
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

  style.apply()
  config, a, summary = loaded["transition"]
  transition = summary["transition"]  # {lens: metric key}: sims.transition.TRANSITION
  sizes = a["sizes"]
  datasets = config["datasets"]
  fig, axes = plt.subplots(2 * len(datasets), 6, figsize=(19, 6.2 * len(datasets)), squeeze=False)
  parts = []
  for r, name in enumerate(datasets):
    for c, (lens, series) in enumerate(PANELS):
      ax = axes[2 * r, c]
      for j, (k, label) in enumerate(series):
        ax.plot(sizes, a[f"{name}/{k}"], "o-" if j == 0 else "s--", ms=3, label=label)
      key = lens if lens in transition else None
      if key is not None:
        n_star = float(a[f"{name}/transition/{key}"])
        if np.isfinite(n_star):
          ax.axvline(n_star, color="0.4", ls=":", lw=1, label=f"transition N ≈ {n_star:.0f}")
      ax.set_xscale("log", base=2)
      ax.set_xlabel("training set size N")
      ax.set_title(f"{name}: {lens}")
      ax.legend(frameon=False, fontsize=7, loc="best")
    pc = a[f"{name}/pair_cosine"]  # (sizes, samples)
    ax = axes[2 * r + 1, 0]
    bins = np.linspace(min(-0.2, pc.min()), 1, 30)
    for i in range(len(sizes)):
      ax.hist(pc[i], bins=bins, histtype="step", lw=1.2, label=f"N={sizes[i]}")
    ax.set_xlabel("cosine of A's to B's sample (shared noise)")
    ax.set_title(f"{name}: disjoint-subset agreement")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[2 * r + 1, 1]
    nn = a[f"{name}/nn_cosine"]
    for i in range(len(sizes)):
      ax.hist(nn[i], bins=np.linspace(min(0.0, nn.min()), 1, 30), histtype="step", lw=1.2,
              label=f"N={sizes[i]}")
    ax.set_xlabel("A's sample vs nearest training image")
    ax.set_title(f"{name}: nearest-training cosine")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[2 * r + 1, 2]
    for i in range(len(sizes)):
      ln, = ax.plot(a[f"{name}/psnr_in"][i], a[f"{name}/psnr_train"][i], "o-", ms=3, lw=1,
                    label=f"N={sizes[i]}")
      ax.plot(a[f"{name}/psnr_in"][i], a[f"{name}/psnr_test"][i], "s--", ms=3, lw=1,
              color=ln.get_color())
    ax.set_xlabel("input PSNR (dB)")
    ax.set_ylabel("output PSNR (dB)")
    ax.set_title(f"{name}: denoising PSNR (solid train, dashed test)")
    ax.legend(frameon=False, fontsize=6)
    ax = axes[2 * r + 1, 3]
    ax.plot(sizes, a[f"{name}/jac_trace"], "o-", ms=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training set size N")
    ax.set_title(f"{name}: Jacobian trace (effective dimension)")
    ax = axes[2 * r + 1, 4]
    ax.plot(sizes, a[f"{name}/pr_mean"], "o-", ms=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training set size N")
    ax.set_title(f"{name}: participation ratio of h")
    for row, axis, label in ((2 * r, "width", "width p"), (2 * r + 1, "steps", "Adam steps")):
      ax = axes[row, 5]
      ax.plot(a[f"sweep_{axis}s" if axis == "width" else "sweep_steps"], a[f"{name}/sweep_{axis}_rmse"],
              "o-", ms=3, label="RMSE(trained, Wiener)")
      ax.set_xscale("log", base=2)
      ax.set_xlabel(label)
      ax.set_title(f"{name}: Gaussian lens across {label} (N = {config['sweep_n']})")
      ax.legend(frameon=False, fontsize=7)
    parts.append(f"{name}: transition N ≈ " + ", ".join(
        f"{lens} {_fmt(float(a[f'{name}/transition/{lens}']))}" for lens in transition))
  fig.tight_layout()
  return style.save(fig, out_dir, "transition"), "Transition: " + "; ".join(parts) + "."


if __name__ == "__main__":
  style.cli(draw, RUNS, __doc__)
