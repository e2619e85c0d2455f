"""Run records: ``config.json``, ``meta.json`` and ``results.npz``, each written atomically
(temporary file in the same folder, then ``os.replace``), so a killed run never leaves a torn file;
long runs also append progress lines to ``metrics.jsonl``.

A record is valid only when complete: :func:`write_run` first removes the old ``meta.json`` (the
completion marker), then writes the other files, then ``meta.json`` last, holding the SHA-256 of every
file of the record; :func:`finished_config` accepts a record only when those checksums match. A write
that fails half way (disk full) therefore leaves no record that looks finished. Files are created with
the permissions of ``open()`` (``0666`` less the umask), not ``mkstemp``'s ``0600``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Mapping

import jax
import numpy as np


def _umask() -> int:
  """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except (OSError, ValueError):
    pass
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def _atomic_write(path: str, write) -> None:
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it; mkstemp makes 0600
    with os.fdopen(fd, "wb") as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _jsonable(obj):
  if dataclasses.is_dataclass(obj):
    return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
  if isinstance(obj, Mapping):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, (np.generic,)):
    return obj.item()
  if isinstance(obj, float) and not np.isfinite(obj):
    return str(obj)  # JSON has no inf/nan; keep them readable
  return obj


def to_jsonable(obj: Any) -> Any:
  """``obj`` as JSON would store it (dataclasses → dicts, tuples → lists, NumPy scalars → Python);
  e.g. to compare a Config with a saved ``config.json``."""
  return json.loads(json.dumps(_jsonable(obj)))


def write_json(path: str, obj: Any) -> None:
  """Write ``obj`` (dataclasses, dicts, lists, NumPy scalars) as indented JSON, atomically."""
  text = json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n"
  _atomic_write(path, lambda f: f.write(text.encode()))


def write_text(path: str, text: str) -> None:
  """Write UTF-8 text atomically."""
  _atomic_write(path, lambda f: f.write(text.encode()))


def write_npz(path: str, arrays: Mapping[str, Any]) -> None:
  """Write arrays to ``.npz`` atomically."""
  _atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))


def append_jsonl(path: str, record: Mapping[str, Any]) -> None:
  """Append one JSON line to ``path`` (a progress log such as ``metrics.jsonl``) and flush it to disk.
  A line is written with one ``write`` call, so a killed run leaves whole lines only (the last one may
  be missing, never torn in a way that hides the earlier ones)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  line = json.dumps(_jsonable(dict(record))) + "\n"
  with open(path, "a") as f:
    f.write(line)
    f.flush()
    os.fsync(f.fileno())


def meta(started: float, axes: Mapping[str, list[str]] | None = None) -> dict:
  """Versions, devices, argv, wall time, and the axis names of every saved array."""
  import optax  # local: only for the version string

  return {
      "python": sys.version.split()[0], "platform": platform.platform(),
      "jax": jax.__version__, "optax": optax.__version__, "numpy": np.__version__,
      "devices": [str(d) for d in jax.devices()], "argv": sys.argv,
      "wall_time_s": round(time.time() - started, 3), "axes": dict(axes or {}),
  }


RECORD_FILES = ("config.json", "results.npz", "meta.json")


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def write_run(workdir: str, config, results: Mapping[str, Any], started: float,
              axes: Mapping[str, list[str]] | None = None,
              extra: Mapping[str, Any] | None = None) -> None:
  """Write a run record: remove the old ``meta.json`` first (so no stale record looks finished
  while the new one is written), then ``config.json``, ``results.npz`` and the ``extra`` files
  (``{name: str (text) or JSON-able object}``, e.g. a report), and ``meta.json`` last with the
  SHA-256 of each of them. Other files in ``workdir`` are left alone.

  Raises:
    OSError: a file could not be written (e.g. ``ENOSPC``); the record is then left unfinished
      (no ``meta.json``), never a mix of old and new files that passes for finished.
  """
  extra = dict(extra or {})
  bad = [n for n in extra if n in RECORD_FILES or os.path.basename(n) != n or n.startswith(".")]
  if bad:
    raise ValueError(f"extra: file names must be plain names other than {RECORD_FILES}, got {bad}.")
  marker = os.path.join(workdir, "meta.json")
  try:
    os.remove(marker)
  except FileNotFoundError:
    pass
  write_json(os.path.join(workdir, "config.json"), config)
  write_npz(os.path.join(workdir, "results.npz"), results)
  for name, value in extra.items():
    path = os.path.join(workdir, name)
    if isinstance(value, str):
      write_text(path, value)
    else:
      write_json(path, value)
  names = ["config.json", "results.npz", *extra]
  info = meta(started, axes)
  info["files"] = {n: _sha256(os.path.join(workdir, n)) for n in names}
  write_json(marker, info)


def saved_config(workdir: str) -> dict | None:
  """The ``config.json`` saved in ``workdir`` (finished or not), or None when there is none.

  Raises:
    ValueError: ``config.json`` exists but is not readable JSON (names the file).
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as err:
    raise ValueError(f"{path} is not a readable run config ({err}).") from None


def finished_config(workdir: str) -> dict | None:
  """The saved config of a *complete* run record in ``workdir``, or None: ``meta.json`` exists and
  every file it lists (``config.json``, ``results.npz``, extras) has the SHA-256 written there.
  A record cut short (failed write, killed run, or written by code that did not list its files) is
  not finished."""
  try:
    with open(os.path.join(workdir, "meta.json")) as f:
      files = json.load(f).get("files")
    if not isinstance(files, dict) or not {"config.json", "results.npz"} <= set(files):
      return None
    for name, digest in files.items():
      if _sha256(os.path.join(workdir, name)) != digest:
        return None
    return saved_config(workdir)
  except (OSError, ValueError, AttributeError):
    return None


def config_differences(saved: Mapping[str, Any], config) -> list[str]:
  """``"field: saved S, now N"`` for every field where a saved ``config.json`` and ``config``
  differ (fields present in only one of them included)."""
  now = to_jsonable(config)
  out = []
  for k in list(saved) + [k for k in now if k not in saved]:
    s, n = saved.get(k, "<absent>"), now.get(k, "<absent>")
    if s != n:
      out.append(f"{k}: saved {json.dumps(s)}, now {json.dumps(n)}")
  return out


def check_output_dir(path: str, what: str = "--workdir") -> None:
  """Refuse, before any compute, an output folder that cannot be written: empty, an existing file,
  under a file, or in a folder this process cannot write to (probed with a temporary file, which
  is removed; the folder itself is not created).

  Raises:
    ValueError: naming ``what`` (the flag), the path and the reason.
  """
  if not path:
    raise ValueError(f"{what} must not be empty (give a folder, or leave the flag out for the "
                     "default).")
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"{what}={path} is an existing file, not a folder; give another {what}.")
  probe = os.path.abspath(path)
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise ValueError(f"{what}={path}: {probe} is a file, so the folder cannot be created; give "
                     f"another {what}.")
  try:
    with tempfile.TemporaryFile(dir=probe, prefix=".write-probe-"):
      pass
  except OSError as err:
    reason = os.strerror(err.errno) if err.errno else str(err)
    raise ValueError(f"{what}={path}: cannot write in {probe} ({reason}); give another {what} or "
                     "fix its permissions.") from None


def move_aside(run_dir: str) -> str:
  """Rename ``run_dir`` to ``<run>.previous``, or to the first free ``<run>.previous-<k>``
  (k = 2, 3, …), so that earlier backups are never overwritten; returns the new path."""
  base = run_dir.rstrip(os.sep) + ".previous"
  k, path = 1, base
  while os.path.lexists(path):
    k += 1
    path = f"{base}-{k}"
  os.rename(run_dir, path)
  return path
