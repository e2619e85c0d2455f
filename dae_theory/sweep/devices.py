r"""Devices of the sweep engine: the mesh its config axis is sharded over, the CPU split into one
device per core, and the backend options of the compiled chunk program. The only module of the lab
that touches ``jax.config``.
"""

from __future__ import annotations

import os
from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
"""On CPU the chunk program is compiled at backend optimization level 1 instead of XLA's default 3:
on the 2-core CPU the default benchmark chunk (64 configs, 4 widths, 1000 steps) compiled in 2.2 s
instead of 4.1 s and ran as fast (best of 6 interleaved runs: 4.13 s against 4.35 s)."""


def config_sharding(devices: Sequence | None = None) -> tuple[list, NamedSharding]:
  """``(devices, sharding)``: the config axis split over ``devices`` (default: this process's,
  ``jax.local_devices()``; all visible ones in a single process).

  Under ``jax.distributed`` a chunk is trained by one process on its own devices (the chunks are
  divided among the processes, :mod:`dae_theory.sweep.distributed`), so every device must be local.

  Raises:
    ValueError: a device of another process.
  """
  devices = list(devices or jax.local_devices())
  foreign = [dv for dv in devices if dv.process_index != jax.process_index()]
  if foreign:
    raise ValueError(
        f"devices must be this process's own (jax.local_devices() of process "
        f"{jax.process_index()}), got {foreign} of processes "
        f"{sorted({dv.process_index for dv in foreign})}: with several processes each one trains "
        "its share of the chunks on its own devices.")
  mesh = Mesh(np.array(devices), ("configs",))
  return devices, NamedSharding(mesh, PartitionSpec("configs"))


def compiler_options(devices: Sequence) -> dict | None:
  """Backend options for the chunk program on these devices (CPU: :data:`CPU_COMPILER_OPTIONS`)."""
  return CPU_COMPILER_OPTIONS if devices[0].platform == "cpu" else None


def cpu_cores() -> int:
  """The number of CPU cores this process may run on (its affinity mask where the OS has one)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def split_cpu(n: int | None = None) -> int:
  """Present the host CPU as ``n`` JAX devices (default: one per core) so that :func:`run_sweep`
  shards its configs across cores.

  One CPU device runs a chunk's many small operations (256 × 64 × p products, Adam on small arrays)
  one after another, and only the larger products use more than one core; one device per core runs
  the halves of the config axis side by side. On the 2-core CPU the compiled default benchmark took
  3.6–3.8 s on two devices against 3.7–5.4 s on one (``python -m benchmarks.sweep``, 4 runs each).
  Results do not depend on the device count (the tests compare 4 devices with 1). Only the CPU
  backend is affected; the environment variable ``JAX_NUM_CPU_DEVICES`` does the same from a shell.

  Must be called before JAX runs anything (JAX raises ``RuntimeError`` otherwise), e.g. right after
  the imports of a script.

  Returns:
    the device count set.
  """
  n = cpu_cores() if n is None else int(n)
  if n < 1:
    raise ValueError(f"n must be >= 1 CPU devices, got {n}.")
  jax.config.update("jax_num_cpu_devices", n)
  return n
