"""Test configuration: CPU only, strict rank promotion; float64 on request via the ``x64`` fixture."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# the sims started by tests in subprocesses run without the persistent compilation cache (sims/_flags.py)
os.environ["DAE_THEORY_COMPILATION_CACHE"] = "0"

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
  """Run the test body with float64 enabled (bound and identity checks)."""
  with jax.enable_x64(True):
    yield


def assert_within_rounding(actual, exact, scale, terms: int, dtype=None):
  """``|actual - exact| <= terms * u * scale`` entrywise: the worst-case rounding bound of a float
  computation made of sums of ``terms`` products (Higham, Accuracy and Stability of Numerical
  Algorithms, Eq. 3.5: |fl(xᵀy) − xᵀy| <= γ_n |x|ᵀ|y|, γ_n ≈ n u), where ``u`` is the unit roundoff
  of ``dtype`` (default: that of ``actual``), ``exact`` is computed in float64 from the same inputs and
  ``scale`` is the same computation on absolute values. A tolerance derived from the computation, not
  from one machine's output: it holds for any summation order, BLAS kernel or vector width."""
  import numpy as np

  actual = np.asarray(actual)
  u = np.finfo(dtype or actual.dtype).eps / 2
  err = np.abs(actual.astype(np.float64) - np.asarray(exact, np.float64))
  tol = terms * u * np.asarray(scale, np.float64) + np.finfo(np.float64).tiny
  worst = np.max(err / tol)
  assert worst <= 1.0, f"error exceeds the rounding bound by a factor {worst:.3g}"


def kill_and_resume(tmp_path, module: str, args: list[str], chunk_dir: str, max_chunks: int):
  """Run ``python -m module *args`` in a subprocess, SIGKILL it as soon as a first chunk file is in
  ``workdir/chunk_dir``, rerun the same command to resume, and run it once uninterrupted. Asserts the
  kill landed mid-run (1 ≤ chunks on disk < ``max_chunks``, no ``meta.json``) and both reruns succeeded.

  Returns:
    ``(killed results.npz, fresh results.npz, chunks on disk at the kill, killed workdir)``.
  """
  import pathlib
  import signal
  import subprocess
  import sys
  import time

  import numpy as np

  root = pathlib.Path(__file__).resolve().parents[1]
  cmd = lambda wd: [sys.executable, "-m", module, *args, "--workdir", str(wd)]
  killed = tmp_path / "killed"
  proc = subprocess.Popen(cmd(killed), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  chunks = killed / chunk_dir
  deadline = time.time() + 240
  while time.time() < deadline and not (chunks.exists() and any(chunks.glob("chunk_*.npz"))):
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  n_before = len(list(chunks.glob("chunk_*.npz")))
  assert 1 <= n_before < max_chunks, "the kill must land mid-run"
  assert not (killed / "meta.json").exists()
  resumed = subprocess.run(cmd(killed), cwd=root, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  fresh = subprocess.run(cmd(tmp_path / "fresh"), cwd=root, capture_output=True, text=True,
                         timeout=300)
  assert fresh.returncode == 0, fresh.stderr
  return np.load(killed / "results.npz"), np.load(tmp_path / "fresh" / "results.npz"), n_before, killed
