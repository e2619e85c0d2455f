r"""Sweep storage: fingerprints, chunk files and the progress log, so that a long sweep resumes.

Each finished chunk is written atomically to ``workdir/chunks/chunk_<i>.npz`` with its own
fingerprint (of its configs, the sweep settings, the model plug and the data) and a checksum of its
arrays. A restarted sweep with the same spec reuses the chunks that verify, recomputes (and says so)
any that is unreadable, truncated or fails its checksum, and refuses one that belongs to another
sweep. ``workdir/sweep_spec.json`` holds the whole sweep's fingerprint and ``workdir/metrics.jsonl``
one progress line per chunk (with several processes, each writes the chunks it trains itself, and
process i > 0 its progress lines to ``metrics.process<i>.jsonl``; :mod:`dae_theory.sweep.distributed`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib

import numpy as np

from dae_theory import io
from dae_theory.sweep.plan import Configs

LAYOUT = 6
"""Version of the chunk-file layout, part of every fingerprint (4: each chunk file carries its own
fingerprint and a checksum of its arrays; 5: the weights of any model plug, one array per leaf named
``param/<leaf>``, and the plug's name in the settings; 6: the weights at the checkpoint steps,
``snapshot/<leaf>`` with a (configs, checkpoints) leading shape, the checkpoints in the settings, the
configs' optimizer column in the fingerprint, and the layout number in each chunk file)."""

def data_digest(x: np.ndarray) -> bytes:
  h = hashlib.sha256()
  h.update(json.dumps([x.dtype.str, list(x.shape)]).encode())
  h.update(np.ascontiguousarray(x).tobytes())
  return h.digest()


def fingerprint(data_digest: bytes, settings: dict, configs: Configs, index=None) -> str:
  """sha256 (16 hex digits) of the data, the settings and the configs (and their indices)."""
  h = hashlib.sha256(data_digest)
  h.update(json.dumps(settings, sort_keys=True).encode())
  if index is not None:
    h.update(np.asarray(index, np.int64).tobytes())
  for a in configs.arrays():
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


def checksum(arrays: dict) -> str:
  """sha256 of every array's name, dtype, shape and bytes, in name order."""
  h = hashlib.sha256()
  for k in sorted(arrays):
    a = np.ascontiguousarray(arrays[k])
    h.update(json.dumps([k, a.dtype.str, list(a.shape)]).encode())
    h.update(a.tobytes())
  return h.hexdigest()


def write_chunk(path: str, arrays: dict, fingerprint: str) -> None:
  io.write_npz(path, {**arrays, "fingerprint": np.array(fingerprint),
                      "checksum": np.array(checksum(arrays)), "layout": np.array(LAYOUT)})


def read_chunk(path: str, fingerprint: str, idx: np.ndarray, shapes: dict, largest: dict,
               workdir: str) -> tuple[dict | None, str]:
  """Read and verify a chunk file: ``(arrays, "")``, or ``(None, why)`` when it must be recomputed
  (unreadable, truncated, failing its checksum, or of the wrong shapes).

  Args:
    shapes: the expected shape of each array; an axis of a weight (``param/<leaf>``) that grows with
      the width is ``None``: the chunk stores it at the chunk's largest width.
    largest: for the arrays with a ``None`` axis, their shape at the sweep's largest width (the upper
      bound of each ``None`` axis).

  Raises:
    ValueError: the file belongs to another sweep (another fingerprint) or has no fingerprint.
  """
  try:
    npz = np.load(path)  # allow_pickle=False: never unpickles
    if not isinstance(npz, np.lib.npyio.NpzFile):
      return None, "not an .npz archive"
    with npz:
      arrays = {k: npz[k] for k in npz.files}
  except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError) as err:
    return None, f"unreadable or truncated ({type(err).__name__}: {err})"
  if "fingerprint" not in arrays:
    raise ValueError(
        f"{path} has no fingerprint: it was written by an older version of the sweep engine (chunk "
        f"layout < {LAYOUT}) or by something else, so its configs cannot be checked. It is not "
        f"reused. Use a new workdir, or delete {os.path.dirname(path)} and the workdir's "
        "sweep_spec.json to recompute.")
  layout = int(arrays.pop("layout", -1))
  if layout != LAYOUT:
    raise ValueError(
        f"{path} was written by " + ("an older version of the sweep engine (chunk layout < 6)"
                                     if layout < 0 else f"chunk layout {layout}")
        + f", not this engine's layout {LAYOUT}, so its arrays cannot be reused. Use a new workdir, "
        f"or delete {os.path.dirname(path)} and the workdir's sweep_spec.json to recompute.")
  found = str(arrays.pop("fingerprint"))
  if found != fingerprint:
    raise ValueError(
        f"{path} belongs to another sweep (chunk fingerprint {found}, this sweep's {fingerprint}): "
        f"it was trained with other configs, settings or data, e.g. by an earlier run in {workdir} "
        f"with other flags. It is not reused. Use a new workdir, or delete {os.path.dirname(path)} "
        "to recompute.")
  if str(arrays.pop("checksum", "")) != checksum(arrays):
    return None, "failing its checksum (its arrays were modified or corrupted)"
  got = {k: tuple(a.shape) for k, a in arrays.items()}
  ok = set(got) == set(shapes) and all(
      len(got[k]) == len(v) and all(g == n if n is not None else g <= largest[k][a]
                                    for a, (g, n) in enumerate(zip(got[k], v)))
      for k, v in shapes.items())
  if not ok or not np.array_equal(arrays["index"], idx):
    return None, f"of the wrong shapes ({got}; expected {shapes})"
  return arrays, ""


def check_spec(workdir: str, fingerprint: str) -> None:
  """Refuse a workdir whose ``sweep_spec.json`` holds another sweep (``ValueError``)."""
  spec_path = os.path.join(workdir, "sweep_spec.json")
  if not os.path.exists(spec_path):
    return
  with open(spec_path) as f:
    spec = json.load(f)
  if spec["fingerprint"] != fingerprint:
    older = ("" if spec.get("layout") == LAYOUT else
             f", written by an older version of the sweep engine (chunk layout < {LAYOUT})")
    raise ValueError(f"{workdir} holds a different sweep (fingerprint {spec['fingerprint']}, "
                     f"this one {fingerprint}{older}); use a new workdir or delete it.")


def write_spec(workdir: str, fingerprint: str, chunks: int, configs: int) -> None:
  """Write ``sweep_spec.json`` (once: an existing one was checked by :func:`check_spec`)."""
  spec_path = os.path.join(workdir, "sweep_spec.json")
  if not os.path.exists(spec_path):
    io.write_json(spec_path, {"fingerprint": fingerprint, "chunks": chunks, "configs": configs,
                              "layout": LAYOUT})


def chunk_path(workdir: str | None, ci: int) -> str | None:
  """Where chunk ``ci`` is stored (``None`` without a workdir)."""
  return None if workdir is None else os.path.join(workdir, "chunks", f"chunk_{ci:05d}.npz")


def progress_path(workdir: str, process: int = 0) -> str:
  """The progress log of process ``process``: ``workdir/metrics.jsonl`` for process 0 (the only one
  of a single-process sweep), ``workdir/metrics.process<i>.jsonl`` for process i > 0 of several (one
  file per writer: appends from several hosts to one file of a network file system can interleave)."""
  return os.path.join(workdir, "metrics.jsonl" if process == 0 else f"metrics.process{process}.jsonl")


def append_progress(workdir: str, line: dict, process: int = 0) -> None:
  """One JSON line per chunk in the progress log of ``process`` (:func:`progress_path`)."""
  io.append_jsonl(progress_path(workdir, process), line)
