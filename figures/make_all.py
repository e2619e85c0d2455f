r"""Regenerate every figure: run the sims they need (reusing a saved run when its config matches), then
draw each figure into ``--out`` and write ``captions.md`` there (figure → command → file, and the
caption with the numbers it shows).

  python -m figures.make_all                    # default size (about 9 min on 2 CPU cores)
  python -m figures.make_all --smoke --workdir /tmp/smoke --out /tmp/figs     # seconds; used in tests
  python -m figures.make_all --only fig2_samples,fig3_columns
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time

from dae_theory import io

# run name -> sim module (each has Config, Config.smoke() and run(cfg, workdir)); a run lives in
# <workdir>/<module name>, the figure scripts' default (runs/image_dae, …)
SIMS = {"image": "sims.image_dae", "mixture": "sims.mixture_dae", "checks": "sims.theory_checks",
        "phase": "sims.phase_diagram", "detection": "sims.detection", "steering": "sims.steering",
        "transition": "sims.transition"}
# figure name -> figure module (each has RUNS {run name: (sim, default workdir)} and draw(loaded, out))
FIGURES = {"fig2_samples": "figures.fig2_samples", "fig3_columns": "figures.fig3_columns",
           "fig4_std": "figures.fig4_std", "fig6_hybrid": "figures.fig6_hybrid",
           "theory_checks": "figures.theory_checks", "phase_diagram": "figures.phase_diagram",
           "detection": "figures.detection", "steering": "figures.steering",
           "transition": "figures.transition"}


def _saved_config(workdir: str):
  """The saved ``config.json`` of a run folder, or None."""
  conf = os.path.join(workdir, "config.json")
  if not os.path.exists(conf):
    return None
  with open(conf) as f:
    return json.load(f)


def _saved_config_matches(workdir: str, cfg) -> bool:
  """A finished run (``meta.json`` written) of this config is in ``workdir``."""
  return (os.path.exists(os.path.join(workdir, "meta.json"))
          and _saved_config(workdir) == io.to_jsonable(cfg))


def ensure_run(name: str, workdir: str, smoke: bool, force: bool = False, log=print) -> str:
  """Run sim ``name`` into ``workdir/<sim module name>`` unless a finished run with the same config is there."""
  sim = importlib.import_module(SIMS[name])
  cfg = sim.Config.smoke() if smoke else sim.Config()
  run_dir = os.path.join(workdir, SIMS[name].split(".")[-1])
  if not force and _saved_config_matches(run_dir, cfg):
    log(f"[{name}] reusing {run_dir} (same config)")
    return run_dir
  saved = _saved_config(run_dir)
  if os.path.isdir(run_dir) and (force or (saved is not None and saved != io.to_jsonable(cfg))):
    # A finished run of another config (or --force): keep it as <run>.previous instead of resuming
    # into it (the phase sweep would refuse a workdir holding another sweep) or overwriting it file
    # by file. An unfinished run (no config.json yet) stays, and the phase sweep resumes it.
    backup = run_dir.rstrip(os.sep) + ".previous"
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(run_dir, backup)
    log(f"[{name}] moved the earlier run to {backup}")
  t = time.time()
  log(f"[{name}] running {SIMS[name]} -> {run_dir}")
  if name == "phase":
    sim.run(cfg, run_dir, log=None)
  else:
    sim.run(cfg, run_dir)
  log(f"[{name}] done in {time.time() - t:.0f} s")
  return run_dir


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
    workdir = F.workdir or ("runs/smoke" if F.smoke else "runs")
    for n, (paths, caption) in make_all(workdir, F.out, F.smoke, F.only, F.force).items():
      print(f"{n}: {caption}")

  app.run(main)
