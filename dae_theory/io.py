"""Run records: ``config.json``, ``meta.json`` and ``results.npz``, each written atomically
(temporary file in the same folder, then ``os.replace``), so a killed run never leaves a torn file;
long runs also append progress lines to ``metrics.jsonl``."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Mapping

import jax
import numpy as np


def _atomic_write(path: str, write) -> None:
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
  try:
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


def write_run(workdir: str, config, results: Mapping[str, Any], started: float,
              axes: Mapping[str, list[str]] | None = None) -> None:
  """Write ``config.json``, ``results.npz`` and ``meta.json`` (last, so its presence marks a full run)."""
  write_json(os.path.join(workdir, "config.json"), config)
  write_npz(os.path.join(workdir, "results.npz"), results)
  write_json(os.path.join(workdir, "meta.json"), meta(started, axes))
