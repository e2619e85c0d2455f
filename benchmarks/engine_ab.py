r"""Today's sweep engine against an earlier commit's, on the same workload, interleaved, each in its own
process with its own copy of the whole library (a ``git worktree`` of that commit), so that nothing
of today's code runs in the earlier contender.

  python -m benchmarks.engine_ab --previous cee459e            # default workload, 3 rounds
  python -m benchmarks.engine_ab --previous HEAD --smoke       # seconds

Each round runs the earlier tree, then this tree (alternating which goes first), each in a fresh
process that builds the workload of ``benchmarks.sweep`` (64 models × 1000 steps by default, one
chunk, one JAX CPU device per core), calls ``run_sweep`` twice and reports the second (compiled)
call's wall time. It prints every time and the ratio of the medians (earlier / today: > 1 means today
is faster); ``--json`` writes them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from absl import app, flags

from dae_theory import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs inside each contender's tree; works with the engine's API before and after the split (data
# first and an integer key before, the PRNG key first after).
_CHILD = r"""
import inspect, json, sys, time
import jax, numpy as np
from dae_theory import data, sweep
sweep.split_cpu()
steps, batch, d, seeds = (int(v) for v in sys.argv[1:5])
widths = [int(v) for v in sys.argv[5].split(",")]
sizes = [int(v) for v in sys.argv[6].split(",")]
grid = sweep.Grid(seeds=tuple(range(seeds)), widths=tuple(widths), sample_sizes=tuple(sizes),
                  sigmas=(0.2,), lams=(1e-4,), learning_rates=(1e-3,))
configs = grid.configs()
n_max = max(sizes)
ds, _ = data.gaussian_mixture(jax.random.key(0), 8, -(-n_max // 8), d, 4, 3.0, 0.5)
x = np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(ds.x.shape[0])][:n_max]
first = list(inspect.signature(sweep.run_sweep).parameters)[0]
kw = dict(steps=steps, batch_size=batch, chunk_size=len(configs), log_every=10, log=None)
call = ((lambda: sweep.run_sweep(jax.random.key(0), x, configs, **kw)) if first == "key" else
        (lambda: sweep.run_sweep(x, configs, **kw)))
times = []
for _ in range(2):
  t = time.perf_counter()
  res = call()
  np.asarray(res.w1).sum()
  times.append(time.perf_counter() - t)
print(json.dumps({"first_call_s": times[0], "compiled_s": times[1]}))
"""


def _worktree(commit: str) -> str:
  path = tempfile.mkdtemp(prefix="engine_ab_")
  out = subprocess.run(["git", "worktree", "add", "--detach", path, commit], cwd=ROOT,
                       capture_output=True, text=True)
  if out.returncode != 0:
    raise ValueError(f"--previous {commit}: cannot check it out ({out.stderr.strip()}).")
  return path


def _time(tree: str, args: list[str]) -> dict:
  env = dict(os.environ, PYTHONPATH=tree, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _CHILD, *args], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=1800)
  if out.returncode != 0:
    raise RuntimeError(f"the contender in {tree} failed:\n{out.stderr[-2000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def run(previous: str, rounds: int, args: list[str]) -> dict:
  tree = _worktree(previous)
  try:
    times = {"previous": [], "today": []}
    for r in range(rounds):
      order = [("previous", tree), ("today", ROOT)]
      for name, where in (order if r % 2 == 0 else order[::-1]):
        times[name].append(_time(where, args))
  finally:
    subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
  med = {k: statistics.median(t["compiled_s"] for t in v) for k, v in times.items()}
  first = {k: statistics.median(t["first_call_s"] for t in v) for k, v in times.items()}
  return {"previous": previous, "rounds": rounds, "workload": args, "times": times,
          "median_compiled_s": med, "median_first_call_s": first,
          "speedup_compiled": med["previous"] / med["today"],
          "speedup_first_call": first["previous"] / first["today"]}


def main(argv) -> None:
  F = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if F.rounds < 1:
    raise app.UsageError(f"--rounds must be >= 1, got {F.rounds}")
  args = ["20", "16", "16", "1", "4,8", "16,32"] if F.smoke else [
      "1000", "256", "64", "4", "16,32,64,128", "64,256,1024,4096"]
  try:
    r = run(F.previous, F.rounds, args)
  except ValueError as err:
    raise app.UsageError(str(err)) from None
  for name in ("previous", "today"):
    print(f"{name:>8}: compiled " + ", ".join(f"{t['compiled_s']:.2f}" for t in r["times"][name])
          + " s; first call " + ", ".join(f"{t['first_call_s']:.2f}" for t in r["times"][name]) + " s")
  print(f"today / {F.previous}: {r['speedup_compiled']:.2f}x faster compiled (median of {F.rounds}), "
        f"{r['speedup_first_call']:.2f}x on the first call")
  if F.json:
    io.write_json(F.json, r)


if __name__ == "__main__":
  flags.DEFINE_string("previous", "cee459e", "the earlier commit")
  flags.DEFINE_integer("rounds", 3, "interleaved rounds")
  flags.DEFINE_bool("smoke", False, "tiny workload (seconds)")
  flags.DEFINE_string("json", None, "also write the numbers to this JSON file")
  app.run(main)
