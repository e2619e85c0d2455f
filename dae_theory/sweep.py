r"""Train a grid of DAEs (seeds × widths × sample sizes × σ × λ × learning rate) as one compiled program.

Design (STYLE "Sweeps"):

* **One program per chunk.** A chunk of configs (``chunk_size``, default 64) is trained by one jitted
  function: a ``lax.scan`` over steps whose body, for each width group of the chunk, runs a ``vmap``
  over that group's configs, with the optax optimizer built inside the vmapped function (so σ, λ and
  the learning rate are traced per config). The program is compiled once per chunk shape (the widths
  and group sizes), not per value.
* **Widths** are **bucketed**: a chunk is split into groups of one width each, so nothing is padded.
  With ``bucket=False`` a chunk is one group padded to its largest width with a unit mask (padded
  columns start at 0, get exactly zero gradient and stay 0). Init scales use the true width (entries
  N(0, 1/d), the same as :func:`dae_theory.model.init_params`).
* **Sample sizes** share one data matrix ``x (n_max, d)``: config (n) draws its minibatches uniformly
  (with replacement) from the first n rows, so the loss is the unbiased estimate of Eq. 6 with the true
  1/n; evaluation weights the first n rows by 1/n.
* **Common random numbers.** The init of unit j depends only on (seed, j); the minibatch indices of
  step t only on (seed, n, t); the noise only on (seed, t). Configs that differ only in width, σ, λ or
  learning rate see the same samples and the same noise, and a config's result does not depend on the
  rest of the grid (seed i is the same run whatever the sweep size). Inside a chunk the noise is drawn
  once per distinct seed and the minibatch once per distinct (seed, n), and shared.
* **Devices.** The config axis of a chunk is sharded over every visible device (``jax.sharding.Mesh``
  + ``NamedSharding``); each width group is padded to a multiple of the device count.
* **Cost first.** :func:`estimate` sizes the result arrays and the compute (model-steps, FLOPs, a rough
  time) before anything is allocated; :func:`run_sweep` logs it and refuses a sweep whose results
  would not fit (``max_bytes``, default half the machine's memory), with the estimate in the message.
* **Long runs.** Each finished chunk is written atomically to ``workdir/chunks/`` with its own
  fingerprint (of its configs, the sweep settings and the data) and a checksum of its arrays. A
  restarted sweep with the same spec reuses the chunks that verify, recomputes (and says so) any that
  is unreadable, truncated or fails its checksum, and refuses one that belongs to another sweep.
* **Divergence.** A config diverges at the first step whose loss or update is not finite or whose loss
  exceeds :data:`dae_theory.train.DIVERGENCE_FACTOR` × its first step's loss
  (:func:`dae_theory.train.guarded_step`); it is frozen at the weights of that step and the step is
  recorded in ``status`` (−1 = finished normally).

Loss per step: the mean over the batch of ‖f(x_b + σε_b) − x_b‖² plus λ(‖W₁‖² + ‖W₂‖²) (Eq. 6; tied
weights pay 2λ‖W‖²), with the gradient written out (:func:`dae_theory.loss.dae_loss_and_grad`).
Optimizer: Adam with cosine decay (optax).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
import zipfile
import zlib
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dae_theory import constructions, io, metrics, model
from dae_theory.loss import dae_loss_and_grad
from dae_theory.model import DAEParams
from dae_theory.train import guarded_step, init_guard

AXES = ("sigma", "lam", "learning_rate", "n", "width", "seed")


class Configs(NamedTuple):
  """One entry per config (all arrays ``(C,)``)."""

  seed: np.ndarray
  width: np.ndarray
  n: np.ndarray
  sigma: np.ndarray
  lam: np.ndarray
  learning_rate: np.ndarray

  def __len__(self) -> int:
    return len(self.seed)

  def take(self, idx) -> "Configs":
    return Configs(*(np.asarray(a)[idx] for a in self))


@dataclasses.dataclass(frozen=True)
class Grid:
  """The Cartesian product of the swept values; ``configs()`` flattens it in ``AXES`` order (the last
  axis, seed, varies fastest), so ``results.reshape(grid.shape)`` restores the grid."""

  seeds: tuple[int, ...] = (0,)
  widths: tuple[int, ...] = (16,)
  sample_sizes: tuple[int, ...] = (64,)
  sigmas: tuple[float, ...] = (0.2,)
  lams: tuple[float, ...] = (1e-4,)
  learning_rates: tuple[float, ...] = (1e-2,)

  def __post_init__(self):
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
    return (len(self.sigmas), len(self.lams), len(self.learning_rates), len(self.sample_sizes),
            len(self.widths), len(self.seeds))

  def configs(self) -> Configs:
    mesh = np.meshgrid(self.sigmas, self.lams, self.learning_rates, self.sample_sizes, self.widths,
                       self.seeds, indexing="ij")
    sig, lam, lr, n, w, s = (m.reshape(-1) for m in mesh)
    return Configs(seed=s.astype(np.int32), width=w.astype(np.int32), n=n.astype(np.int32),
                   sigma=sig.astype(np.float64), lam=lam.astype(np.float64),
                   learning_rate=lr.astype(np.float64))


class SweepResult(NamedTuple):
  """Outcome of :func:`run_sweep`, in config order.

  Attributes:
    configs: the configs.
    w1: ``(C, d, p_max)`` weights, zero beyond each config's width (``w2`` likewise when untied).
    losses: ``(C, steps // log_every)`` mean stochastic loss over each logging window.
    status: ``(C,)`` the first step that diverged (non-finite, or a loss above
      ``train.DIVERGENCE_FACTOR`` × the first step's), or −1.
  """

  configs: Configs
  w1: np.ndarray
  w2: np.ndarray | None
  losses: np.ndarray
  status: np.ndarray


def _init_columns(key, d: int, p_max: int, width, dtype):
  """Unit j's column from ``fold_in(key, j)``: padding to any p_max leaves the first columns equal."""
  cols = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(key, j), (d,), dtype))(
      jnp.arange(p_max))
  mask = (jnp.arange(p_max) < width).astype(dtype)
  return cols.T / jnp.sqrt(jnp.asarray(d, dtype)) * mask[None, :], mask


def _train_one(x, base_key, seed, width, n, sigma, lam, lr, *, steps: int, batch_size: int,
               p_max: int, tied: bool, log_every: int):
  """Train one config: the plain per-config reference (a ``lax.scan`` over steps).

  :func:`_train_chunk` implements the same algorithm with the same random streams for many configs at
  once; the tests check that both give the same weights.
  """
  d = x.shape[1]
  dtype = x.dtype
  k_init, k_data = _config_keys(base_key, seed)
  w1, mask = _init_columns(jax.random.fold_in(k_init, 0), d, p_max, width, dtype)
  w2 = None if tied else _init_columns(jax.random.fold_in(k_init, 1), d, p_max, width, dtype)[0]
  params = DAEParams(w1, w2)
  opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
  masked = lambda tree: jax.tree.map(lambda a: a * mask[None, :], tree)

  def step(carry, t):
    p, state, bad, ref = carry
    k_idx, k_eps = jax.random.split(jax.random.fold_in(k_data, t))
    idx = jax.random.randint(k_idx, (batch_size,), 0, n)
    xb = x[idx]
    eps = jax.random.normal(k_eps, (batch_size, d), dtype)
    val, grads = dae_loss_and_grad(p, xb, sigma, lam, eps)
    return guarded_step(opt, p, state, masked(grads), val, bad, ref, t, project=masked), val

  init = (params, opt.init(params), *init_guard(dtype))
  (params, _, bad, _), losses = jax.lax.scan(step, init, jnp.arange(steps))
  windows = losses.reshape(steps // log_every, log_every).mean(1)
  return params, windows, bad


def _config_keys(base_key, seed):
  key = jax.random.fold_in(base_key, seed)
  return jax.random.split(key)  # (k_init, k_data)


class _Group(NamedTuple):
  """The configs of a chunk that share one padded width ``p`` (arrays ``(C_g,)``): their settings, the
  slot of their seed among the chunk's distinct seeds and of their (seed, n) pair among its pairs."""

  seed: jax.Array
  width: jax.Array
  n: jax.Array
  sigma: jax.Array
  lam: jax.Array
  lr: jax.Array
  seed_slot: jax.Array
  pair_slot: jax.Array


def _train_chunk_impl(x, base_key, groups, unique_seeds, pair_seed_slot, pair_n, *, steps,
                      batch_size, widths, tied, log_every):
  """Train a chunk of configs, all widths in one program: ``lax.scan`` over steps whose body runs, for
  each width group, a ``vmap`` over that group's configs.

  The same algorithm and random streams as :func:`_train_one` (the per-config reference), laid out for
  speed: the noise of step t depends only on the seed and the minibatch only on (seed, n), so each is
  drawn once per distinct seed / pair of the chunk and shared by every config (every width, σ, λ and
  learning rate) that uses it: common random numbers without recomputation. On the 2-core CPU,
  drawing the noise per config cost as much as the five matrix products of a step, and one program for
  all widths (instead of one per width) ran the default benchmark 1.4× faster and compiles once.

  Args:
    groups: a tuple of :class:`_Group`, one per entry of ``widths`` (its padded width).
    unique_seeds: ``(S,)`` the chunk's distinct seeds.
    pair_seed_slot, pair_n: ``(P,)`` the chunk's distinct (seed, n) pairs: seed slot and n.

  Returns:
    per group: ``(params, loss windows (C_g, steps // log_every), status (C_g,))``.
  """
  d = x.shape[1]
  dtype = x.dtype

  def init_one(seed_c, width_c, lr_c, p_max):
    k_init, _ = _config_keys(base_key, seed_c)
    w1, _ = _init_columns(jax.random.fold_in(k_init, 0), d, p_max, width_c, dtype)
    w2 = None if tied else _init_columns(jax.random.fold_in(k_init, 1), d, p_max, width_c,
                                         dtype)[0]
    params = DAEParams(w1, w2)
    return params, optax.adam(optax.cosine_decay_schedule(lr_c, steps)).init(params)

  k_data = jax.vmap(lambda s: _config_keys(base_key, s)[1])(unique_seeds)

  def update_one(p, state, bad, ref, xb, eps, sigma_c, lam_c, lr_c, t):
    # No masking needed here: a padded unit starts at 0, so relu(0) = 0 gives it exactly zero gradient,
    # Adam's moments stay 0 and its update 0/(0 + eps) = 0 (the tests check padded units stay 0).
    # After a divergence only the weights are frozen; the optimizer state is no longer used.
    opt = optax.adam(optax.cosine_decay_schedule(lr_c, steps))
    val, grads = dae_loss_and_grad(p, xb, sigma_c, lam_c, eps)
    return (*guarded_step(opt, p, state, grads, val, bad, ref, t, freeze_state=False), val)

  def step(carry, t):
    k_pairs = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t)))(k_data)
    eps = jax.vmap(lambda k: jax.random.normal(k, (batch_size, d), dtype))(k_pairs[:, 1])
    idx = jax.vmap(lambda k, n: jax.random.randint(k, (batch_size,), 0, n))(
        k_pairs[pair_seed_slot, 0], pair_n)
    xb = x[idx]  # (P, B, d)
    new, vals = [], []
    for (p, st, bad, ref), g in zip(carry, groups):
      p, st, bad, ref, val = jax.vmap(update_one, in_axes=(0,) * 9 + (None,))(
          p, st, bad, ref, xb[g.pair_slot], eps[g.seed_slot], g.sigma, g.lam, g.lr, t)
      new.append((p, st, bad, ref))
      vals.append(val)
    return tuple(new), tuple(vals)

  init = []
  for g, p_max in zip(groups, widths):
    params, states = jax.vmap(functools.partial(init_one, p_max=p_max))(g.seed, g.width, g.lr)
    bad, ref = init_guard(dtype)
    init.append((params, states, jnp.full(g.seed.shape, bad), jnp.full(g.seed.shape, ref)))
  final, losses = jax.lax.scan(step, tuple(init), jnp.arange(steps))  # losses: per group (steps, C_g)
  return tuple((params, l.T.reshape(l.shape[1], steps // log_every, log_every).mean(-1), bad)
               for (params, _, bad, _), l in zip(final, losses))


_CHUNK_STATIC = ("steps", "batch_size", "widths", "tied", "log_every")
_train_chunk = jax.jit(_train_chunk_impl, static_argnames=_CHUNK_STATIC)
# On CPU the chunk program is compiled at backend optimization level 1 instead of XLA's default 3: on
# the 2-core CPU the default benchmark chunk (64 configs, 4 widths, 1000 steps) compiled in 2.2 s
# instead of 4.1 s and ran as fast (best of 6 interleaved runs: 4.13 s against 4.35 s).
_train_chunk_cpu = jax.jit(_train_chunk_impl, static_argnames=_CHUNK_STATIC,
                           compiler_options={"xla_backend_optimization_level": 1})


def _chunk_trainer(devices: Sequence):
  """The jitted chunk trainer for these devices (CPU: the -O1 build)."""
  return _train_chunk_cpu if devices[0].platform == "cpu" else _train_chunk


def train_config(x, seed: int, width: int, n: int, sigma: float, lam: float, learning_rate: float, *,
                 steps: int, batch_size: int, tied: bool = True, log_every: int = 1,
                 base_key: int = 0):
  """A single config, trained alone (no vmap, no padding): the reference the sweep must equal.

  Returns:
    ``(params, losses (steps // log_every,), diverged_at)``.
  """
  dt = jnp.asarray(x).dtype
  p, l, b = _train_single(jnp.asarray(x), jax.random.key(base_key), seed, width, n,
                          jnp.asarray(sigma, dt), jnp.asarray(lam, dt),
                          jnp.asarray(learning_rate, dt), steps=steps, batch_size=batch_size,
                          p_max=int(width), tied=tied, log_every=log_every)
  return p, l, int(b)


_train_single = jax.jit(_train_one, static_argnames=("steps", "batch_size", "p_max", "tied",
                                                     "log_every"))


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
  each chunk into width groups (one ``vmap`` each inside the call).

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
  if not bucket:
    return [[np.arange(i, min(i + chunk_size, c))] for i in range(0, c, chunk_size)]
  period = _width_period(np.asarray(configs.width))
  if period <= chunk_size:
    chunk_size -= chunk_size % period
  chunks = [np.arange(i, min(i + chunk_size, c)) for i in range(0, c, chunk_size)]
  return [[ch[configs.width[ch] == w] for w in np.unique(configs.width[ch])] for ch in chunks]


def _chunk_inputs(configs: Configs, groups: list[np.ndarray], n_devices: int, dtype, shard):
  """Device arrays of one chunk: per group a :class:`_Group` (padded to a multiple of the device count
  by repeating its last config, sharded over the config axis), the distinct seeds and (seed, n) pairs
  (replicated), and each group's padded width."""
  chunk = np.concatenate(groups)
  seeds = np.unique(configs.seed[chunk])
  pairs = np.unique(np.stack([configs.seed[chunk], configs.n[chunk]], 1), axis=0)
  out, widths = [], []
  for idx in groups:
    full = np.concatenate([idx, np.repeat(idx[-1:], (-len(idx)) % n_devices)])
    sub = configs.take(full)
    pair_slot = np.array([np.flatnonzero((pairs[:, 0] == s) & (pairs[:, 1] == n))[0]
                          for s, n in zip(sub.seed, sub.n)])
    cols = (*sub, np.searchsorted(seeds, sub.seed), pair_slot)
    types = (jnp.int32,) * 3 + (dtype,) * 3 + (jnp.int32,) * 2
    out.append(_Group(*(jax.device_put(jnp.asarray(a, t), shard) for a, t in zip(cols, types))))
    widths.append(int(np.max(sub.width)))
  return (tuple(out), jnp.asarray(seeds, jnp.int32),
          jnp.asarray(np.searchsorted(seeds, pairs[:, 0]), jnp.int32),
          jnp.asarray(pairs[:, 1], jnp.int32), tuple(widths))


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
             log_every: int = 10, dtype=np.float32) -> Estimate:
  r"""Memory of the result arrays and a rough compute time of a sweep, before anything is allocated.

  Bytes: ``w1`` (C, d, p_max) (and ``w2`` when untied) and ``losses`` (C, steps // log_every) in
  ``dtype``, ``status`` (C,) int32 and the :class:`Configs` (36 bytes per config). Time:
  :data:`SECONDS_PER_MODEL_STEP` per model-step plus the useful FLOPs (10·B·d·p per step of a
  width-p model) at :data:`USEFUL_FLOP_PER_S`.

  Args:
    configs: a :class:`Configs`, or a :class:`Grid` (counted from its axes without building its
      configs; for a grid too large to build, estimate one seed and use :meth:`Estimate.scaled`).
    d: data dimension.
    steps, batch_size, tied, log_every: as in :func:`run_sweep`.
    dtype: dtype of the data (float32 unless x64).

  Returns:
    Estimate.
  """
  if isinstance(configs, Grid):
    per_width = int(np.prod(configs.shape)) // len(configs.widths)
    c = per_width * len(configs.widths)
    p_max, width_sum = max(configs.widths), per_width * int(sum(configs.widths))
  else:
    width = np.asarray(configs.width, np.int64)
    c, p_max, width_sum = len(width), int(width.max()), int(width.sum())
  item = np.dtype(dtype).itemsize
  n_w = 1 if tied else 2
  # per config: the weights, the loss windows, status (int32) and the config itself (3 int32, 3 f64)
  nbytes = c * (n_w * d * p_max * item + (steps // log_every) * item + 4 + 36)
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


# --- Chunk files -----------------------------------------------------------------------------------

LAYOUT = 4
"""Version of the chunk-file layout, part of every fingerprint (4: each chunk file carries its own
fingerprint and a checksum of its arrays)."""

def _data_digest(x: np.ndarray) -> bytes:
  h = hashlib.sha256()
  h.update(json.dumps([x.dtype.str, list(x.shape)]).encode())
  h.update(np.ascontiguousarray(x).tobytes())
  return h.digest()


def _fingerprint(data_digest: bytes, settings: dict, configs: Configs, index=None) -> str:
  """sha256 (16 hex digits) of the data, the settings and the configs (and their indices)."""
  h = hashlib.sha256(data_digest)
  h.update(json.dumps(settings, sort_keys=True).encode())
  if index is not None:
    h.update(np.asarray(index, np.int64).tobytes())
  for a in configs:
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:16]


def _checksum(arrays: dict) -> str:
  """sha256 of every array's name, dtype, shape and bytes, in name order."""
  h = hashlib.sha256()
  for k in sorted(arrays):
    a = np.ascontiguousarray(arrays[k])
    h.update(json.dumps([k, a.dtype.str, list(a.shape)]).encode())
    h.update(a.tobytes())
  return h.hexdigest()


def _write_chunk(path: str, arrays: dict, fingerprint: str) -> None:
  io.write_npz(path, {**arrays, "fingerprint": np.array(fingerprint),
                      "checksum": np.array(_checksum(arrays))})


def _read_chunk(path: str, fingerprint: str, idx: np.ndarray, shapes: dict, p_max: int,
                workdir: str) -> tuple[dict | None, str]:
  """Read and verify a chunk file: ``(arrays, "")``, or ``(None, why)`` when it must be recomputed
  (unreadable, truncated, failing its checksum, or of the wrong shapes).

  Args:
    shapes: the expected shape of each array, ``w1``/``w2`` with ``None`` for their padded width
      (at most ``p_max``).

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
  found = str(arrays.pop("fingerprint"))
  if found != fingerprint:
    raise ValueError(
        f"{path} belongs to another sweep (chunk fingerprint {found}, this sweep's {fingerprint}): "
        f"it was trained with other configs, settings or data, e.g. by an earlier run in {workdir} "
        f"with other flags. It is not reused. Use a new workdir, or delete {os.path.dirname(path)} "
        "to recompute.")
  if str(arrays.pop("checksum", "")) != _checksum(arrays):
    return None, "failing its checksum (its arrays were modified or corrupted)"
  got = {k: tuple(a.shape) for k, a in arrays.items()}
  ok = set(got) == set(shapes) and all(
      got[k][:-1] == v[:-1] and (got[k][-1] <= p_max if v[-1] is None else got[k][-1] == v[-1])
      for k, v in shapes.items())
  if not ok or not np.array_equal(arrays["index"], idx):
    return None, f"of the wrong shapes ({got}; expected {shapes})"
  return arrays, ""


def run_sweep(x, configs: Configs, *, steps: int, batch_size: int, tied: bool = True,
              chunk_size: int = 64, bucket: bool = True, log_every: int = 10, base_key: int = 0,
              workdir: str | None = None, log: Callable[[str], None] | None = print,
              devices: Sequence | None = None, max_bytes: int | None = None) -> SweepResult:
  """Train every config; see the module docstring for the design.

  Args:
    x: ``(n_max, d)`` training data; config (n) uses the first n rows.
    configs: from :meth:`Grid.configs` (or any ``Configs``).
    steps: optimizer steps (a multiple of ``log_every``).
    batch_size: minibatch size (drawn with replacement from the first n rows).
    tied: W₂ = W₁.
    chunk_size: configs per compiled call (each width group in it is padded to a multiple of the
      device count).
    bucket: group the configs of a chunk by width so that nothing is padded (otherwise one group
      padded to the chunk's largest width).
    log_every: loss logging window (steps).
    base_key: integer seed of the whole sweep; config seed s uses ``fold_in(key(base_key), s)``.
    workdir: if given, finished chunks are saved there and reused on restart (each verified by its
      fingerprint and checksum), and each chunk appends a progress line to ``workdir/metrics.jsonl``.
    log: progress sink (the estimate first, then configs done, model-steps/s, ETA, chunks recomputed
      from a bad file); ``None`` for silence.
    devices: devices to shard the config axis over (default: all).
    max_bytes: refuse a sweep whose result arrays (:func:`estimate`) exceed this many bytes (default
      :func:`default_max_bytes`: half the machine's memory).

  Returns:
    SweepResult.

  Raises:
    ValueError: bad arguments (named), NaN/inf in ``x``, n larger than the data, result arrays larger
      than ``max_bytes`` (with the estimate), or a workdir holding another sweep (its spec or one of
      its chunk files, named).
  """
  x = jnp.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"x must have shape (n_max, d), got {x.shape}.")
  n_max, d = x.shape
  if len(configs) == 0:
    raise ValueError("configs is empty.")
  if int(np.max(configs.n)) > n_max:
    raise ValueError(f"sample size n={int(np.max(configs.n))} is larger than the data (n_max={n_max}).")
  if steps < 1 or steps % log_every:
    raise ValueError(f"steps must be >= 1 and a multiple of log_every={log_every}, got {steps}.")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  x_np = np.asarray(x)
  n_bad = int(np.sum(~np.isfinite(x_np)))
  if n_bad:
    raise ValueError(f"x holds {n_bad} non-finite entries (NaN or inf) of {x_np.size}; every config "
                     "would train on them. Clean or drop those entries first.")
  est = estimate(configs, d, steps, batch_size, tied, log_every=log_every, dtype=x_np.dtype)
  check_fits(est, max_bytes)
  if log is not None:
    log(f"sweep: {est}")
  devices = list(devices or jax.devices())
  mesh = Mesh(np.array(devices), ("configs",))
  shard = NamedSharding(mesh, PartitionSpec("configs"))
  chunks = plan_chunks(configs, chunk_size, bucket)
  p_global = int(np.max(configs.width))
  settings = dict(steps=steps, batch_size=batch_size, tied=tied, log_every=log_every,
                  base_key=base_key, chunk_size=chunk_size, bucket=bucket, layout=LAYOUT)
  digest = _data_digest(x_np)
  fp = _fingerprint(digest, settings, configs)
  chunk_dir = spec_path = None
  if workdir is not None:
    chunk_dir = os.path.join(workdir, "chunks")
    spec_path = os.path.join(workdir, "sweep_spec.json")
    if os.path.exists(spec_path):
      with open(spec_path) as f:
        spec = json.load(f)
      if spec["fingerprint"] != fp:
        older = ("" if spec.get("layout") == LAYOUT else
                 f", written by an older version of the sweep engine (chunk layout < {LAYOUT})")
        raise ValueError(f"{workdir} holds a different sweep (fingerprint {spec['fingerprint']}, "
                         f"this one {fp}{older}); use a new workdir or delete it.")

  c = len(configs)
  w1 = np.zeros((c, d, p_global), x_np.dtype)
  w2 = None if tied else np.zeros_like(w1)
  losses = np.zeros((c, steps // log_every), x_np.dtype)
  status = np.full((c,), -1, np.int32)

  # Chunks already on disk: verify each (its own fingerprint and checksum) before any compute; one of
  # another sweep is refused, an unreadable or corrupted one is recomputed.
  paths, chunk_fps, on_disk = [], [], set()
  for ci, groups in enumerate(chunks):
    idx = np.concatenate(groups)
    chunk_fps.append(_fingerprint(digest, settings, configs.take(idx), idx))
    paths.append(None if chunk_dir is None else os.path.join(chunk_dir, f"chunk_{ci:05d}.npz"))
    if paths[-1] is None or not os.path.exists(paths[-1]):
      continue
    shapes = {"w1": (len(idx), d, None), "losses": (len(idx), steps // log_every),
              "status": (len(idx),), "index": (len(idx),)}
    if not tied:
      shapes["w2"] = shapes["w1"]
    saved, why = _read_chunk(paths[-1], chunk_fps[-1], idx, shapes, p_global, workdir)
    if saved is None:
      if log is not None:
        log(f"sweep: {paths[-1]} is {why}; recomputing that chunk")
      continue
    pw = saved["w1"].shape[2]
    w1[idx, :, :pw] = saved["w1"]
    if not tied:
      w2[idx, :, :pw] = saved["w2"]
    losses[idx], status[idx] = saved["losses"], saved["status"]
    on_disk.add(ci)
  if spec_path is not None and not os.path.exists(spec_path):
    io.write_json(spec_path, {"fingerprint": fp, "chunks": len(chunks), "configs": len(configs),
                              "layout": LAYOUT})

  key = jax.random.key(base_key)
  started, trained = time.time(), 0
  for ci, groups in enumerate(chunks):
    idx = np.concatenate(groups)
    loaded = ci in on_disk
    if not loaded:
      inputs, seeds, pair_seed, pair_n, widths = _chunk_inputs(configs, groups, len(devices),
                                                               x.dtype, shard)
      res = _chunk_trainer(devices)(x, key, inputs, seeds, pair_seed, pair_n, steps=steps,
                                    batch_size=batch_size, widths=widths, tied=tied,
                                    log_every=log_every)
      pw = max(widths)
      out_w1 = np.zeros((len(idx), d, pw), x.dtype)
      out_w2 = None if tied else np.zeros_like(out_w1)
      out_l = np.zeros((len(idx), steps // log_every), x.dtype)
      out_s = np.zeros((len(idx),), np.int32)
      start = 0
      for g, (params, l, st), p in zip(groups, res, widths):
        rows = slice(start, start + len(g))
        out_w1[rows, :, :p] = np.asarray(params.w1)[:len(g)]
        if not tied:
          out_w2[rows, :, :p] = np.asarray(params.w2)[:len(g)]
        out_l[rows], out_s[rows] = np.asarray(l)[:len(g)], np.asarray(st)[:len(g)]
        start += len(g)
      if paths[ci] is not None:
        arrays = {"w1": out_w1, "losses": out_l, "status": out_s, "index": idx}
        if not tied:
          arrays["w2"] = out_w2
        _write_chunk(paths[ci], arrays, chunk_fps[ci])
      w1[idx, :, :pw] = out_w1
      if not tied:
        w2[idx, :, :pw] = out_w2
      losses[idx], status[idx] = out_l, out_s
      trained += len(idx)
    out_l, out_s = losses[idx], status[idx]
    done = sum(len(np.concatenate(g)) for g in chunks[:ci + 1])
    el = time.time() - started
    rate = trained * steps / el if trained else float("nan")
    eta = (c - done) * steps / rate if trained else float("nan")
    if chunk_dir is not None:
      io.append_jsonl(os.path.join(workdir, "metrics.jsonl"), {
          "chunk": ci, "chunks": len(chunks), "configs_done": done, "configs": c,
          "from_disk": bool(loaded), "elapsed_s": round(el, 3), "model_steps_per_s": rate,
          "eta_s": eta, "diverged": int(np.sum(out_s >= 0)),
          "final_loss_mean": float(np.mean(out_l[:, -1]))})
    if log is not None:
      log(f"sweep: chunk {ci + 1}/{len(chunks)}, configs {done}/{c}, {rate:,.0f} model-steps/s, "
          f"ETA {eta:.0f} s" + (f", {int(np.sum(out_s >= 0))} diverged" if np.any(out_s >= 0) else ""))
  return SweepResult(configs, w1, w2, losses, status)


def cpu_cores() -> int:
  """The number of CPU cores this process may run on (its affinity mask where the OS has one)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def split_cpu(n: int | None = None) -> int:
  """Present the host CPU as ``n`` JAX devices (default: one per core) so that :func:`run_sweep`
  shards its configs across cores.

  One CPU device runs a chunk's many small operations (256 × 64 × p products, Adam on small arrays)
  one after another, and only the larger products use more than one core; one device per core runs
  the halves of the config axis side by side. On the 2-core CPU the compiled default benchmark took
  3.6–3.8 s on two devices against 3.7–5.4 s on one (``python -m benchmarks.sweep``, 4 runs each).
  Results do not depend on the device count (the tests compare 4 devices with 1). Only the CPU
  backend is affected; the environment variable ``JAX_NUM_CPU_DEVICES`` does the same from a shell.

  Must be called before JAX runs anything (JAX raises ``RuntimeError`` otherwise), e.g. right after
  the imports of a script.

  Returns:
    the device count set.
  """
  n = cpu_cores() if n is None else int(n)
  if n < 1:
    raise ValueError(f"n must be >= 1 CPU devices, got {n}.")
  jax.config.update("jax_num_cpu_devices", n)
  return n


def useful_flops_per_step(width: int, d: int, batch_size: int) -> int:
  r"""Matrix-product FLOPs of one training step of one model (true width, no padding):
  forward W₁ᵀy and W₂h (2 products), backward ∂W₂ = δhᵀ, ∂h = W₂ᵀδ, ∂W₁ = yδ_preᵀ (3 products), each
  2·B·d·p FLOPs: 10·B·d·p."""
  return 10 * batch_size * d * width


@functools.partial(jax.jit, static_argnames=("width",))
def _eval_one(w1, x, n, x_test, sigma, key, *, width):
  """Metrics of one tied config (true width, first n rows of x)."""
  params = DAEParams(w1[:, :width])
  n_max, d = x.shape
  weight = (jnp.arange(n_max) < n).astype(x.dtype) / n
  k1, k2 = jax.random.split(key)
  y_tr = x + sigma * jax.random.normal(k1, x.shape, x.dtype)
  y_te = x_test + sigma * jax.random.normal(k2, x_test.shape, x.dtype)
  err_tr = jnp.sum((model.apply(params, y_tr) - x) ** 2, -1)
  err_te = jnp.sum((model.apply(params, y_te) - x_test) ** 2, -1)
  h_tr, h_te = model.representation(params, y_tr), model.representation(params, y_te)
  cos = metrics.cosine_matrix(params.w1.T, x)  # (p, n_max)
  best = jnp.max(jnp.where((jnp.arange(n_max) < n)[None, :], cos, -jnp.inf), 1)
  norms = jnp.linalg.norm(params.w1, axis=0)
  live = norms > 1e-2 * jnp.max(norms)
  mem_frac = jnp.sum(live & (best >= 0.95)) / jnp.maximum(jnp.sum(live), 1)
  stored = jnp.max(jnp.where(live[:, None], cos, -jnp.inf), 0) >= 0.95  # (n_max,) per sample
  return {
      "stored_fraction": jnp.sum(weight * stored),
      "train_loss": jnp.sum(weight * err_tr), "test_loss": jnp.mean(err_te),
      "memorizing_fraction": mem_frac,
      "std_h_train": jnp.sum(weight * metrics.code_std(h_tr)),
      "std_h_test": jnp.mean(metrics.code_std(h_te)),
      "pr_train": jnp.sum(weight * metrics.participation_ratio(h_tr)),
      "pr_test": jnp.mean(metrics.participation_ratio(h_te)),
  }


def evaluate(result: SweepResult, x, x_test, labels=None, key: int = 0) -> dict[str, np.ndarray]:
  """Per-config metrics of a tied sweep (arrays ``(C,)``):

  train/test loss (Eq. 6 data term, one fresh noise draw per point; train weighted 1/n over the first
  n rows), ``memorizing_fraction`` (live columns whose best cosine to one of the config's training
  samples is ≥ 0.95), ``stored_fraction`` (training samples that some live column matches with cosine
  ≥ 0.95: robust to unused columns left over from the init when p ≫ n), std(h) and participation ratio on noisy train and test points, and the
  :func:`~dae_theory.metrics.gram_distance` to the Eq. 9 matrix (``dist_mem``, built from the first n
  rows whatever their angles) and to Eq. 8 (``dist_gen``, p_k = p // M per cluster clipped to the
  cluster's rank; NaN when p < M or the construction is refused).
  """
  if result.w2 is not None:
    raise ValueError("evaluate covers tied sweeps.")
  x, x_test = jnp.asarray(x), jnp.asarray(x_test)
  cfg = result.configs
  out: dict[str, list] = {}
  for i in range(len(cfg)):
    width, n, sigma, lam = int(cfg.width[i]), int(cfg.n[i]), float(cfg.sigma[i]), float(cfg.lam[i])
    row = _eval_one(jnp.asarray(result.w1[i]), x, n, x_test, jnp.asarray(sigma, x.dtype),
                    jax.random.fold_in(jax.random.key(key), i), width=width)
    row = {k: float(v) for k, v in row.items()}
    params = DAEParams(jnp.asarray(result.w1[i, :, :width]))
    try:
      mem = constructions.memorization_weights(x[:n], sigma, lam, require_obtuse=False)
      row["dist_mem"] = float(metrics.gram_distance(params, mem.params))
    except ValueError:
      row["dist_mem"] = float("nan")
    row["dist_gen"] = float("nan")
    if labels is not None:
      lab = np.asarray(labels)[:n]
      m = int(np.max(np.asarray(labels))) + 1
      if width >= m and len(np.unique(lab)) == m:
        alloc = np.repeat(np.arange(m), width // m)
        try:
          gen = constructions.construction_for_allocation(x[:n], lab, alloc, sigma, lam)
          row["dist_gen"] = float(metrics.gram_distance(params, gen.params))
        except ValueError:
          pass
    for k, v in row.items():
      out.setdefault(k, []).append(v)
  return {k: np.array(v) for k, v in out.items()}
