"""Smoke tests of every sim: the library function end to end, and the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sims import theory_demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_theory_demo_smoke_writes_a_full_run_record(tmp_path):
  rows = theory_demo.run(theory_demo.Config.smoke(), str(tmp_path))
  for name in ("config.json", "meta.json", "results.npz", "summary.json"):
    assert (tmp_path / name).exists(), name
  meta = json.loads((tmp_path / "meta.json").read_text())
  res = np.load(tmp_path / "results.npz")
  assert set(meta["axes"]) == set(res.files)
  for key, axes in meta["axes"].items():
    assert res[key].ndim == len(axes), key
  assert json.loads((tmp_path / "config.json").read_text())["steps"] == 300
  mem, gen = rows
  assert mem["model"] == "memorizing" and gen["model"] == "generalizing"
  assert np.isfinite(mem["gram_distance"]) and np.isfinite(gen["gram_distance"])
  table = theory_demo.format_table(rows)
  assert table.count("\n") == 3 and "n/a" in table


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "sims.theory_demo", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def test_theory_demo_cli_smoke(tmp_path):
  out = _cli("--smoke", "--workdir", str(tmp_path))
  assert out.returncode == 0, out.stderr
  assert "| memorizing |" in out.stdout and "| generalizing |" in out.stdout


@pytest.mark.parametrize("flag,message", [
    ("--mem_width=2", "--mem_width=2 must be >= --mem_n=4"),
    ("--gen_sigma=0", "--gen_sigma must be > 0"),
    ("--steps=0", "--steps must be >= 1"),
])
def test_theory_demo_bad_flags_stop_before_compute(tmp_path, flag, message):
  out = _cli("--smoke", flag, "--workdir", str(tmp_path / "w"))
  assert out.returncode != 0
  assert message in out.stderr
  assert not (tmp_path / "w").exists()  # nothing was computed or written
