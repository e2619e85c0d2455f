"""Run a small sweep and save it (used by the sharding test in a fresh process, since the host device
count must be set before jax starts)."""

import sys

import jax
import numpy as np

from dae_theory import sweep

if __name__ == "__main__":
  out = sys.argv[1]
  x = np.load(sys.argv[2])
  grid = sweep.Grid(seeds=(0, 1), widths=(3, 6), sample_sizes=(8, 40), sigmas=(0.3,),
                    learning_rates=(1e-2,))
  res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=60, batch_size=8, chunk_size=8, log_every=10,
                        log=None)
  np.savez(out, w1=res.w1, losses=res.losses, status=res.status, devices=len(jax.devices()))
