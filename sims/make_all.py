r"""Regenerate every figure: run the sims they need (reusing a saved run when its config matches), then
draw each figure into ``--out`` and write ``captions.md`` there (figure → command → file, and the
caption with the numbers it shows). The orchestrator lives in ``sims/``: the figure scripts only read
run records (``config.json``, ``results.npz``, ``summary.json``) and never train.

  python -m sims.make_all                    # default size (about 15 min on 2 CPU cores)
  python -m sims.make_all --smoke --workdir /tmp/smoke --out /tmp/figs     # seconds; used in tests
  python -m sims.make_all --only fig2_samples,fig3_columns

A saved run is reused only when its record is complete (``meta.json`` written last, with checksums
of the other files: :func:`dae_theory.io.finished_config`), holds a ``summary.json`` and its config
matches. A run folder
holding another config (or any, with ``--force``) is moved aside to ``<run>.previous``, or
``<run>.previous-2``, ``-3``, … when that exists: earlier backups are never deleted.
"""

from __future__ import annotations

import importlib
import os
import time

from dae_theory import io

# run name -> sim module (each has Config, Config.smoke() and run(cfg, workdir, log=print), and writes
# summary.json into its run record); a run lives in <workdir>/<module name>, the figure scripts'
# default (runs/image_dae, …)
SIMS = {"image": "sims.image_dae", "mixture": "sims.mixture_dae", "checks": "sims.theory_checks",
        "phase": "sims.phase_diagram", "detection": "sims.detection", "steering": "sims.steering",
        "transition": "sims.transition", "map": "sims.mechanism_map", "deep": "sims.deep_denoiser"}
# figure name -> figure module (each has RUNS {run name: (sim, default workdir)} and draw(loaded, out))
FIGURES = {"fig2_samples": "figures.fig2_samples", "fig3_columns": "figures.fig3_columns",
           "fig4_std": "figures.fig4_std", "fig6_hybrid": "figures.fig6_hybrid",
           "theory_checks": "figures.theory_checks", "phase_diagram": "figures.phase_diagram",
           "detection": "figures.detection", "steering": "figures.steering",
           "transition": "figures.transition", "mechanism_map": "figures.mechanism_map",
           "deep_denoiser": "figures.deep_denoiser"}


def _saved_config_matches(workdir: str, cfg) -> bool:
  """A complete run record (:func:`dae_theory.io.finished_config`) of this config is in ``workdir``."""
  return io.finished_config(workdir) == io.to_jsonable(cfg)


def _run_dir(workdir: str, name: str) -> str:
  return os.path.join(workdir, SIMS[name].split(".")[-1])


def check_dirs(workdir: str, out: str, runs=()) -> None:
  """Refuse, before any compute, a ``--workdir`` or ``--out`` that is empty, a file or not writable,
  and a run folder ``<workdir>/<sim>`` that is a file.

  Raises:
    ValueError: naming the flag or folder and what to do.
  """
  io.check_output_dir(workdir, "--workdir")
  io.check_output_dir(out, "--out")
  for name in runs:
    run_dir = _run_dir(workdir, name)
    if os.path.lexists(run_dir) and not os.path.isdir(run_dir):
      raise ValueError(f"{run_dir} (where the {name} run goes under --workdir) is a file, not a "
                       "folder; move it away or give another --workdir.")


def ensure_run(name: str, workdir: str, smoke: bool, force: bool = False, log=print) -> str:
  """Run sim ``name`` into ``workdir/<sim module name>`` unless a finished run with the same config
  (and a ``summary.json``) is there. The sim's own progress lines are not logged
  (``run(cfg, workdir, log=None)``)."""
  from figures import style

  sim = importlib.import_module(SIMS[name])
  cfg = sim.Config.smoke() if smoke else sim.Config()
  run_dir = _run_dir(workdir, name)
  if not force and _saved_config_matches(run_dir, cfg):
    if style.has_summary(run_dir):
      log(f"[{name}] reusing {run_dir} (same config, complete record)")
      return run_dir
    log(f"[{name}] {run_dir} has the same config but no summary.json (an older record): rerunning")
  try:
    saved = io.saved_config(run_dir)
  except ValueError:  # an unreadable config.json: not this config
    saved = {}
  if os.path.isdir(run_dir) and (force or (saved is not None and saved != io.to_jsonable(cfg))):
    # A run of another config (or --force): keep it as <run>.previous[-k] instead of resuming into
    # it (the phase sweep would refuse a workdir holding another sweep) or overwriting it file by
    # file. A run of this config cut short stays and is rerun in place (the phase sweep resumes
    # from its chunks); so does an unfinished sweep (no config.json yet).
    backup = io.move_aside(run_dir)
    older = backup != run_dir.rstrip(os.sep) + ".previous"
    log(f"[{name}] moved the earlier run to {backup}"
        + (" (older backups beside it are kept)" if older else ""))
  t = time.time()
  log(f"[{name}] running {SIMS[name]} -> {run_dir}")
  sim.run(cfg, run_dir, log=None)
  log(f"[{name}] done in {time.time() - t:.0f} s")
  return run_dir


def needed_runs(only=None) -> list[str]:
  """The runs (keys of SIMS) that the figures in ``only`` (default: all) draw from."""
  names = list(FIGURES) if not only else list(only)
  return sorted({r for n in names for r in importlib.import_module(FIGURES[n]).RUNS})


def make_all(workdir: str, out: str, smoke: bool = False, only=None, force: bool = False,
             log=print) -> dict[str, tuple[list[str], str]]:
  """Regenerate the figures named in ``only`` (default: all). Returns ``{figure: (paths, caption)}``."""
  from figures import style

  names = list(FIGURES) if not only else list(only)
  unknown = [n for n in names if n not in FIGURES]
  if unknown:
    raise ValueError(f"unknown figures {unknown}; known: {list(FIGURES)}.")
  modules = {n: importlib.import_module(FIGURES[n]) for n in names}
  needed = sorted({r for m in modules.values() for r in m.RUNS})
  check_dirs(workdir, out, needed)
  dirs = {r: ensure_run(r, workdir, smoke, force, log) for r in needed}
  results = {}
  for n, m in modules.items():
    loaded = {r: style.load_run(dirs[r], SIMS[r]) for r in m.RUNS}
    results[n] = m.draw(loaded, out)
    log(f"[{n}] {results[n][0][0]}")
  # captions.md keeps the rows of figures not remade this time (--only), in FIGURES order.
  path = os.path.join(out, "captions.md")
  rows = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        name = line.split("|")[1].strip() if line.startswith("| ") else ""
        if name in FIGURES:
          rows[name] = line.rstrip("\n")
  for n, (paths, caption) in results.items():
    cmd = f"python -m {FIGURES[n]} " + " ".join(f"--{r}_workdir {dirs[r]}" for r in modules[n].RUNS)
    rows[n] = f"| {n} | `{cmd}` | `{os.path.basename(paths[0])}` | {caption} |"
  lines = ["| figure | command | file | caption |", "|---|---|---|---|"]
  lines += [rows[n] for n in FIGURES if n in rows]
  io.write_text(path, "\n".join(lines) + "\n")
  return results


if __name__ == "__main__":
  from absl import app, flags

  flags.DEFINE_string("workdir", None, "folder of the sims' runs (default runs/, or runs/smoke)")
  flags.DEFINE_string("out", "figures", "folder for the figures and captions.md")
  flags.DEFINE_bool("smoke", False, "tiny sims (seconds): an end-to-end check, not the figures")
  flags.DEFINE_list("only", [], f"figures to make (default all): {list(FIGURES)}")
  flags.DEFINE_bool("force", False, "rerun the sims even when a saved run has the same config")
  F = flags.FLAGS

  def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # no INFO lines about absent TPU backends
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    unknown = [n for n in F.only if n not in FIGURES]
    if unknown:
      raise app.UsageError(f"--only: unknown figures {unknown}; known: {list(FIGURES)}")
    workdir = F.workdir if F.workdir is not None else ("runs/smoke" if F.smoke else "runs")
    try:
      check_dirs(workdir, F.out, needed_runs(F.only))
    except ValueError as err:
      raise app.UsageError(str(err)) from None
    for n, (paths, caption) in make_all(workdir, F.out, F.smoke, F.only, F.force).items():
      print(f"{n}: {caption}")

  app.run(main)
