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


def load_run(workdir: str, producer: str) -> tuple[dict, dict, dict]:
  """(config, arrays, summary) of a finished run, or a clear error naming the command that produces
  it. ``summary`` is the run's ``summary.json`` (``{"lines": [...], ...}``: the sim's summary lines
  and any table or constant a figure needs), checksummed in ``meta.json`` like the other files."""
  from dae_theory import io

  meta = os.path.join(workdir, "meta.json")
  if not os.path.exists(meta):
    raise FileNotFoundError(
        f"no finished run in {workdir!r} (meta.json missing). Produce it first with: "
        f"python -m {producer} --workdir {workdir}")
  config = io.finished_config(workdir)
  if config is None:
    raise FileNotFoundError(
        f"the run record in {workdir!r} is not complete: a file listed in its meta.json is missing "
        f"or changed since it was written (or it predates checksums). Rerun: python -m {producer} "
        f"--workdir {workdir}")
  if not has_summary(workdir):
    raise FileNotFoundError(
        f"the run record in {workdir!r} has no summary.json (it predates summary files). Rerun: "
        f"python -m {producer} --workdir {workdir}")
  with np.load(os.path.join(workdir, "results.npz")) as z:
    arrays = {k: z[k] for k in z.files}
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  return config, arrays, summary


def has_summary(workdir: str) -> bool:
  """Whether the run record in ``workdir`` lists a ``summary.json`` in its ``meta.json`` (whose
  checksum :func:`dae_theory.io.finished_config` checks)."""
  try:
    with open(os.path.join(workdir, "meta.json")) as f:
      files = json.load(f).get("files")
  except (OSError, ValueError, AttributeError):
    return False
  return isinstance(files, dict) and "summary.json" in files


def cli(draw, runs: dict, doc: str) -> None:
  """The command line shared by every figure script (absl, like the sims). ``runs`` maps a name to
  ``(producer sim, default workdir)``; each gets a ``--<name>_workdir`` flag, and ``--out`` names the
  output folder (default ``figures``). ``draw(loaded, out_dir)`` receives
  ``{name: (config, arrays, summary)}`` and returns ``(paths, caption)``; both are printed. A
  missing or incomplete run record, or an ``--out`` that cannot be written, is a usage error naming
  the flag; absl shows the script's docstring (``doc``) as its usage."""
  from absl import app, flags, logging

  for name, (producer, default) in runs.items():
    flags.DEFINE_string(f"{name}_workdir", default, f"run record of python -m {producer}")
  flags.DEFINE_string("out", "figures", "folder for the PNG and PDF")
  F = flags.FLAGS

  def main(argv):
    from dae_theory import io

    logging.set_verbosity(logging.WARNING)  # no INFO lines about absent TPU backends
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
      io.check_output_dir(F.out, "--out")
    except ValueError as err:
      raise app.UsageError(str(err)) from None
    loaded = {}
    for name, (producer, _) in runs.items():
      try:
        loaded[name] = load_run(F[f"{name}_workdir"].value, producer)
      except FileNotFoundError as err:
        raise app.UsageError(f"--{name}_workdir: {err}") from None
    paths, caption = draw(loaded, F.out)
    for p in paths:
      print(p)
    print(caption)

  app.run(main)


def image_grid(ax, imgs: np.ndarray, side: int, ncol: int, labels=None, pad: int = 1,
               vmin: float | None = None, vmax: float | None = None) -> None:
  """Tile ``imgs (k, side²)`` into a grid on ``ax`` (grey), with an optional text label in a gap under
  each tile.

  Every tile is drawn with its raw values on **one** grey scale, ``vmin`` (black) … ``vmax`` (white);
  values outside are clipped. By default the scale is symmetric, ±L with L the 99th percentile of
  |value| over the finite values of all shown tiles (0 is mid-grey; a few isolated spike pixels, as in
  some of Fig. 3's generalizing columns, saturate instead of washing out every other tile), which suits
  signed data such as centred images or encoder columns.
  Pass the data range (e.g. ``vmin=-1, vmax=1`` for images in [−1, 1] with the mean added back) to
  compare tiles with real images. (Earlier versions scaled each tile to its own min–max, which hid a
  tile's scale: a sample at half its image's norm looked like the image.)
  """
  imgs = np.asarray(imgs, float)
  imgs = np.where(np.isfinite(imgs), imgs, np.nan)  # a non-finite pixel is left blank
  k = imgs.shape[0]
  if vmin is None or vmax is None:
    finite = np.abs(imgs[np.isfinite(imgs)])
    lim = float(np.percentile(finite, 99)) if finite.size else 0.0
    lim = lim if lim > 0 else (float(finite.max()) if finite.size and finite.max() > 0 else 1.0)
    vmin = -lim if vmin is None else vmin
    vmax = lim if vmax is None else vmax
  if not vmax > vmin:
    raise ValueError(f"image_grid needs vmax > vmin, got vmin={vmin}, vmax={vmax}.")
  nrow = int(np.ceil(k / ncol))
  gap = max(2, side // 3) if labels is not None else 0
  row_h, col_w = side + pad + gap, side + pad
  canvas = np.full((nrow * row_h + pad, ncol * col_w + pad), np.nan)
  for i in range(k):
    r, c = divmod(i, ncol)
    canvas[pad + r * row_h:pad + r * row_h + side,
           pad + c * col_w:pad + c * col_w + side] = imgs[i].reshape(side, side)
  ax.imshow(canvas, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
  ax.set_xticks([]), ax.set_yticks([])
  for spine in ax.spines.values():
    spine.set_visible(False)
  for i, lab in enumerate(labels or []):
    r, c = divmod(i, ncol)
    ax.text(pad + c * col_w + side / 2, pad + r * row_h + side + gap / 2, lab, ha="center",
            va="center", fontsize=6)


def card_text(card: dict, name: str = "") -> str:
  """One caption line for a run's data card (:func:`dae_theory.data.data_card`, stored under
  ``summary["data_card"]`` or ``summary["data_cards"][name]``): the fields that are set, in a fixed
  order; α/β as measured (None, or NaN in an older record, where undefined for this data, e.g. one
  centred cluster; shown as n/a)."""
  def num(v):
    # dae_theory.io writes NaN as the string "nan" (JSON has none): undefined, like None
    if v is None or isinstance(v, str) or (isinstance(v, float) and not np.isfinite(v)):
      return "n/a"
    return f"{v:.3g}"

  parts = [f"d = {card['d']}", f"n = {card['n']}"]
  if card.get("p") is not None:
    parts += [f"p = {card['p']}", f"p/d = {num(card['p_over_d'])}"]
  parts += [f"clusters {card['clusters']}", f"α = {num(card['alpha'])}", f"β = {num(card['beta'])}",
            f"within-cluster cosines [{num(card['within_cos_min'])}, {num(card['within_cos_max'])}]"]
  if card.get("lam") is not None:
    parts.append(f"λ = {num(card['lam'])}")
  if card.get("optimizer"):
    parts.append(f"{card['optimizer']} lr {num(card['learning_rate'])}")
  if card.get("steps") is not None:
    parts.append(f"{card['steps']} steps")
  if card.get("seeds") is not None:
    parts.append(f"{card['seeds']} seeds")
  return (f"[{name}: " if name else "[") + ", ".join(parts) + "]"
