"""Map a frozen Config dataclass onto absl flags (one flag per field) and back.

Used only under ``if __name__ == "__main__":`` in each sim, so tests call ``run()`` without flags.
Before any compute, :func:`main_with_config` refuses bad flags (naming the flag; NaN/inf in any float
flag included), a ``--workdir`` that is empty, a file or not writable, and a workdir holding a run of
another config; it turns SIGINT/SIGTERM into a message saying what was saved and how to resume, with
exit status 130/143.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import signal
import sys
import typing

from absl import flags


CACHE_ENV = "DAE_THEORY_COMPILATION_CACHE"
"""Environment variable: ``0`` makes ``--nocompilation_cache`` the default of every sim's main. The
test suite sets it, so that the sims its tests start in subprocesses compile as a fresh machine does
(tests that kill a run mid-sweep need its chunks to take their time) and never write into the user's
cache."""


def define_config_flags(config_cls) -> None:
  """Define ``--<field>`` for every field of ``config_cls`` (defaults from the class), plus
  ``--workdir`` and ``--smoke``."""
  hints = typing.get_type_hints(config_cls)
  defaults = config_cls()
  for f in dataclasses.fields(config_cls):
    default, kind = getattr(defaults, f.name), hints[f.name]
    helptext = f.metadata.get("help", f.name)
    if kind is bool:
      flags.DEFINE_bool(f.name, default, helptext)
    elif kind is int:
      flags.DEFINE_integer(f.name, default, helptext)
    elif kind is float:
      flags.DEFINE_float(f.name, default, helptext)
    elif kind is str:
      flags.DEFINE_string(f.name, default, helptext)
    elif typing.get_origin(kind) is tuple:
      flags.DEFINE_list(f.name, [str(v) for v in default], helptext)
    else:
      raise TypeError(f"unsupported config field type {kind} for {f.name}")
  flags.DEFINE_string("workdir", None, "output folder (config.json, meta.json, results.npz)")
  flags.DEFINE_bool("replace", False, "if --workdir holds a run of another config, move it aside to "
                    "<workdir>.previous (or .previous-2, ...) instead of refusing")
  flags.DEFINE_bool("smoke", False, "tiny configuration for a fast end-to-end check")
  flags.DEFINE_bool("compilation_cache", os.environ.get(CACHE_ENV, "1") != "0",
                    "keep compiled programs in JAX's persistent compilation cache so that the next "
                    "run with the same shapes loads them instead of compiling "
                    f"(dae_theory.sweep.cache); --nocompilation_cache: off; default off when "
                    f"{CACHE_ENV}=0 (the test suite sets it)")
  flags.DEFINE_string("compilation_cache_dir", None, "the cache directory (default "
                      "$XDG_CACHE_HOME/dae_theory/jax, else ~/.cache/dae_theory/jax)")


def config_from_flags(config_cls, flag_values):
  """Build the Config from parsed flags: ``--smoke`` starts from ``Config.smoke()``, and every flag
  given explicitly on the command line overrides it."""
  base = config_cls.smoke() if flag_values.smoke else config_cls()
  hints = typing.get_type_hints(config_cls)
  updates = {}
  for f in dataclasses.fields(config_cls):
    if not flag_values[f.name].present:
      continue
    value = flag_values[f.name].value
    kind = hints[f.name]
    if typing.get_origin(kind) is tuple:
      elem = typing.get_args(kind)[0]
      try:
        value = tuple(elem(v) for v in value)
      except ValueError as err:
        raise ValueError(f"--{f.name}: every entry must be a {elem.__name__}: {err}") from None
      if elem is float and not all(math.isfinite(v) for v in value):
        raise ValueError(f"--{f.name}: every entry must be a finite number (no nan/inf), got "
                         f"{','.join(str(v) for v in value)}.")
    elif kind is float and not math.isfinite(value):
      raise ValueError(f"--{f.name} must be a finite number (no nan/inf), got {value}.")
    updates[f.name] = value
  return dataclasses.replace(base, **updates)


def require(cfg, names, rule: str, ok) -> None:
  """Raise ``ValueError("--name must be <rule>, got value.")`` for the first field of ``cfg`` in
  ``names`` whose value fails ``ok(value)``: the Configs' flag validation, in one place."""
  for name in names:
    value = getattr(cfg, name)
    if not ok(value):
      raise ValueError(f"--{name} must be {rule}, got {value!r}.")


def check_workdir(cfg, workdir: str) -> None:
  """Refuse, before any compute, a workdir that cannot be written (see
  :func:`dae_theory.io.check_output_dir`) or that holds a run record of another config: a sim
  would overwrite it. A saved run of the same config may be rerun into (a phase sweep then resumes
  from its chunks).

  Raises:
    ValueError: naming the workdir, the differing fields and what to do.
  """
  from dae_theory import io

  io.check_output_dir(workdir, "--workdir")
  try:
    saved = io.saved_config(workdir)
  except ValueError as err:
    raise ValueError(f"--workdir={workdir}: {err} Give another --workdir, or delete {workdir} "
                     "first.") from None
  if saved is None:
    return
  diff = io.config_differences(saved, cfg)
  if diff:
    state = "a finished run" if io.finished_config(workdir) is not None else "an unfinished run"
    shown = "; ".join(diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
    raise ValueError(
        f"--workdir={workdir} holds {state} of another config ({shown}). Rerunning would "
        f"overwrite it: give another --workdir, delete {workdir} first, or pass --replace to move "
        "it aside.")


class _Terminated(BaseException):
  """Raised in the main thread by the SIGTERM handler that :func:`main_with_config` installs."""


def _on_sigterm(signum, frame):
  signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
  raise _Terminated()


def _program() -> str:
  """``sims.<name>`` when run with ``python -m``, else the script's path."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  return spec.name if spec is not None else sys.argv[0]


def _command() -> str:
  """The command line that started this process, to rerun it."""
  head = "python -m " + _program() if not _program().endswith(".py") else "python " + _program()
  return " ".join([head, *map(shlex.quote, sys.argv[1:])])


def interrupted_message(workdir: str, signame: str) -> str:
  """What a stopped run has saved in ``workdir`` and the command that resumes or reruns it."""
  from dae_theory import io

  chunk_dir = os.path.join(workdir, "chunks")
  # finished chunks only: not the hidden temporary file of a chunk being written (io's atomic write)
  chunks = (sorted(n for n in os.listdir(chunk_dir) if n.startswith("chunk_") and n.endswith(".npz"))
            if os.path.isdir(chunk_dir) else [])
  if chunks:
    saved = (f"{len(chunks)} finished sweep chunk(s) are saved in {chunk_dir}/; rerun the same "
             "command to resume from them")
  else:
    saved = "nothing partial is saved; rerun the command"
  if io.finished_config(workdir) is not None:
    saved += f" (the earlier finished run record in {workdir}/ is intact)"
  return f"Stopped by {signame}: {saved}:\n  {_command()}"


def main_with_config(config_cls, default_workdir: str, body) -> None:
  """Define the flags, then run ``body(cfg, workdir)`` under absl. Refused before any compute, as a
  usage error naming the flag: a bad flag (a ValueError from the Config's validation, NaN/inf
  included), ``--workdir ""``, a workdir that is a file or not writable, a workdir holding another
  config's run. SIGINT or SIGTERM during ``body`` prints what was saved and how to resume, and
  exits with status 130 or 143 (the SIGTERM handler is installed here only, never by the library)."""
  from absl import app, logging

  define_config_flags(config_cls)

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    try:
      cfg = config_from_flags(config_cls, flags.FLAGS)
      workdir = flags.FLAGS.workdir
      if workdir is None:
        workdir = default_workdir
      try:
        check_workdir(cfg, workdir)
      except ValueError:
        if not (flags.FLAGS.replace and os.path.isdir(workdir)):
          raise
        from dae_theory import io

        print(f"{_program()}: --replace: moved the earlier run to {io.move_aside(workdir)}",
              file=sys.stderr, flush=True)
        check_workdir(cfg, workdir)
    except ValueError as err:
      raise app.UsageError(str(err)) from None
    # SIGINT keeps the disposition this process inherited: Python raises KeyboardInterrupt only
    # when it started with SIGINT at its default, and a background job of a non-interactive shell
    # starts with SIGINT ignored (stop such a run with SIGTERM). Python acts on a signal between
    # bytecodes, so one arriving during a compiled call (a training scan) waits for the call.
    signal.signal(signal.SIGTERM, _on_sigterm)
    if flags.FLAGS.compilation_cache:
      from dae_theory.sweep import cache

      cache.enable(flags.FLAGS.compilation_cache_dir)  # unusable: a warning, and no cache
    print(f"{_program()}: writing the run record to {workdir}/", file=sys.stderr,
          flush=True)
    try:
      body(cfg, workdir)
    except KeyboardInterrupt:
      print(interrupted_message(workdir, "SIGINT (Ctrl-C)"), file=sys.stderr, flush=True)
      sys.exit(128 + signal.SIGINT)
    except _Terminated:
      print(interrupted_message(workdir, "SIGTERM"), file=sys.stderr, flush=True)
      sys.exit(128 + signal.SIGTERM)

  app.run(main)


def main_with_report(config_cls, default_workdir: str, run, report) -> None:
  """The ``__main__`` of a sim: parse the flags, ``out = run(cfg, workdir)``, print each line of
  ``report(out, cfg)`` and where the run record is."""

  def body(cfg, workdir: str) -> None:
    out = run(cfg, workdir)
    for line in report(out, cfg):
      print(line)
    print(f"Run record in {workdir}/")

  main_with_config(config_cls, default_workdir, body)
