"""Determinism on one machine: the same seed gives the same bits, run after run and process after
process (the README's "Determinism" paragraph says what may differ across CPUs and why)."""

import hashlib
import os
import subprocess
import sys

import jax
import numpy as np

from dae_theory import data, sweep, train

_SCRIPT = r"""
import hashlib, jax, numpy as np
from dae_theory import data, sweep, train
ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
res = train.train_dae(jax.random.key(1), ds.x, 4, 0.2, 1e-4, 200, 1e-2)
grid = sweep.Grid(seeds=(0, 1), widths=(4, 8), sample_sizes=(30, 60))
out = sweep.run_sweep(jax.random.key(0), ds.x, grid.configs(), steps=100, batch_size=16, log=None)
h = hashlib.sha256()
for a in (res.params.w1, res.losses, out.w1, out.losses, out.status):
  h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
print(h.hexdigest())
"""


def _digest_in_fresh_process() -> str:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.strip().splitlines()[-1]


def _digest_in_this_process() -> str:
  """The same script run in the pytest process (one that has run other tests before)."""
  import contextlib
  import io

  buf = io.StringIO()
  with contextlib.redirect_stdout(buf):
    exec(compile(_SCRIPT, "<determinism script>", "exec"), {"__name__": "determinism_script"})
  return buf.getvalue().strip().splitlines()[-1]


def test_same_seed_same_bits_in_one_process_and_other_seeds_differ():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  a = train.train_dae(jax.random.key(1), ds.x, 4, 0.2, 1e-4, 200, 1e-2)
  b = train.train_dae(jax.random.key(1), ds.x, 4, 0.2, 1e-4, 200, 1e-2)
  c = train.train_dae(jax.random.key(2), ds.x, 4, 0.2, 1e-4, 200, 1e-2)
  np.testing.assert_array_equal(np.asarray(a.params.w1), np.asarray(b.params.w1))
  np.testing.assert_array_equal(np.asarray(a.losses), np.asarray(b.losses))
  assert not np.array_equal(np.asarray(a.params.w1), np.asarray(c.params.w1))


def test_same_seed_same_bits_across_processes():
  """A fresh process and this long-lived test process (which ran other tests first, and, in this
  file, the single-config runs above) produce byte-identical weights, losses and statuses for a
  single-config run and for a sweep (the property behind "kill, restart, same results"). One fresh
  process, not two: a second costs a JAX start and compilations and checks the same property;
  reading one side in this process also checks that earlier work in a process leaves the bits alone.
  The digest is a SHA-256, so a one-bit difference anywhere fails."""
  fresh, here = _digest_in_fresh_process(), _digest_in_this_process()
  assert len(fresh) == 64 and fresh == here
