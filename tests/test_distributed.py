"""Many processes: the sweep under jax.distributed, tested with two local CPU processes joined on the
loopback address (tests/distributed_worker.py). Each process trains its share of the chunks; every
process returns the full result, bit for bit the one-process result; a restart with another process
count resumes from the same chunks; a process killed mid-run loses no finished chunk; mismatched
launches are refused on every process before anything is trained.

Every subprocess has a hard timeout (a hang fails the test, never blocks CI), and the coordinator
listens on 127.0.0.1 only."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from dae_theory import data, sweep
from dae_theory.sweep import distributed, store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "distributed_worker.py")
# 2 seeds × widths 3, 5 × n 8, 40: chunks of 2 configs of one width each, 4 chunks, 2 programs
GRID = dict(seeds=[0, 1], widths=[3, 5], sample_sizes=[8, 40], sigmas=[0.3],
            learning_rates=[1e-2])
STEPS, CHUNK = 40, 2
LIMIT_S = 120  # hard wall-clock limit of one launch (both processes); a hang fails the test


def _data():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 40, 8, 1, 3.0, 0.4)[0]
  return np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(120)]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env():
  """One CPU device per process, whatever the caller's environment says."""
  env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
  env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
  return env


def _start(tmp_path, name, workdirs, grids=None, declared=(2, 2), pause_s=(0, 0), fail=(False, False),
           heartbeat_s=30, file_wait_s=5.0):
  """Start the two processes of one launch; returns (Popen list, output folder)."""
  out = tmp_path / name
  out.mkdir()
  np.save(tmp_path / "x.npy", _data())
  spec = dict(port=_free_port(), x=str(tmp_path / "x.npy"), steps=STEPS, chunk_size=CHUNK,
              out=str(out), file_wait_s=file_wait_s, heartbeat_s=heartbeat_s,
              workdir=[None if w is None else str(w) for w in workdirs],
              grid=list(grids or (GRID, GRID)), declared=list(declared), pause_s=list(pause_s),
              fail=list(fail))
  (out / "spec.json").write_text(json.dumps(spec))
  procs = [subprocess.Popen([sys.executable, WORKER, str(out / "spec.json"), str(i)], cwd=ROOT,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  return procs, out


def _wait(procs, limit_s=LIMIT_S):
  """(returncode, stdout, stderr) of each process; kills both and fails after ``limit_s``."""
  deadline, res = time.time() + limit_s, []
  for p in procs:
    try:
      o, e = p.communicate(timeout=max(deadline - time.time(), 1))
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail(f"a process of the launch hung for more than {limit_s} s")
    res.append((p.returncode, o, e))
  return res


def _launch(tmp_path, name, workdirs, **kw):
  procs, out = _start(tmp_path, name, workdirs, **kw)
  return _wait(procs), out


def _reference(workdir=None):
  """The same sweep in this one process, on one device."""
  return sweep.run_sweep(jax.random.key(0), _data(), sweep.Grid(**GRID).configs(), steps=STEPS,
                         batch_size=8, chunk_size=CHUNK, log_every=10, workdir=workdir, log=None,
                         devices=jax.devices()[:1])


def _assert_bitwise(npz, res):
  fields = {k: v for k, v in res.params._asdict().items() if v is not None}
  assert sorted(f"param_{k}" for k in fields) == sorted(k for k in npz if k.startswith("param_"))
  for k, v in fields.items():
    np.testing.assert_array_equal(npz[f"param_{k}"], np.asarray(v), err_msg=k)
  np.testing.assert_array_equal(npz["losses"], res.losses)
  np.testing.assert_array_equal(npz["status"], res.status)


def _assert_same(a, b):
  for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_array_equal(u, v)
  np.testing.assert_array_equal(a.losses, b.losses)
  np.testing.assert_array_equal(a.status, b.status)


def _trained(workdir) -> dict[int, list[int]]:
  """Per process, the chunks it trained in its last run (from its progress file)."""
  out = {}
  for f in sorted(os.listdir(workdir)):
    if f.startswith("metrics") and f.endswith(".jsonl"):
      lines = [json.loads(l) for l in open(os.path.join(workdir, f)).read().splitlines()]
      run = [l for l in lines if l.get("run") == lines[-1].get("run")]
      out[int(run[0].get("process", 0))] = sorted(l["chunk"] for l in run if not l["from_disk"])
  return out


def test_two_processes_finish_a_one_process_sweep_bit_for_bit(tmp_path):
  """One process (this one, one CPU device) trains the 4 chunks into a workdir; chunks 1 and 2 are
  then lost, and two processes (one CPU device each) resume: they train exactly those two, one
  each, and each returns the full result (its chunk, the other's and the two on disk), bit for bit
  the one-process result: a chunk is the same program on the same shapes whichever process trains
  it. (The reverse, two processes' chunks finished by one, is the next test.)"""
  one = _reference(str(tmp_path / "w"))
  for ci in (1, 2):
    os.remove(store.chunk_path(str(tmp_path / "w"), ci))
  (r0, r1), out = _launch(tmp_path, "resume_1_to_2", [tmp_path / "w"] * 2)
  assert r0[0] == 0 and r1[0] == 0, r0[2][-3000:] + r1[2][-3000:]
  for i in range(2):
    got = np.load(out / f"process_{i}.npz")
    assert int(got["processes"]) == 2 and int(got["process"]) == i and int(got["local_devices"]) == 1
    _assert_bitwise(got, one)
  shares = _trained(tmp_path / "w")
  assert sorted(shares) == [0, 1] and shares[0] and shares[1], shares  # both trained
  assert sorted(shares[0] + shares[1]) == [1, 2], shares  # exactly the lost chunks, once each


def test_a_killed_process_loses_no_finished_chunk(tmp_path):
  """A fresh sweep on two processes; process 1 is SIGKILLed between its two chunks (the worker holds
  it there, 60 s after each chunk it logs); JAX's coordination service then ends process 0
  (heartbeat timeout 5 s) instead of letting it wait. Every chunk on disk verifies, and one process
  (this one) resumes from them, reusing all of them (whichever process trained them), to the
  uninterrupted one-process result, bit for bit."""
  procs, _ = _start(tmp_path, "killed", [tmp_path / "w"] * 2, pause_s=(0, 60), heartbeat_s=5)
  chunks = tmp_path / "w" / "chunks"
  deadline = time.time() + LIMIT_S
  # round-robin: process 1 trains chunks 1 and 3 of a fresh sweep
  while time.time() < deadline and procs[1].poll() is None and not (chunks / "chunk_00001.npz").exists():
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGKILL)
  (rc0, _, err0), (rc1, _, _) = _wait(procs)
  assert rc1 == -signal.SIGKILL
  assert rc0 != 0 and "heartbeat" in err0, err0[-3000:]  # ended by JAX, no hang, no false success
  on_disk = sorted(int(p.stem.split("_")[1]) for p in chunks.glob("chunk_*.npz"))
  assert 1 in on_disk and 3 not in on_disk, on_disk
  resumed = _reference(str(tmp_path / "w"))
  assert _trained(tmp_path / "w")[0] == sorted(set(range(4)) - set(on_disk))  # the rest reused
  _assert_same(resumed, _reference())


def test_an_error_on_one_process_is_raised_on_the_other_and_loses_no_chunk(tmp_path):
  """Process 1 stops with an error after its first chunk (the worker raises a disk-full OSError from
  its log): it records the error in its done marker, and process 0, done with its own chunks, raises
  it with process 1's host instead of waiting; the chunks both finished stay on disk and verify."""
  res, _ = _launch(tmp_path, "error", [tmp_path / "w"] * 2, fail=(False, True))
  (rc0, _, err0), (rc1, _, err1) = res
  assert rc1 == 1 and "No space left on device (injected by the test)" in err1, err1[-3000:]
  assert rc0 == 1 and "the sweep stopped on another process: process 1 on" in err0, err0[-3000:]
  assert "OSError: [Errno 28] No space left on device (injected by the test)" in err0
  marker = json.loads((tmp_path / "w" / "processes" / "process_1.done.json").read_text())
  assert marker["chunks"] == [1] and "No space left" in marker["error"]
  on_disk = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "w" / "chunks").glob("*.npz"))
  assert on_disk == [0, 1, 2], on_disk  # process 0's two, process 1's first
  resumed = _reference(str(tmp_path / "w"))
  assert _trained(tmp_path / "w")[0] == [3]
  _assert_same(resumed, _reference())


@pytest.mark.parametrize("case,match", [
    ("another_grid", "the processes run different sweeps"),
    ("unshared_workdir", "is not shared by all 2 processes"),
    ("process_count", "launched with different process counts"),
])
def test_mismatched_launches_are_refused_on_every_process(tmp_path, case, match):
  """Each mistake is refused on both processes with the same message, before any chunk is trained
  (nothing computed, so nothing lost)."""
  kw = {}
  workdirs = [tmp_path / "w"] * 2
  if case == "another_grid":
    kw["grids"] = (GRID, dict(GRID, sigmas=[0.4]))
  elif case == "unshared_workdir":
    workdirs = [tmp_path / "w0", tmp_path / "w1"]  # a local disk per host
  else:
    kw["declared"] = (2, 3)
  res, _ = _launch(tmp_path, case, workdirs, file_wait_s=1.0, **kw)
  for rc, _, err in res:
    assert rc == 1 and match in err, err[-3000:]
  for w in workdirs:
    assert not (w / "chunks").exists() or not any((w / "chunks").iterdir())


@pytest.mark.parametrize("wait", [-1.0, float("nan"), float("inf")])
def test_a_bad_file_wait_is_named(wait):
  with pytest.raises(ValueError, match="file_wait_s must be a finite number of seconds >= 0"):
    sweep.run_sweep(jax.random.key(0), _data(), sweep.Grid(**GRID).configs(), steps=STEPS,
                    batch_size=8, log=None, file_wait_s=wait)


def test_several_processes_without_a_workdir_are_refused(monkeypatch):
  """The chunk files are how the processes hand each other their results: no workdir, no sweep
  (checked on the process count alone, before any exchange; here a count of 2 is simulated)."""
  monkeypatch.setattr(distributed, "processes", lambda: distributed.Processes(0, 2, 1))
  with pytest.raises(ValueError, match="a sweep over 2 processes .* needs a workdir shared by all"):
    _reference()


@pytest.mark.parametrize("kwargs,match", [
    (dict(coordinator_address="localhost"), "coordinator_address must be 'host:port'"),
    (dict(coordinator_address="10.0.0.1:0"), "port in 1 … 65535"),
    (dict(coordinator_bind_address="[::]:99999"), "coordinator_bind_address must be"),
    (dict(num_processes=0), "num_processes must be an integer >= 1"),
    (dict(num_processes=True), "num_processes must be an integer >= 1"),
    (dict(num_processes=2, process_id=2), r"process_id must be in 0 … num_processes − 1 = 1"),
    (dict(num_processes=2, process_id=-1), r"process_id must be in 0 … num_processes − 1 = 1"),
    (dict(process_id=1.0), "process_id must be an integer"),
    (dict(heartbeat_timeout_s=0), "heartbeat_timeout_s must be >= 1 second"),
])
def test_initialize_names_a_bad_argument_before_connecting(kwargs, match):
  """Refused before jax.distributed is touched (it stays uninitialized in this test process)."""
  with pytest.raises(ValueError, match=match):
    distributed.initialize(**kwargs)
  assert not jax.distributed.is_initialized()


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_deal_gives_every_chunk_to_exactly_one_process(count):
  todo = [0, 2, 3, 7, 8, 9, 11]
  shares = [distributed.deal(todo, count, i) for i in range(count)]
  assert sorted(sum(shares, [])) == todo
  assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced


def test_a_peer_chunk_that_never_appears_or_fails_to_verify_is_named(tmp_path):
  """The reader of the others' chunks waits, then names each bad file and its writer."""
  good, corrupt = tmp_path / "c0.npz", tmp_path / "c1.npz"
  store.write_chunk(str(good), {"index": np.arange(2)}, "f" * 16)
  corrupt.write_bytes(b"not a zip")
  paths = {0: str(good), 1: str(corrupt), 2: str(tmp_path / "missing.npz")}
  read = lambda ci: store.read_chunk(paths[ci], "f" * 16, np.arange(2), {"index": (2,)}, {},
                                     str(tmp_path))
  with pytest.raises(RuntimeError) as err:
    distributed.read_peer_chunks([0, 1, 2], lambda ci: ci % 2, read, paths.get, wait_s=0.3)
  msg = str(err.value)
  assert "missing.npz (written by process 0) is not visible" in msg
  assert "c1.npz (written by process 1) is unreadable or truncated" in msg
  assert "c0.npz" not in msg
  got = distributed.read_peer_chunks([0], lambda ci: 1, read, paths.get, wait_s=0.3)
  np.testing.assert_array_equal(got[0]["index"], np.arange(2))
