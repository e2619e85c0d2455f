"""One style for every figure; deterministic PNG/PDF output (no timestamps), so reruns diff cleanly."""

from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RC = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 9, "axes.titlesize": 9,
    "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "image.cmap": "viridis", "axes.spines.top": False, "axes.spines.right": False,
}


def apply() -> None:
  plt.rcParams.update(RC)


def save(fig, out_dir: str, name: str) -> list[str]:
  """Write ``name.png`` and ``name.pdf`` without creation dates; return the paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = [os.path.join(out_dir, f"{name}.png"), os.path.join(out_dir, f"{name}.pdf")]
  fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
  fig.savefig(paths[1], metadata={"CreationDate": None, "Producer": None, "Creator": None},
              bbox_inches="tight")
  plt.close(fig)
  return paths


def load_run(workdir: str, producer: str) -> tuple[dict, dict]:
  """(config, arrays) of a finished run, or a clear error naming the command that produces it."""
  meta = os.path.join(workdir, "meta.json")
  if not os.path.exists(meta):
    raise FileNotFoundError(
        f"no finished run in {workdir!r} (meta.json missing). Produce it first with: "
        f"python -m {producer} --workdir {workdir}")
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  with np.load(os.path.join(workdir, "results.npz")) as z:
    arrays = {k: z[k] for k in z.files}
  return config, arrays
