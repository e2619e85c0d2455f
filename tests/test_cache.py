"""dae_theory.sweep.cache: JAX's persistent compilation cache, written by one process and read by the
next (counted by JAX's own monitoring events and the files on disk, never by timing), unusable
directories refused with a warning, bad settings refused."""

import json
import os
import pathlib
import subprocess
import sys
import warnings

import jax
import pytest

from dae_theory.sweep import cache

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A small sweep of the engine (one chunk of two width groups), with JAX's compilation-cache events
# counted; prints the counts, the entries on disk and a checksum of the trained weights.
_WORKER = r"""
import collections, json, sys
import jax, numpy as np
from dae_theory import sweep
from dae_theory.sweep import cache
events = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]))
used = cache.enable(sys.argv[1])
x = np.asarray(jax.random.normal(jax.random.key(0), (32, 8)), np.float32)
configs = sweep.Grid(seeds=(0, 1), widths=(2, 4), sample_sizes=(16, 32)).configs()
res = sweep.run_sweep(jax.random.key(0), x, configs, steps=20, batch_size=8, log=None)
get = lambda k: events["/jax/compilation_cache/" + k]
print(json.dumps({"used": used, "requests": get("compile_requests_use_cache"),
                  "hits": get("cache_hits"), "misses": get("cache_misses"),
                  "entries": cache.status().entries, "w1": np.asarray(res.w1).tobytes().hex()}))
"""


def _run_worker(path) -> dict:
  out = subprocess.run([sys.executable, "-c", _WORKER, str(path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=180, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_reads_what_the_first_wrote(tmp_path):
  """The first process compiles every program and writes an entry per program (all misses); a second
  process with the same program finds every one of them (all hits, no miss, nothing new written) and
  trains bitwise the same weights."""
  path = tmp_path / "jax_cache"
  first = _run_worker(path)
  assert first["used"] == str(path)
  assert first["requests"] > 0 and first["hits"] == 0 and first["misses"] == first["requests"]
  assert first["entries"] == first["misses"] == cache.entries(str(path))
  second = _run_worker(path)
  assert second["requests"] == first["requests"]
  assert second["hits"] == second["requests"] and second["misses"] == 0
  assert second["entries"] == first["entries"]
  assert second["w1"] == first["w1"]  # an entry is the executable XLA builds: same results


def _enabled_here(path, **kw):
  """``cache.enable`` in this (pytest) process, turned off again before returning its result and
  warnings, so that no later test of this worker writes into the cache."""
  try:
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      used = cache.enable(path, **kw)
      state = cache.status()
  finally:
    cache.disable()
  return used, state, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_enable_and_disable_in_a_writable_directory(tmp_path):
  used, state, warned = _enabled_here(tmp_path / "a" / "b")
  assert used == str(tmp_path / "a" / "b") and os.path.isdir(used) and not warned
  assert state.path == used and state.entries == 0  # nothing compiled there yet
  assert cache.status() == cache.Status(None, 0)
  assert jax.config.jax_compilation_cache_dir is None


@pytest.mark.parametrize("kind", ["under_a_file", "is_a_file"])
def test_an_unusable_directory_warns_and_leaves_the_cache_off(tmp_path, kind):
  """A directory that cannot be created or is a file: a RuntimeWarning naming it and the reason, the
  cache off, nothing raised (a sweep then compiles as without a cache)."""
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  path = blocker / "sub" if kind == "under_a_file" else blocker
  used, state, warned = _enabled_here(path)
  assert used is None and state == cache.Status(None, 0)
  assert len(warned) == 1 and str(path) in warned[0] and "stays off" in warned[0]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_a_read_only_directory_warns(tmp_path):
  path = tmp_path / "ro"
  path.mkdir()
  path.chmod(0o500)
  try:
    used, _, warned = _enabled_here(path)
  finally:
    path.chmod(0o700)
  assert used is None and len(warned) == 1 and "cannot write" in warned[0]


@pytest.mark.parametrize("kw,match", [({"min_compile_time_s": -1.0}, "min_compile_time_s"),
                                      ({"min_compile_time_s": float("nan")}, "min_compile_time_s"),
                                      ({"min_entry_size_bytes": -2}, "min_entry_size_bytes")])
def test_bad_settings_are_refused(tmp_path, kw, match):
  with pytest.raises(ValueError, match=match):
    cache.enable(tmp_path, **kw)
  assert cache.status() == cache.Status(None, 0)


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert cache.default_dir() == str(tmp_path / "dae_theory" / "jax")
  monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the rule says
  assert cache.default_dir() == os.path.join(os.path.expanduser("~"), ".cache", "dae_theory", "jax")
  monkeypatch.delenv("XDG_CACHE_HOME")
  assert cache.default_dir().endswith(os.path.join(".cache", "dae_theory", "jax"))


def test_entries_counts_cache_files_only(tmp_path):
  assert cache.entries(str(tmp_path / "missing")) == 0
  for name in ("jit_f-abc-cache", "jit_f-abc-atime", ".probe-x"):
    (tmp_path / name).write_bytes(b"")
  (tmp_path / "sub").mkdir()
  assert cache.entries(str(tmp_path)) == 1
