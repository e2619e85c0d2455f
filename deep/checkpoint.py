"""Checkpoints of trained weights with orbax (issue 17, part 5): figures and probes reload a trained
deep model instead of retraining it.

A checkpoint is an orbax composite checkpoint folder with two items: ``params`` (the pytree of arrays,
orbax's ``PyTreeSave``) and ``meta`` (a JSON dict: the caller's ``meta`` plus a ``"_leaves"`` manifest
written here: path, shape, dtype and sha256 of every leaf). orbax writes into a temporary folder and
renames it when the write has finished, so a checkpoint is complete or absent (atomic). :func:`load`
checks what orbax cannot: every leaf against the manifest, so a truncated or altered file is refused
with a ValueError that names the path and the leaf, never returned as wrong weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import numpy as np

_MANIFEST = "_leaves"


def _leaf_paths(tree) -> list[tuple[str, np.ndarray]]:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return [("/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path),
           np.asarray(leaf)) for path, leaf in flat]


def _manifest(tree) -> list[dict]:
  return [{"path": p, "shape": list(a.shape), "dtype": str(a.dtype),
           "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}
          for p, a in _leaf_paths(tree)]


def _checkpointer():
  import orbax.checkpoint as ocp

  return ocp, ocp.Checkpointer(ocp.CompositeCheckpointHandler())


def _read(path: str):
  """``(params, meta)`` as orbax returns them (no checks), or ValueError naming the path."""
  ocp, ck = _checkpointer()
  try:
    with ck:
      out = ck.restore(os.path.abspath(path), args=ocp.args.Composite(
          params=ocp.args.PyTreeRestore(), meta=ocp.args.JsonRestore()))
  except Exception as err:  # orbax / tensorstore raise many types for unreadable files
    raise ValueError(f"checkpoint {path!r} is unreadable (missing, truncated or corrupt): "
                     f"{type(err).__name__}: {str(err)[:300]}") from None
  return out.params, out.meta


def load(path: str) -> tuple[Any, dict]:
  """Read a checkpoint written by :func:`save`.

  Returns:
    ``(params, meta)``: the pytree with NumPy leaves (shapes and dtypes as saved) and the caller's
    meta dict (without the manifest).

  Raises:
    ValueError: ``path`` missing or not a checkpoint, unreadable, without a manifest, or a leaf whose
      shape, dtype or checksum differs from the manifest (the leaf is named).
  """
  if not os.path.isdir(path):
    raise ValueError(f"checkpoint {path!r} does not exist (or is not a folder).")
  params, meta = _read(path)
  if not isinstance(meta, dict) or not isinstance(meta.get(_MANIFEST), list):
    raise ValueError(f"checkpoint {path!r} has no leaf manifest in its meta: not written by "
                     "deep.checkpoint.save, or its meta file is corrupt.")
  manifest = meta.pop(_MANIFEST)
  leaves, treedef = jax.tree.flatten(params)
  paths = [p for p, _ in _leaf_paths(params)]
  if paths != [m["path"] for m in manifest]:
    raise ValueError(f"checkpoint {path!r}: its leaves {paths} differ from its manifest "
                     f"{[m['path'] for m in manifest]}.")
  out = []
  for leaf, m in zip(leaves, manifest):
    a = np.asarray(leaf, dtype=np.dtype(m["dtype"]))
    if list(a.shape) != m["shape"] and a.size == int(np.prod(m["shape"], dtype=np.int64)):
      a = a.reshape(m["shape"])  # orbax returns 0-d leaves as Python scalars
    if list(a.shape) != m["shape"]:
      raise ValueError(f"checkpoint {path!r}: leaf {m['path']} has shape {a.shape}, its manifest "
                       f"says {tuple(m['shape'])}.")
    if hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() != m["sha256"]:
      raise ValueError(f"checkpoint {path!r}: leaf {m['path']} fails its checksum (the file was "
                       "altered or truncated).")
    out.append(a)
  return jax.tree.unflatten(treedef, out), meta


def save(path: str, params, meta: dict, overwrite: bool = False) -> None:
  """Write ``params`` (a pytree of arrays) and ``meta`` (a JSON-serialisable dict) to ``path``.

  An existing checkpoint at ``path`` is replaced only if it holds the same model (the same meta and
  the same leaf paths, shapes and dtypes, e.g. a retrained copy) or with ``overwrite=True``; a
  different one is refused, so a run never silently replaces another model's weights.

  Raises:
    ValueError: ``meta`` not a JSON-serialisable dict (or using the reserved key ``"_leaves"``), a
      non-finite leaf, or ``path`` holding something else (named).
  """
  import shutil

  if not isinstance(meta, dict) or _MANIFEST in meta:
    raise ValueError(f"meta must be a dict without the key {_MANIFEST!r}, got {type(meta).__name__}.")
  try:
    json.dumps(meta)
  except (TypeError, ValueError) as err:
    raise ValueError(f"meta must be JSON-serialisable: {err}") from None
  tree = jax.tree.map(np.asarray, params)
  manifest = _manifest(tree)
  bad = [m["path"] for m, (_, a) in zip(manifest, _leaf_paths(tree))
         if a.dtype.kind in "fc" and not np.all(np.isfinite(a))]
  if bad:
    raise ValueError(f"params hold non-finite values in {bad}; refusing to checkpoint them to {path!r}.")
  path = os.path.abspath(path)
  if os.path.exists(path):
    if not overwrite:
      try:
        old_params, old_meta = load(path)
      except ValueError as err:
        raise ValueError(f"{path!r} exists and is not a readable checkpoint ({err}); refusing to "
                         "overwrite it (remove it, or pass overwrite=True).") from None
      same = old_meta == json.loads(json.dumps(meta)) and [
          (m["path"], m["shape"], m["dtype"]) for m in _manifest(old_params)] == [
          (m["path"], m["shape"], m["dtype"]) for m in manifest]
      if not same:
        raise ValueError(f"{path!r} holds a checkpoint of another model (its meta or its leaves "
                         "differ); refusing to overwrite it (remove it, or pass overwrite=True).")
  # Write beside the target, then swap: the old checkpoint is removed only once the new one is whole.
  new, old = path + ".new", path + ".old"
  for p in (new, old):
    if os.path.exists(p):
      shutil.rmtree(p)
  ocp, ck = _checkpointer()
  with ck:
    ck.save(new, args=ocp.args.Composite(params=ocp.args.PyTreeSave(tree),
                                         meta=ocp.args.JsonSave(dict(meta, **{_MANIFEST: manifest}))))
  if os.path.exists(path):
    os.rename(path, old)
  os.rename(new, path)
  if os.path.exists(old):
    shutil.rmtree(old)
