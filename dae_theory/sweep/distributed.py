r"""Many processes, many hosts: the sweep under JAX's own distributed runtime (``jax.distributed``).

Design (docs/experiments.md §6.2): **the chunks are divided among the processes**; the config axis is
not sharded over the global mesh. Each process trains whole chunks on its own devices
(``jax.local_devices()``, the config axis of a chunk sharded over them as in a single process), writes
each chunk file atomically into the shared ``workdir`` itself, and once every process has marked its
share done (``workdir/processes/process_<i>.done.json``) reads the chunks of the others, so that
every process returns the full :class:`~dae_theory.sweep.SweepResult`. Why:

* **Bit for bit.** A chunk is the same program on the same per-device shapes whichever process and
  however many processes train it, so a chunk's arrays do not depend on the process count: a sweep on
  two processes equals one on one process bit for bit (when each process has as many local devices of
  the same kind), and a restart with another process count resumes from the same chunks and still
  equals an uninterrupted run. Sharding the config axis over a global mesh would change each device's
  share with the process count, and another partition changes the float round-off (the 4-device test
  of tests/test_sweep.py tolerates 1e-5 of max|W| for that reason).
* **No collective in the training program.** Configs are independent, so a global program would only
  make every process wait for the slowest at each chunk call and demand identical inputs on all. Here
  the processes exchange a few bytes of metadata (``process_allgather``) at the start only: that
  they run the same sweep, that the workdir is shared, which chunks are missing. At the end they meet
  through the files, with no deadline: a peer may train for hours longer, and a collective would put
  that wait under the collective library's own timeout, where it has one.
* **Resume is the same mechanism.** The chunk files are the only state; a process that dies loses at
  most its chunk in flight (JAX's coordination service then ends the others after the heartbeat
  timeout), a process that raises tells the others through its done marker, and any process count
  resumes from what is on disk.

The cost: a chunk is the unit of work, so a sweep needs at least as many chunks as processes
(``chunk_size`` ≤ configs / processes) and the chunks still to train are dealt out round-robin, with
no work stealing (a slow host delays the end).

Launching: every process calls :func:`initialize` (a checked :func:`jax.distributed.initialize`)
before anything else runs in JAX, then the same sweep with the same ``workdir`` on a file system that
all processes mount; examples/distributed_sweep.py, examples/slurm_sweep.sbatch and
examples/tpu_slice_sweep.sh are the launch recipes. Every process must call
:func:`~dae_theory.sweep.run_sweep`: one called on process 0 alone waits in its first exchange until
JAX ends all processes (when the others exit, their shutdown barrier fails after JAX's shutdown
timeout, 300 s by default, and the coordination service aborts every process).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

from dae_theory import io

MARKERS = "processes"
"""Folder of the workdir where each process writes ``process_<i>.json`` to prove the workdir is
shared (:func:`check_shared_workdir`)."""


class Processes(NamedTuple):
  """This process's place in the run: ``index`` in ``0 … count − 1`` and its ``local_devices``."""

  index: int
  count: int
  local_devices: int


def processes() -> Processes:
  """The current :class:`Processes` (one process of one when ``jax.distributed`` is not used)."""
  return Processes(jax.process_index(), jax.process_count(), jax.local_device_count())


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, local_device_ids: Sequence[int] | None = None,
               coordinator_bind_address: str | None = None, initialization_timeout_s: int = 300,
               heartbeat_timeout_s: int = 100) -> Processes:
  """:func:`jax.distributed.initialize`, checked: the arguments before anything connects, and after
  it that every process was launched with the same process count and its own id.

  Call it in every process before JAX runs anything. On SLURM, Open MPI and Cloud TPU all three
  arguments may be left ``None``: JAX reads them from the cluster's environment. Elsewhere give all
  three, e.g. ``initialize("10.0.0.1:8476", 4, i)`` in process i (the coordinator is process 0's
  address, on a port free on that host).

  Args:
    coordinator_address: ``host:port`` of process 0 (``None``: from the cluster).
    num_processes: how many processes join (``None``: from the cluster).
    process_id: this process's id in ``0 … num_processes − 1`` (``None``: from the cluster).
    local_device_ids: restrict this process to these local accelerators (e.g. one GPU per process).
    coordinator_bind_address: where process 0's coordinator listens (JAX's default: every interface,
      ``[::]:port``; ``127.0.0.1:port`` keeps a one-machine run on the loopback address).
    initialization_timeout_s: how long to wait for every process to connect. Two processes given
      the same id are ended by JAX itself (the coordination service refuses the second
      registration, ``ALREADY_EXISTS``, and the others abort with ``DEADLINE_EXCEEDED`` after this
      timeout): a process abort with JAX's message, not a Python exception.
    heartbeat_timeout_s: a process silent this long counts as dead, and JAX then ends the others
      (their finished chunks are on disk; a restart resumes from them).

  Returns:
    :class:`Processes` of this process.

  Raises:
    ValueError: a bad argument (named, with the rule), or processes launched with different process
      counts (every process raises it, with each one's count).
  """
  for name, address in (("coordinator_address", coordinator_address),
                        ("coordinator_bind_address", coordinator_bind_address)):
    if address is not None:
      host, sep, port = str(address).rpartition(":")
      if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be 'host:port' with a port in 1 … 65535 (process 0's "
                         f"address), got {address!r}.")
  if num_processes is not None and (isinstance(num_processes, bool) or
                                    not isinstance(num_processes, (int, np.integer))
                                    or num_processes < 1):
    raise ValueError(f"num_processes must be an integer >= 1, got {num_processes!r}.")
  if process_id is not None:
    if isinstance(process_id, bool) or not isinstance(process_id, (int, np.integer)):
      raise ValueError(f"process_id must be an integer, got {process_id!r}.")
    if num_processes is not None and not 0 <= process_id < num_processes:
      raise ValueError(f"process_id must be in 0 … num_processes − 1 = {num_processes - 1}, got "
                       f"{process_id} (ids are 0, 1, …, one per process).")
  for name, v in (("initialization_timeout_s", initialization_timeout_s),
                  ("heartbeat_timeout_s", heartbeat_timeout_s)):
    if not v >= 1:
      raise ValueError(f"{name} must be >= 1 second, got {v!r}.")
  kw = {} if local_device_ids is None else {"local_device_ids": list(local_device_ids)}
  if coordinator_bind_address is not None:
    kw["coordinator_bind_address"] = coordinator_bind_address
  jax.distributed.initialize(
      coordinator_address, None if num_processes is None else int(num_processes),
      None if process_id is None else int(process_id),
      initialization_timeout=int(initialization_timeout_s),
      heartbeat_timeout_seconds=int(heartbeat_timeout_s), **kw)
  me = processes()
  # Every process states the count it was launched with (the coordinator takes process 0's; the
  # others' is not checked by JAX); all see the same table and raise the same error.
  said = gather(np.array([-1 if num_processes is None else int(num_processes)], np.int64))[:, 0]
  if np.any((said != -1) & (said != me.count)):
    table = ", ".join(f"process {j}: num_processes={'auto' if n < 0 else int(n)}"
                      for j, n in enumerate(said))
    raise ValueError(
        f"the processes were launched with different process counts: the coordinator (process 0) "
        f"joined {me.count} processes ({table}). Launch every process with num_processes="
        f"{me.count} and its own process_id in 0 … {me.count - 1}.")
  return me


GATHER_BYTES = 256
"""Every exchange is sent as a uint8 vector of a multiple of this many bytes, so the few exchanges of
a sweep reuse one or two compiled gather programs instead of compiling one per shape and dtype."""


def gather(a) -> np.ndarray:
  """``a`` (the same shape and dtype on every process) from every process, stacked ``(P, …)`` in
  process order (:func:`jax.experimental.multihost_utils.process_allgather`; a barrier too)."""
  from jax.experimental import multihost_utils
  a = np.ascontiguousarray(a)
  if jax.process_count() == 1:
    return a[None]
  raw = np.frombuffer(a.tobytes(), np.uint8)
  buf = np.zeros(-(-max(raw.size, 1) // GATHER_BYTES) * GATHER_BYTES, np.uint8)
  buf[:raw.size] = raw
  rows = np.asarray(multihost_utils.process_allgather(buf))[:, :raw.size]
  return np.stack([np.frombuffer(r.tobytes(), a.dtype).reshape(a.shape) for r in rows])


def _text(s: str, size: int) -> np.ndarray:
  b = s.encode()[:size]
  return np.frombuffer(b + b"\0" * (size - len(b)), np.uint8).copy()


def _untext(a: np.ndarray) -> str:
  return bytes(np.asarray(a, np.uint8)).rstrip(b"\0").decode(errors="replace")


def hosts() -> list[str]:
  """The host name of every process, in process order (for error messages)."""
  return [_untext(r) for r in gather(_text(socket.gethostname(), 64))]


def agree_on_sweep(fingerprint: str, local_devices: int, platform: str) -> list[str]:
  """Refuse processes that run different sweeps (other configs, settings, data or plug: another
  fingerprint) with one ``ValueError`` on every process, before anything is trained.

  Returns:
    notes for the log: processes with other local device counts or platforms (their chunks then agree
    within round-off only, not bit for bit).
  """
  fps = [_untext(r) for r in gather(_text(fingerprint, 64))]
  if len(set(fps)) > 1:
    where = hosts()
    lines = "; ".join(f"process {j} on {h}: {f}" for j, (f, h) in enumerate(zip(fps, where)))
    raise ValueError(
        f"the processes run different sweeps (fingerprints {lines}): every process must be given the "
        "same configs, settings, plug and data (the same flags and input files); nothing was trained.")
  devs = gather(np.array([local_devices], np.int64))[:, 0]
  plats = [_untext(r) for r in gather(_text(platform, 16))]
  notes = []
  if len(set(devs.tolist())) > 1 or len(set(plats)) > 1:
    notes.append("processes have different local devices (" + ", ".join(
        f"process {j}: {int(n)} × {p}" for j, (n, p) in enumerate(zip(devs, plats)))
                 + "): their chunks agree with a one-process run within float round-off, not bit for bit")
  return notes


def _wait_for(paths: Sequence[str], ok: Callable[[str], bool], wait_s: float) -> np.ndarray:
  """Which ``paths`` pass ``ok`` within ``wait_s`` seconds (polled: a shared file system may show a
  file written on another host late)."""
  seen = np.zeros(len(paths), bool)
  deadline = time.time() + wait_s
  while True:
    for j, p in enumerate(paths):
      seen[j] = seen[j] or ok(p)
    if seen.all() or time.time() >= deadline:
      return seen
    time.sleep(0.1)


def _marker(workdir: str, j: int, what: str) -> str:
  return os.path.join(workdir, MARKERS, f"process_{j}.{what}.json")


def _read_json(path: str) -> dict | None:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def check_shared_workdir(workdir: str, wait_s: float) -> str:
  """Refuse a ``workdir`` that is not one folder seen by all processes (e.g. a local disk per host):
  each process writes ``workdir/processes/process_<i>.start.json`` with a token of this run (process
  0's, gathered), and every process must read every other's within ``wait_s`` seconds. One
  ``ValueError`` on every process, naming who sees whom, before anything is trained (so nothing
  computed is lost).

  Returns:
    the run's token (16 hex digits, the same on every process), for :func:`finish` and
    :func:`wait_for_peers`.
  """
  me = processes()
  token = bytes(gather(np.frombuffer(secrets.token_bytes(8), np.uint8).copy())[0]).hex()
  io.write_json(_marker(workdir, me.index, "start"),
                {"process": me.index, "processes": me.count, "host": socket.gethostname(),
                 "pid": os.getpid(), "run": token})
  gather(np.zeros(1, np.int8))  # barrier: every marker is written
  ok = lambda path: (_read_json(path) or {}).get("run") == token
  seen = gather(_wait_for([_marker(workdir, j, "start") for j in range(me.count)], ok, wait_s))
  if not seen.all():
    where = hosts()
    rows = "; ".join(f"process {j} on {where[j]} sees the files of processes "
                     f"{np.flatnonzero(seen[j]).tolist()}" for j in range(me.count))
    raise ValueError(
        f"workdir {workdir} is not shared by all {me.count} processes ({rows}; each wrote "
        f"{_marker(workdir, 0, 'start').replace('process_0', 'process_<i>')} and waited {wait_s:g} "
        "s): the processes hand each other their chunks through it. Give every process the same "
        "folder on a file system all hosts mount (NFS, Lustre, GCS FUSE); nothing was trained.")
  return token


def finish(workdir: str, token: str, chunks: Sequence[int], error: str | None = None) -> None:
  """Record that this process is done with its share (``workdir/processes/process_<i>.done.json``:
  the chunks it trained, or the error that stopped it), written after its last chunk file."""
  me = processes()
  io.write_json(_marker(workdir, me.index, "done"),
                {"process": me.index, "processes": me.count, "host": socket.gethostname(),
                 "run": token, "chunks": [int(c) for c in chunks], "error": error})


def wait_for_peers(workdir: str, token: str, log: Callable[[str], None] | None = None,
                   poll_s: float = 0.2, report_s: float = 60.0) -> dict[int, dict]:
  """Wait until every process of this run has written its done marker (:func:`finish`).

  No deadline and no collective: a peer may train for hours longer (uneven chunks), and a peer that
  dies is noticed by JAX's coordination service, which ends this process after the heartbeat timeout
  (:func:`initialize`); its finished chunks stay on disk.

  Returns:
    per process, its marker (``chunks``: what it trained).

  Raises:
    RuntimeError: a peer stopped with an error (its message and host named).
  """
  me = processes()
  markers, started, reported = {}, time.time(), time.time()
  while len(markers) < me.count:
    for j in range(me.count):
      if j not in markers:
        m = _read_json(_marker(workdir, j, "done"))
        if m is not None and m.get("run") == token:
          markers[j] = m
    failed = {j: m for j, m in markers.items() if m.get("error")}
    if failed:
      raise RuntimeError(
          "the sweep stopped on another process: " + "; ".join(
              f"process {j} on {m.get('host')}: {m['error']}" for j, m in sorted(failed.items()))
          + f". The chunks finished before are in {workdir}/chunks; rerun (with any process count) "
          "to resume from them.")
    if len(markers) < me.count:
      if log is not None and time.time() - reported >= report_s:
        waiting = sorted(set(range(me.count)) - set(markers))
        log(f"sweep: process {me.index} waits for processes {waiting} to finish their chunks "
            f"({time.time() - started:.0f} s so far)")
        reported = time.time()
      time.sleep(poll_s)
  return markers
def deal(todo: Sequence[int], count: int, index: int) -> list[int]:
  """The chunks of ``todo`` (in order) that process ``index`` of ``count`` trains: round-robin."""
  return [int(c) for c in list(todo)[index::count]]


def chunks_to_train(missing: np.ndarray) -> np.ndarray:
  """The chunks some process lacks (``missing`` (chunks,) bool of this process, OR-ed over all):
  every process computes the same list."""
  return np.flatnonzero(gather(np.asarray(missing, bool)).any(0))


def read_peer_chunks(chunks: Sequence[int], owner: Callable[[int], int], read: Callable,
                     path: Callable[[int], str], wait_s: float) -> dict:
  """Read the chunks other processes wrote (after the final barrier): ``{ci: arrays}``.

  Args:
    chunks: the chunk indices to read.
    owner: chunk → the process that wrote it (for the error message).
    read: ``read(ci) → (arrays | None, why)``, the verifying reader of :mod:`~dae_theory.sweep.store`.
    path: chunk → its file.
    wait_s: how long to wait for a file to become visible.

  Raises:
    RuntimeError: a chunk file still invisible or failing its verification after ``wait_s``; it names
      the writer (the chunk is safe where that process wrote it; a rerun resumes from it).
  """
  got, why = {}, {}

  def ok(p):
    ci = chunks[paths.index(p)]
    if ci in got:
      return True
    if not os.path.exists(p):
      why[ci] = "not visible"
      return False
    arrays, why[ci] = read(ci)
    if arrays is not None:
      got[ci] = arrays
    return arrays is not None

  paths = [path(ci) for ci in chunks]
  seen = _wait_for(paths, ok, wait_s)
  if not seen.all():
    bad = [(ci, owner(ci), why.get(ci, "")) for ci, s in zip(chunks, seen) if not s]
    raise RuntimeError(
        f"process {jax.process_index()} cannot read chunks its peers wrote after waiting {wait_s:g} "
        "s: " + "; ".join(f"{path(ci)} (written by process {o}) is {w}" for ci, o, w in bad)
        + ". The workdir must be one folder on a file system every process mounts; the chunks are "
        "kept where their writer put them, and a rerun with a shared workdir resumes from them.")
  return got
