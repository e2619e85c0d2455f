r"""JAX's persistent compilation cache for the sweep engine: compile a chunk shape once per machine.

A fresh process pays the compilation of every chunk program again (about 2–3 s per chunk shape on
the 2-core CPU, half the speed of a compiled call on the default benchmark). JAX can keep compiled
executables on disk, keyed by the program, its compile options, the devices and the jax/jaxlib
versions (``jax.config`` options ``jax_compilation_cache_dir``,
``jax_persistent_cache_min_compile_time_secs``, ``jax_persistent_cache_min_entry_size_bytes``); a
second process with the same chunk shapes then loads the executable instead of compiling it (it
still traces the Python function). :func:`enable` turns that on in a user-writable directory,
:func:`disable` turns it off, :func:`status` says where it stands.

The cache never changes a result: an entry is the executable XLA would build for the same program
and options. Errors reading or writing an entry are JAX warnings, never exceptions
(``jax_raise_persistent_cache_errors`` stays False), so a cache that becomes unwritable mid-sweep
(disk full, permissions) costs only the time of compiling again. An unusable directory is reported
by :func:`enable` before anything compiles, with a warning, and the cache stays off.

Example::

  from dae_theory.sweep import cache
  cache.enable()          # ~/.cache/dae_theory/jax, or $XDG_CACHE_HOME/dae_theory/jax
  ...                     # run_sweep(...) as usual; the second process starts at compiled speed

The one place besides :mod:`dae_theory.sweep.devices` that touches ``jax.config``; its default
directory follows the XDG base-directory rule (the one environment variable the library reads, and
only here, for where to keep a cache, never for what to compute).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import NamedTuple

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

MIN_COMPILE_TIME_S = 0.0
"""Default minimum compile time of a program to be written (JAX's own default is 1 s). 0 keeps every
program: the sweep's setup programs (the plug's signature probe, the init, small device_puts) each
compile in 0.05–0.5 s and together cost as much as the chunk program's compile in a fresh process."""


class Status(NamedTuple):
  """Where the cache stands: ``path`` (``None`` when off) and the number of entries found there."""

  path: str | None
  entries: int


def default_dir() -> str:
  """``$XDG_CACHE_HOME/dae_theory/jax`` when ``XDG_CACHE_HOME`` is set (an absolute path, as the XDG
  base-directory rule requires), else ``~/.cache/dae_theory/jax``."""
  base = os.environ.get("XDG_CACHE_HOME", "")
  if not os.path.isabs(base):
    base = os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "dae_theory", "jax")


def _writable(path: str) -> str | None:
  """``None`` if ``path`` is (or can be made) a directory this process can create files in, else why
  not (probed by creating and removing a file, so read-only mounts and permissions are both seen)."""
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as err:
    return f"cannot create it ({err.strerror or err})"
  if not os.path.isdir(path):
    return "it is not a directory"
  try:
    fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
    os.close(fd)
    os.remove(probe)
  except OSError as err:
    return f"cannot write into it ({err.strerror or err})"
  return None


def entries(path: str) -> int:
  """The number of cache entries (files other than JAX's ``-atime`` bookkeeping and hidden files)
  in ``path``; 0 when it does not exist."""
  if not os.path.isdir(path):
    return 0
  return sum(1 for n in os.listdir(path)
             if not n.startswith(".") and not n.endswith("-atime")
             and os.path.isfile(os.path.join(path, n)))


def enable(path: str | None = None, *, min_compile_time_s: float = MIN_COMPILE_TIME_S,
           min_entry_size_bytes: int = -1) -> str | None:
  r"""Turn on JAX's persistent compilation cache in ``path`` (default :func:`default_dir`).

  Call it before the programs to be cached compile (e.g. at the top of a script); a program compiled
  earlier in the process is not written. Calling it again with another path switches the cache.

  Args:
    path: the cache directory (created if missing).
    min_compile_time_s: programs that compiled faster than this are not written
      (``jax_persistent_cache_min_compile_time_secs``; see :data:`MIN_COMPILE_TIME_S`).
    min_entry_size_bytes: entries smaller than this are not written
      (``jax_persistent_cache_min_entry_size_bytes``; −1 = no minimum and no override by JAX).

  Returns:
    The directory in use, or ``None`` when ``path`` is unusable (not creatable, not a directory, not
    writable): then a ``RuntimeWarning`` says why, the cache stays off, and training goes on
    compiling as without a cache.

  Raises:
    ValueError: ``min_compile_time_s`` negative or not finite, or ``min_entry_size_bytes`` < −1.
  """
  if not (min_compile_time_s >= 0 and min_compile_time_s != float("inf")):
    raise ValueError(f"min_compile_time_s must be a finite number >= 0, got {min_compile_time_s}.")
  if int(min_entry_size_bytes) != min_entry_size_bytes or min_entry_size_bytes < -1:
    raise ValueError(f"min_entry_size_bytes must be an integer >= -1, got {min_entry_size_bytes}.")
  path = os.path.abspath(os.path.expanduser(default_dir() if path is None else str(path)))
  why = _writable(path)
  if why is not None:
    warnings.warn(f"dae_theory.sweep.cache: the compilation cache directory {path} is unusable: "
                  f"{why}. The cache stays off (every process compiles its programs); pass a "
                  "writable directory to enable(), or turn the cache off.", RuntimeWarning,
                  stacklevel=2)
    disable()
    return None
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(min_entry_size_bytes))
  jax.config.update("jax_enable_compilation_cache", True)
  if jax.config.jax_compilation_cache_dir != path:
    jax.config.update("jax_compilation_cache_dir", path)
    _jax_cache.reset_cache()  # JAX opens its cache once per process; let it reopen at the new path
  return path


def disable() -> None:
  """Turn the persistent compilation cache off for the rest of the process (entries on disk stay)."""
  jax.config.update("jax_compilation_cache_dir", None)
  _jax_cache.reset_cache()


def status() -> Status:
  """The cache directory in use (``None`` when off) and its number of entries."""
  path = jax.config.jax_compilation_cache_dir
  if not path or not jax.config.jax_enable_compilation_cache:
    return Status(None, 0)
  return Status(path, entries(path))
