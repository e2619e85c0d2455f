r"""Portability check (for developers; not part of CI): run the test suite under several OpenBLAS
kernels and report every test whose outcome differs between them.

jaxlib's CPU linear algebra (QR, eigh, SVD) and NumPy/SciPy go through the OpenBLAS that the installed
wheels bundle, and OpenBLAS picks its kernel by CPU. Inside a degenerate eigenspace the basis a kernel
returns is arbitrary, and float rounding differs per kernel, so a test that compares a basis, brackets a
value seen on one machine, or asserts one chaotic seed's outcome passes on one CPU and fails on another.
``OPENBLAS_CORETYPE`` forces a kernel; every x86-64 CPU runs Prescott, Sandybridge (AVX) and Haswell
(AVX2) kernels, and SkylakeX where the CPU has AVX-512. Each run's effective kernel is read back with
threadpoolctl and printed, so a kernel the CPU cannot run (OpenBLAS falls back) is visible.

  python -m benchmarks.portability                      # the whole suite under every kernel (~4 × make test)
  python -m benchmarks.portability --kernels Haswell,SkylakeX tests/test_bounds.py tests/test_train.py
  python -m benchmarks.portability --json runs/portability.json

Exit status 0 when every test has the same outcome (and passes) under every kernel, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

KERNELS = ("Prescott", "Sandybridge", "Haswell", "SkylakeX")
_PROBE = ("import numpy, scipy.linalg\nfrom threadpoolctl import threadpool_info\n"
          "print(sorted({i.get('architecture') for i in threadpool_info() "
          "if i.get('internal_api') == 'openblas'}))")


def cpu_has_avx512() -> bool:
  """Whether /proc/cpuinfo lists avx512f (False where it cannot be read)."""
  try:
    with open("/proc/cpuinfo") as f:
      return any("avx512f" in line.split() for line in f if line.startswith("flags"))
  except OSError:
    return False


def default_kernels() -> list[str]:
  """Prescott, Sandybridge and Haswell, plus SkylakeX where the CPU has AVX-512."""
  return [k for k in KERNELS if k != "SkylakeX" or cpu_has_avx512()]


def effective_kernel(env: dict) -> str:
  """The OpenBLAS kernel(s) a fresh Python process loads under ``env`` (via threadpoolctl)."""
  out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                       check=True)
  return out.stdout.strip()


def outcomes(junit_path: str) -> dict[str, str]:
  """``{test id: passed | failed | error | skipped}`` from a pytest JUnit XML file."""
  result = {}
  for case in ET.parse(junit_path).getroot().iter("testcase"):
    name = f"{case.get('classname')}::{case.get('name')}"
    kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    result[name] = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
        kinds[0] if kinds else "", "passed")
  return result


def durations(junit_path: str) -> dict[str, float]:
  """``{test id: seconds}`` from a pytest JUnit XML file."""
  return {f"{case.get('classname')}::{case.get('name')}": float(case.get("time") or 0.0)
          for case in ET.parse(junit_path).getroot().iter("testcase")}


def run_suite(kernel: str, paths: list[str], workers: int, tmp: str
              ) -> tuple[str, dict[str, str], dict[str, float]]:
  """Run pytest on ``paths`` with ``OPENBLAS_CORETYPE=kernel``; returns (effective kernel, outcomes,
  durations)."""
  env = dict(os.environ, OPENBLAS_CORETYPE=kernel)
  junit = os.path.join(tmp, f"junit-{kernel}.xml")
  cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
  if workers > 1:
    cmd += ["-n", str(workers), "--dist", "loadfile"]
  subprocess.run(cmd + paths, env=env)
  if not os.path.exists(junit):
    raise RuntimeError(f"pytest under OPENBLAS_CORETYPE={kernel} wrote no report ({junit}).")
  return effective_kernel(env), outcomes(junit), durations(junit)


def compare(per_kernel: dict[str, dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
  """Tests whose outcome differs between kernels, or that did not pass under some kernel."""
  names = sorted(set().union(*per_kernel.values()))
  rows = []
  for name in names:
    row = {k: res.get(name, "absent") for k, res in per_kernel.items()}
    if len(set(row.values())) > 1 or set(row.values()) - {"passed", "skipped"}:
      rows.append((name, row))
  return rows


if __name__ == "__main__":
  from absl import app, flags

  flags.DEFINE_list("kernels", None, f"OpenBLAS kernels (default: {', '.join(default_kernels())})")
  flags.DEFINE_integer("workers", 2, "pytest-xdist workers per run (1 = no xdist)")
  flags.DEFINE_string("json", None, "also write the per-kernel outcomes to this JSON file")
  F = flags.FLAGS

  def main(argv):
    paths = argv[1:] or ["tests"]
    kernels = F.kernels or default_kernels()
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
      raise app.UsageError(f"--kernels: unknown {unknown}; known: {list(KERNELS)}")
    if F.workers < 1:
      raise app.UsageError(f"--workers must be >= 1, got {F.workers}")
    per_kernel, effective, times = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
      for k in kernels:
        print(f"== OPENBLAS_CORETYPE={k}", flush=True)
        effective[k], per_kernel[k], times[k] = run_suite(k, paths, F.workers, tmp)
    print("\nkernel      effective   tests  passed  failed  error  skipped")
    for k in kernels:
      res = list(per_kernel[k].values())
      print(f"{k:<11} {effective[k]:<11} {len(res):>5}  {res.count('passed'):>6}  "
            f"{res.count('failed'):>6}  {res.count('error'):>5}  {res.count('skipped'):>7}")
    rows = compare(per_kernel)
    if rows:
      print(f"\n{len(rows)} test(s) differ across kernels or fail:")
      for name, row in rows:
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    else:
      print("\nno test differs across the kernels; all passed (or were skipped) under each.")
    if F.json:
      os.makedirs(os.path.dirname(os.path.abspath(F.json)), exist_ok=True)
      with open(F.json, "w") as f:
        json.dump({"paths": paths, "effective": effective, "outcomes": per_kernel,
                   "differ": [name for name, _ in rows], "durations_s": times}, f, indent=2)
    sys.exit(1 if rows else 0)

  app.run(main)
