r"""A sweep over many processes and hosts, on JAX's own distributed runtime (docs/experiments.md §6.2).

Every process runs this same script with the same flags and the same ``--workdir`` (a folder on a
file system every host mounts). Each trains its share of the chunks on its own devices; all of them
return the full result and prints its sha256 (the same on every process, and for any process count);
process 0 writes ``workdir/results.npz``, ``workdir/summary.json`` (processes, wall time, the sha256)
and prints the final losses. A rerun (any number of processes) resumes from ``workdir/chunks``.

  # on one machine, two local CPU processes (this script starts them, on 127.0.0.1)
  python -m examples.distributed_sweep --local 2 --workdir /tmp/dist_sweep
  # on a SLURM cluster (JAX reads the coordinator, count and ids from SLURM): examples/slurm_sweep.sbatch
  srun python -m examples.distributed_sweep --workdir $SCRATCH/dist_sweep
  # on a Cloud TPU slice, one process per host: examples/tpu_slice_sweep.sh
  # anywhere else: every process names the coordinator (process 0's host:port), the count and its id
  python -m examples.distributed_sweep --coordinator 10.0.0.1:8476 --num_processes 4 --process_id 0 \
      --workdir /shared/dist_sweep
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import time


def _flags(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True, help="shared by all processes (chunks, results.npz)")
  p.add_argument("--local", type=int, default=0,
                 help="start this many processes on this machine (127.0.0.1) and wait for them")
  p.add_argument("--coordinator", default=None, help="host:port of process 0 (default: from the "
                 "cluster: SLURM, Open MPI, Cloud TPU)")
  p.add_argument("--num_processes", type=int, default=None)
  p.add_argument("--process_id", type=int, default=None)
  p.add_argument("--bind", default=None, help="where process 0's coordinator listens (host:port)")
  p.add_argument("--seeds", type=int, default=4)
  p.add_argument("--widths", default="2,4,8,16,32,64,128")
  p.add_argument("--sample_sizes", default="8,32,128,512")
  p.add_argument("--steps", type=int, default=2000)
  p.add_argument("--chunk_size", type=int, default=28,
                 help="configs per chunk; keep it at most configs / processes so all work")
  p.add_argument("--cpu_devices", type=int, default=0,
                 help="present the CPU as this many JAX devices per process (0: leave JAX's default)")
  return p.parse_args(argv)


def _local(flags, argv) -> int:
  """Start ``flags.local`` processes of this script on 127.0.0.1 and wait for them (1 h limit)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  rest, skip = [], False
  for a in argv:  # every flag but --local N / --local=N
    if skip or a.startswith("--local="):
      skip = False
      continue
    skip = a == "--local"
    if not skip:
      rest.append(a)
  procs = [subprocess.Popen([sys.executable, "-m", "examples.distributed_sweep", *rest,
                             f"--coordinator=127.0.0.1:{port}", f"--bind=127.0.0.1:{port}",
                             f"--num_processes={flags.local}", f"--process_id={i}"])
           for i in range(flags.local)]
  deadline, rc = time.time() + 3600, 0
  for p in procs:
    try:
      rc = rc or p.wait(timeout=max(deadline - time.time(), 1))
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      return 124
  return rc


def main(flags) -> None:
  from dae_theory.sweep import distributed, split_cpu

  if flags.cpu_devices:
    split_cpu(flags.cpu_devices)
  me = distributed.initialize(flags.coordinator, flags.num_processes, flags.process_id,
                              coordinator_bind_address=flags.bind)
  import jax
  import numpy as np

  from dae_theory import data, io, sweep

  say = lambda s: print(f"[process {me.index}/{me.count}] {s}", flush=True)
  say(f"{me.local_devices} local devices: {jax.local_devices()}")
  ds = data.gaussian_mixture(jax.random.key(0), 4, 256, 32, 4, 2.0, 1.0)[0]
  x = np.asarray(ds.x)[np.random.default_rng(0).permutation(len(ds.x))]
  grid = sweep.Grid(seeds=tuple(range(flags.seeds)),
                    widths=tuple(int(w) for w in flags.widths.split(",")),
                    sample_sizes=tuple(int(n) for n in flags.sample_sizes.split(",")),
                    sigmas=(0.2,), learning_rates=(3e-3,))
  started = time.time()
  res = sweep.run_sweep(jax.random.key(1), x, grid.configs(), steps=flags.steps, batch_size=64,
                        chunk_size=flags.chunk_size, workdir=flags.workdir, log=say)
  say(f"sweep done in {time.time() - started:.1f} s; every process holds all {len(res.configs)} "
      "configs")
  wall = time.time() - started
  digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                   for a in (res.w1, res.losses, res.status))).hexdigest()
  say(f"sha256 of (w1, losses, status): {digest}")
  if me.index == 0:
    io.write_npz(os.path.join(flags.workdir, "results.npz"),
                 {"w1": res.w1, "losses": res.losses, "status": res.status,
                  **{f"config_{k}": v for k, v in res.configs._asdict().items() if v is not None}})
    io.write_json(os.path.join(flags.workdir, "summary.json"), {
        "processes": me.count, "local_devices": me.local_devices, "configs": len(res.configs),
        "chunk_size": flags.chunk_size, "steps": flags.steps, "sweep_wall_s": round(wall, 2),
        "sha256_w1_losses_status": digest})
    final = res.losses[:, -1].reshape(grid.shape)  # (σ, λ, lr, n, width, seed)
    for j, n in enumerate(grid.sample_sizes):
      row = ", ".join(f"p={w}: {final[0, 0, 0, j, k].mean():.4f}" for k, w in enumerate(grid.widths))
      say(f"n={n}: final training loss (mean over {flags.seeds} seeds) {row}")


if __name__ == "__main__":
  args = _flags()
  if args.local:
    sys.exit(_local(args, sys.argv[1:]))
  main(args)
