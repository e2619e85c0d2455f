r"""Sweep planning: the grid, its configs, their chunks, and what the sweep will cost (NumPy only).

Nothing here touches a device or JAX: a plan can be built, sized and refused before anything is
allocated.
"""

from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple, Sequence

import numpy as np


class Configs(NamedTuple):
  """One entry per config (all arrays ``(C,)``).

  ``optimizer`` is optional: ``None`` (the default, every sweep before the optimizer axis) means that
  :func:`~dae_theory.sweep.run_sweep`'s ``optimizer`` argument trains every config; otherwise it is a
  string array of optax names (:data:`dae_theory.train.OPTIMIZERS`), one per config, and the engine
  trains each config with its own optimizer (one group per optimizer and width in the compiled
  program).
  """

  seed: np.ndarray
  width: np.ndarray
  n: np.ndarray
  sigma: np.ndarray
  lam: np.ndarray
  learning_rate: np.ndarray
  optimizer: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self.seed)

  def arrays(self) -> list[np.ndarray]:
    """The config columns that exist (``optimizer`` left out when ``None``)."""
    return [a for a in self if a is not None]

  def take(self, idx) -> "Configs":
    return Configs(*(None if a is None else np.asarray(a)[idx] for a in self))

  @staticmethod
  def concat(parts: "Sequence[Configs]") -> "Configs":
    """The configs of several grids one after the other (e.g. one :class:`Grid` per optimizer, each
    with its own learning rates). Either all parts have an ``optimizer`` column or none has."""
    parts = list(parts)
    if not parts:
      raise ValueError("concat needs at least one Configs.")
    has = {p.optimizer is not None for p in parts}
    if len(has) != 1:
      raise ValueError("concat: either every part has an optimizer column or none has.")
    cols = []
    for i, name in enumerate(Configs._fields):
      if name == "optimizer" and not has.pop():
        cols.append(None)
      else:
        cols.append(np.concatenate([np.asarray(p[i]) for p in parts]))
    return Configs(*cols)


@dataclasses.dataclass(frozen=True)
class Grid:
  """The Cartesian product of the swept values; ``configs()`` flattens it in the order σ, λ, learning
  rate, n, width, seed (the last axis, seed, varies fastest), so ``results.reshape(grid.shape)``
  restores the grid.

  ``optimizers`` (optax names, :data:`dae_theory.train.OPTIMIZERS`) is an optional leading axis: empty
  (the default) gives the six axes above and configs without an optimizer column (the sweep's
  ``optimizer`` argument trains them all); non-empty gives ``shape = (len(optimizers), σ, λ, lr, n,
  width, seed)`` and configs that carry their optimizer."""

  seeds: tuple[int, ...] = (0,)
  widths: tuple[int, ...] = (16,)
  sample_sizes: tuple[int, ...] = (64,)
  sigmas: tuple[float, ...] = (0.2,)
  lams: tuple[float, ...] = (1e-4,)
  learning_rates: tuple[float, ...] = (1e-2,)
  optimizers: tuple[str, ...] = ()

  def __post_init__(self):
    bad = [v for v in self.optimizers if not isinstance(v, str) or not v]
    if bad:
      raise ValueError(f"optimizers must be optax names (non-empty strings), got {bad}.")
    named = {"seeds": self.seeds, "widths": self.widths, "sample_sizes": self.sample_sizes,
             "sigmas": self.sigmas, "lams": self.lams, "learning_rates": self.learning_rates}
    for name, vals in named.items():
      if len(vals) == 0:
        raise ValueError(f"{name} must not be empty.")
    for name in ("widths", "sample_sizes"):
      bad = [v for v in named[name] if int(v) != v or v < 1]
      if bad:
        raise ValueError(f"{name} must be integers >= 1, got {bad}.")
    for name in ("sigmas", "learning_rates"):
      bad = [v for v in named[name] if not (np.isfinite(v) and v > 0)]
      if bad:
        raise ValueError(f"{name} must be finite and > 0, got {bad}.")
    bad = [v for v in self.lams if not (np.isfinite(v) and v >= 0)]
    if bad:
      raise ValueError(f"lams must be finite and >= 0, got {bad}.")
    bad = [v for v in self.seeds if int(v) != v or v < 0]
    if bad:
      raise ValueError(f"seeds must be integers >= 0, got {bad}.")

  @property
  def shape(self) -> tuple[int, ...]:
    base = (len(self.sigmas), len(self.lams), len(self.learning_rates), len(self.sample_sizes),
            len(self.widths), len(self.seeds))
    return ((len(self.optimizers),) if self.optimizers else ()) + base

  def configs(self) -> Configs:
    mesh = np.meshgrid(self.sigmas, self.lams, self.learning_rates, self.sample_sizes, self.widths,
                       self.seeds, indexing="ij")
    sig, lam, lr, n, w, s = (m.reshape(-1) for m in mesh)
    one = Configs(seed=s.astype(np.int32), width=w.astype(np.int32), n=n.astype(np.int32),
                  sigma=sig.astype(np.float64), lam=lam.astype(np.float64),
                  learning_rate=lr.astype(np.float64))
    if not self.optimizers:
      return one
    names = np.array(self.optimizers)
    return Configs.concat([Configs(*one[:6], optimizer=np.full(len(one), o, names.dtype))
                           for o in names])


def _width_period(width: np.ndarray) -> int:
  """The shortest L dividing len(width) with width[i] = width[i + L] for all i (a Grid's configs:
  |widths| · |seeds|)."""
  c = len(width)
  for period in range(1, c + 1):
    if c % period == 0 and np.array_equal(width, np.tile(width[:period], c // period)):
      return period
  return c


def plan_chunks(configs: Configs, chunk_size: int, bucket: bool = True
                ) -> list[list[np.ndarray]]:
  """Split config indices into chunks of at most ``chunk_size`` configs (one compiled call each), and
  each chunk into width groups (one ``vmap`` each inside the call); configs that carry their own
  optimizer are grouped by (optimizer, width), since a group shares one optax transformation.

  Chunks are consecutive configs in the given order (a :class:`Grid` keeps, for each (σ, λ, lr, n),
  all widths and seeds together, so a chunk's configs share noise and minibatches). With ``bucket``
  each chunk is split into groups of one width, so nothing is padded, and ``chunk_size`` is rounded
  down to a multiple of the period of the width pattern (when that period is not larger), so that every
  full chunk has the same group sizes and the sweep compiles one program. Without ``bucket`` a chunk
  is one group padded to its largest width. Each group's length is padded later to a multiple of the
  device count.

  Returns:
    per chunk, the list of its groups' config indices.
  """
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
  c = len(configs)
  opt = configs.optimizer

  def by_optimizer(ch):  # configs with their own optimizers: one group per optimizer in a chunk
    if opt is None:
      return [ch]
    return [ch[opt[ch] == o] for o in np.unique(opt[ch])]

  if not bucket:
    return [by_optimizer(np.arange(i, min(i + chunk_size, c))) for i in range(0, c, chunk_size)]
  period = _width_period(np.asarray(configs.width))
  if period <= chunk_size:
    chunk_size -= chunk_size % period
  chunks = [np.arange(i, min(i + chunk_size, c)) for i in range(0, c, chunk_size)]
  return [[g[configs.width[g] == w] for g in by_optimizer(ch) for w in np.unique(configs.width[g])]
          for ch in chunks]


def useful_flops_per_step(width: int, d: int, batch_size: int) -> int:
  r"""Matrix-product FLOPs of one training step of one model (true width, no padding):
  forward W₁ᵀy and W₂h (2 products), backward ∂W₂ = δhᵀ, ∂h = W₂ᵀδ, ∂W₁ = yδ_preᵀ (3 products), each
  2·B·d·p FLOPs: 10·B·d·p."""
  return 10 * batch_size * d * width


# --- Cost estimate ---------------------------------------------------------------------------------

SECONDS_PER_MODEL_STEP = 1.6e-5
r"""Rough fixed cost of one training step of one model (dispatch, Adam, the small operations), in s."""

USEFUL_FLOP_PER_S = 2.5e11
r"""Rough rate of the useful matrix-product FLOPs (:func:`useful_flops_per_step`), in FLOP/s.

With :data:`SECONDS_PER_MODEL_STEP` this is a two-term model, time = model-steps × 1.6e-5 s + FLOPs /
2.5e11, fitted to two sweeps measured on the 2-core CPU (README): the default phase diagram (224
models × 2000 steps, widths 2–128, d = 32: 4.5e5 model-steps, 3.3e11 FLOPs, 8.6 s on one JAX device)
and the default benchmark (64 models × 1000 steps, widths 16–128, d = 64: 6.4e4 model-steps, 6.3e11
FLOPs, 3.6 s compiled, one device per core). Small models are dominated by the first term, large ones
by the second. It excludes compilation (~2–3 s per chunk shape) and evaluation, and is only an order
of magnitude on other machines or under load.
"""


class Estimate(NamedTuple):
  """What a sweep will cost, from :func:`estimate` (before anything is allocated).

  Attributes:
    configs: number of configs C.
    bytes: size of the result arrays (``w1``, ``w2`` when untied, ``losses``, ``status``, the configs).
    model_steps: C × steps.
    flops: useful matrix-product FLOPs (true widths, :func:`useful_flops_per_step`).
    seconds: a rough training time (:data:`USEFUL_FLOP_PER_S`; compilation excluded).
  """

  configs: int
  bytes: int
  model_steps: int
  flops: float
  seconds: float

  def scaled(self, k: int) -> "Estimate":
    """The estimate for ``k`` times as many configs (e.g. ``k`` seeds of a one-seed grid): every
    field is linear in C."""
    return Estimate(self.configs * k, self.bytes * k, self.model_steps * k, self.flops * k,
                    self.seconds * k)

  def __str__(self) -> str:
    return (f"{self.configs:,} configs, {format_bytes(self.bytes)} of result arrays, "
            f"{self.model_steps:.3g} model-steps, {self.flops:.3g} useful FLOPs, roughly "
            f"{format_seconds(self.seconds)} of training")


def format_bytes(n: float) -> str:
  """``n`` bytes in B / KiB / MiB / GiB / TiB, 3 significant digits."""
  for unit in ("B", "KiB", "MiB", "GiB"):
    if abs(n) < 1024:
      return f"{n:.3g} {unit}"
    n /= 1024
  return f"{n:.3g} TiB"


def format_seconds(t: float) -> str:
  """A duration in s, min, h or days."""
  for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
    if t >= size:
      return f"{t / size:.3g} {unit}"
  return f"{t:.2g} s"


def estimate(configs: "Configs | Grid", d: int, steps: int, batch_size: int, tied: bool = True, *,
             log_every: int = 10, dtype=np.float32, entries: tuple[int, int] | None = None,
             checkpoints: int = 0) -> Estimate:
  r"""Memory of the result arrays and a rough compute time of a sweep, before anything is allocated.

  Bytes: the weights (for the DAE ``w1`` (C, d, p_max), and ``w2`` when untied) and ``losses`` (C, steps // log_every) in
  ``dtype``, ``status`` (C,) int32, the :class:`Configs` (36 bytes per config, plus the optimizer
  name column when there is one) and, with ``checkpoints`` K > 0, the weights at each checkpoint
  (K more copies of the weights). Time:
  :data:`SECONDS_PER_MODEL_STEP` per model-step plus the useful FLOPs (10·B·d·p per step of a
  width-p model) at :data:`USEFUL_FLOP_PER_S`.

  Args:
    configs: a :class:`Configs`, or a :class:`Grid` (counted from its axes without building its
      configs; for a grid too large to build, estimate one seed and use :meth:`Estimate.scaled`).
    d: data dimension.
    steps, batch_size, log_every: as in :func:`~dae_theory.sweep.run_sweep`.
    tied: the two-layer DAE's W₂ = W₁ (d entries per unit, else 2d).
    dtype: dtype of the data (float32 unless x64).
    entries: for another model plug, ``(fixed, per_unit)``: its number of weight entries that do not
      depend on the width, and per unit (:func:`dae_theory.sweep.engine.param_entries`).
    checkpoints: the number K of checkpoint steps whose weights are kept
      (:func:`~dae_theory.sweep.run_sweep`'s ``checkpoints``).

  Returns:
    Estimate.
  """
  if isinstance(configs, Grid):
    per_width = int(np.prod(configs.shape)) // len(configs.widths)
    c = per_width * len(configs.widths)
    p_max, width_sum = max(configs.widths), per_width * int(sum(configs.widths))
    # numpy's fixed-width unicode: 4 bytes per character of the longest name
    opt_bytes = 4 * max(len(o) for o in configs.optimizers) if configs.optimizers else 0
  else:
    width = np.asarray(configs.width, np.int64)
    c, p_max, width_sum = len(width), int(width.max()), int(width.sum())
    opt_bytes = 0 if configs.optimizer is None else np.asarray(configs.optimizer).dtype.itemsize
  item = np.dtype(dtype).itemsize
  fixed, per_unit = ((0, d if tied else 2 * d) if entries is None else entries)
  # per config: the weights (and their checkpoint copies), the loss windows, status (int32) and the
  # config itself (3 int32, 3 f64, the optimizer name)
  nbytes = c * ((1 + int(checkpoints)) * (fixed + per_unit * p_max) * item
                + (steps // log_every) * item + 4 + 36 + opt_bytes)
  flops = float(useful_flops_per_step(1, d, batch_size)) * width_sum * steps
  seconds = c * steps * SECONDS_PER_MODEL_STEP + flops / USEFUL_FLOP_PER_S
  return Estimate(c, nbytes, c * steps, flops, seconds)


def default_max_bytes() -> int:
  """Half the machine's physical memory (``os.sysconf``), or 8 GiB where the OS does not say."""
  try:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (AttributeError, ValueError, OSError):
    total = -1
  return total // 2 if total > 0 else 8 * 1024**3


def check_fits(est: Estimate, max_bytes: int | None = None) -> None:
  """Raise ``ValueError`` stating the estimate when its result arrays exceed ``max_bytes`` (default
  :func:`default_max_bytes`)."""
  limit = default_max_bytes() if max_bytes is None else int(max_bytes)
  if est.bytes > limit:
    raise ValueError(
        f"the sweep is too large: {est}; the result arrays alone exceed the limit of "
        f"{format_bytes(limit)} (max_bytes"
        + (", default half this machine's memory" if max_bytes is None else "")
        + "). Sweep fewer configs (seeds, widths, sample sizes, σ, λ, learning rates) or split the "
        "grid into several runs.")


