"""One process of a multi-process sweep for tests/test_distributed.py:
``python tests/distributed_worker.py SPEC.json PROCESS_ID``.

SPEC.json: ``port``, ``processes``, ``x`` (a .npy data file), ``steps``, ``chunk_size``, ``out`` (a
folder), ``file_wait_s``, ``heartbeat_s``, and per process (lists indexed by PROCESS_ID) ``workdir``
(a path or null), ``grid`` (Grid keyword arguments), ``declared`` (the num_processes it is
launched with), ``pause_s`` (seconds to sleep after logging each chunk it trained: a test hook
that holds a process between two chunks so that a kill lands there) and ``fail`` (raise an error
after logging the first chunk it trained: a test hook for a process that stops with an error). Joins the others through ``sweep.distributed.initialize`` on 127.0.0.1 (the
coordinator bound to the loopback address only), runs the sweep and saves this process's full
result to ``out/process_<i>.npz``.
"""

import json
import os
import sys
import time

T0 = time.time()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dae_theory.sweep import distributed  # noqa: E402  (imports jax, runs nothing)

if __name__ == "__main__":
  spec = json.load(open(sys.argv[1]))
  i = int(sys.argv[2])
  address = f"127.0.0.1:{spec['port']}"
  def say(s):
    print(f"{time.time() - T0:6.2f} s  {s}", flush=True)
    if s.startswith("sweep: chunk "):
      time.sleep(spec["pause_s"][i])
      if spec["fail"][i]:
        raise OSError(28, "No space left on device (injected by the test)")

  say("started")
  # Loopback only: the gloo collectives would listen on the address the host name resolves to (on
  # this machine 127.0.0.1, elsewhere maybe a network interface); bind them to 127.0.0.1 as well.
  from jax._src.lib import xla_client
  make_gloo = xla_client._xla.make_gloo_tcp_collectives
  xla_client._xla.make_gloo_tcp_collectives = (
      lambda distributed_client, hostname=None, interface=None:
      make_gloo(distributed_client=distributed_client, hostname="127.0.0.1"))
  distributed.initialize(address, spec["declared"][i], i, coordinator_bind_address=address,
                         initialization_timeout_s=60, heartbeat_timeout_s=spec["heartbeat_s"])
  import jax  # noqa: E402
  import numpy as np  # noqa: E402

  from dae_theory import sweep  # noqa: E402

  say("joined")
  x = np.load(spec["x"])
  grid = sweep.Grid(**{k: tuple(v) for k, v in spec["grid"][i].items()})
  res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=spec["steps"], batch_size=8,
                        chunk_size=spec["chunk_size"], log_every=10, workdir=spec["workdir"][i],
                        log=say, file_wait_s=spec["file_wait_s"])
  np.savez(os.path.join(spec["out"], f"process_{i}.npz"), status=res.status, losses=res.losses,
           process=jax.process_index(), processes=jax.process_count(),
           local_devices=jax.local_device_count(),
           **{f"param_{k}": np.asarray(v) for k, v in res.params._asdict().items() if v is not None})
