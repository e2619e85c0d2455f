"""Map a frozen Config dataclass onto absl flags (one flag per field) and back.

Used only under ``if __name__ == "__main__":`` in each sim, so tests call ``run()`` without flags.
"""

from __future__ import annotations

import dataclasses
import typing

from absl import flags


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
  flags.DEFINE_bool("smoke", False, "tiny configuration for a fast end-to-end check")


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
    updates[f.name] = value
  return dataclasses.replace(base, **updates)


def require(cfg, names, rule: str, ok) -> None:
  """Raise ``ValueError("--name must be <rule>, got value.")`` for the first field of ``cfg`` in
  ``names`` whose value fails ``ok(value)``: the Configs' flag validation, in one place."""
  for name in names:
    value = getattr(cfg, name)
    if not ok(value):
      raise ValueError(f"--{name} must be {rule}, got {value!r}.")


def main_with_config(config_cls, default_workdir: str, body) -> None:
  """Define the flags, then run ``body(cfg, workdir)`` under absl. A bad flag (a ValueError from the
  Config's validation) becomes a usage error naming the flag, raised before any compute."""
  from absl import app, logging

  define_config_flags(config_cls)

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    try:
      cfg = config_from_flags(config_cls, flags.FLAGS)
    except ValueError as err:
      raise app.UsageError(str(err)) from None
    body(cfg, flags.FLAGS.workdir or default_workdir)

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
