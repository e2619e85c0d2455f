r"""The compiled sweep engine: many configs of any model plug trained as one program per chunk.

Design (docs/experiments.md §6):

* **One program per chunk.** A chunk of configs (``chunk_size``, default 64) is trained by one jitted
  function: a ``lax.scan`` over steps whose body, for each width group of the chunk, runs a ``vmap``
  of :func:`dae_theory.train.train_step` (the single-config trainer's own step) over that group's
  configs, with the optax optimizer built inside the vmapped function (so σ, λ and the learning rate
  are traced per config). The program is compiled once per chunk shape (widths and group sizes).
* **Widths** are **bucketed**: a chunk is split into groups of one width each, so nothing is padded.
  With ``bucket=False`` a chunk is one group padded to its largest width with zero units, allowed only
  for a plug whose zero units get exactly zero gradient (``zero_units_stay_zero``).
* **Sample sizes** share one data matrix ``x (n_max, d)``: config (n) uses the first n rows
  (:func:`dae_theory.train.minibatch`: with replacement, or the full batch weighted 1/n).
* **Common random numbers.** A config with seed s is the run with key ``fold_in(key, s)``
  (:func:`dae_theory.train.run_keys`): its init depends only on (seed, unit), its minibatch at step t
  only on (seed, n, t), its noise only on (seed, t) (for the full batch, one draw for all n_max rows,
  of which a config reads its first n). So a config's result does not depend on the rest
  of the grid and equals :func:`train_config` (the single-config trainer) — the tests check it. Inside
  a chunk the noise is drawn once per distinct seed and the minibatch once per distinct (seed, n).
* **Devices.** The config axis of a chunk is sharded over every device of the process
  (:mod:`dae_theory.sweep.devices`); each width group is padded to a multiple of the device count.
* **Processes.** Under ``jax.distributed`` the chunks are divided among the processes (round-robin
  over those still to train), each trains its share on its own devices and writes those chunk files;
  after all are done each reads the others' chunks from the shared workdir and returns the full
  result. A chunk does not depend on which process or how many trained it, so a restart with another
  process count resumes from the same chunks (:mod:`dae_theory.sweep.distributed`).
* **Cost first.** :func:`dae_theory.sweep.plan.estimate` sizes the result arrays and the compute
  before anything is allocated; :func:`run_sweep` logs it and refuses a sweep whose results would not
  fit (``max_bytes``).
* **Long runs.** Finished chunks are stored and verified by :mod:`dae_theory.sweep.store`.
* **Divergence.** A config diverges as in :func:`dae_theory.train.guarded_step`; it is frozen at the
  weights of that step and the step is recorded in ``status`` (−1 = finished normally).
* **Optimizers.** Configs may carry their own optimizer (``Configs.optimizer``, the leading axis of
  :class:`~dae_theory.sweep.plan.Grid` with ``optimizers``); a chunk then has one group per
  (optimizer, width), each with its own optax transformation, in the same program.
* **Checkpoints.** ``checkpoints`` keeps the weights after chosen steps of each trajectory
  (``SweepResult.snapshots``), written with the chunk; the scan runs in segments of their gcd.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import plug as plug_lib
from dae_theory import train
from dae_theory.sweep import devices as devices_lib
from dae_theory.sweep import distributed, store
from dae_theory.sweep.plan import Configs, check_fits, estimate, plan_chunks


class SweepResult(NamedTuple):
  """Outcome of :func:`run_sweep`, in config order.

  Attributes:
    configs: the configs.
    params: the plug's weights with a leading config axis ``(C, …)``; every leaf that grows with the
      width is zero-padded at the end of each growing axis (:func:`dae_theory.plug.unit_axes`) to its
      shape at the sweep's largest width (for the DAE, ``params.w1`` is ``(C, d, p_max)``; for a conv
      net, both channel axes of a kernel). :func:`config_params` cuts config i's weights back to its
      own width.
    losses: ``(C, steps // log_every)`` mean stochastic loss over each logging window.
    status: ``(C,)`` the first step that diverged, or −1.
    checkpoints: the steps whose weights were kept (``()`` when none were asked for).
    snapshots: the weights after each checkpoint step, like ``params`` with a ``(C, K)`` leading
      shape (K = ``len(checkpoints)``; the last checkpoint at ``steps`` equals ``params``), or
      ``None``.
  """

  configs: Configs
  params: Any
  losses: np.ndarray
  status: np.ndarray
  checkpoints: tuple[int, ...] = ()
  snapshots: Any = None

  @property
  def w1(self) -> np.ndarray:
    """The DAE's ``W₁`` ``(C, d, p_max)``."""
    return self.params.w1

  @property
  def w2(self) -> np.ndarray | None:
    """The DAE's ``W₂`` ``(C, d, p_max)``, or ``None`` when tied."""
    return getattr(self.params, "w2", None)


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


def param_entries(plug: plug_lib.ModelPlug, d: int) -> tuple[int, int]:
  """``(fixed, per_unit)``: the plug's number of weight entries that do not depend on the width, and
  per unit (for :func:`dae_theory.sweep.plan.estimate`), for a plug whose leaves grow linearly with
  the width (the DAE's). :func:`run_sweep` itself sizes its result arrays from the shapes at the
  largest width, so a plug whose entries grow faster (a conv net's kernels, quadratically) is sized
  exactly there."""
  sizes = [int(np.prod(s.shape)) for s in jax.tree.leaves(jax.eval_shape(
      lambda k: plug.init(k, d, 1, 1, jnp.float32), jax.random.key(0)))]
  units = plug_lib.unit_axes(plug, d)
  return sum(s for s, u in zip(sizes, units) if not u), sum(s for s, u in zip(sizes, units) if u)


def _shapes_at(plug: plug_lib.ModelPlug, d: int, width: int, dtype) -> list[tuple[int, ...]]:
  """The shape of each params leaf at ``width`` (init at p_max = width)."""
  return [tuple(s.shape) for s in jax.tree.leaves(jax.eval_shape(
      lambda k: plug.init(k, d, width, width, dtype), jax.random.key(0)))]


def _at_origin(a: np.ndarray) -> tuple:
  """The index of an array of ``a``'s trailing shape placed at the origin of a larger one (zero padding
  at the end of every axis)."""
  return tuple(slice(0, n) for n in a.shape)


def config_params(result: "SweepResult", i: int, d: int, plug: plug_lib.ModelPlug | None = None
                  ) -> Any:
  """Config ``i``'s weights cut back to its own width (each leaf to its shape at that width), as
  :func:`train_config` returns them.

  Args:
    result: a :class:`SweepResult`.
    i: the config's index.
    d: the data dimension of the sweep.
    plug: the sweep's model (default :func:`dae_theory.plug.dae`).
  """
  plug = plug_lib.dae() if plug is None else plug
  if not 0 <= int(i) < len(result.configs):
    raise ValueError(f"config index {i} is out of range for a sweep of {len(result.configs)} configs.")
  leaves, treedef = jax.tree.flatten(result.params)
  shapes = _shapes_at(plug, int(d), int(result.configs.width[i]), np.asarray(leaves[0]).dtype)
  if len(shapes) != len(leaves):
    raise ValueError(f"these params have {len(leaves)} leaves, plug {plug.name!r} at d={d} has "
                     f"{len(shapes)}: pass the sweep's own plug and data dimension.")
  return jax.tree.unflatten(treedef, [np.asarray(a[int(i)])[tuple(slice(0, n) for n in s)]
                                      for a, s in zip(leaves, shapes)])


def _train_chunk_impl(plug, x, key, groups, unique_seeds, pair_seed_slot, pair_n, *, steps,
                      batch_size, widths, log_every, optimizer, cosine, optimizers=None,
                      checkpoints=()):
  """Train a chunk of configs, all widths in one program: ``lax.scan`` over steps whose body runs, for
  each width group, a ``vmap`` of :func:`dae_theory.train.train_step` over that group's configs.

  The random streams are those of :func:`train_config`, laid out for speed: the noise of step t
  depends only on the seed and the minibatch only on (seed, n), so each is drawn once per distinct
  seed / pair of the chunk and shared by every config (every width, σ, λ and learning rate) that uses
  it. On the 2-core CPU, drawing the noise per config cost as much as the five matrix products of a
  step, and one program for all widths (instead of one per width) ran the default benchmark 1.4×
  faster and compiles once.

  ``optimizers`` (static, one name per group, default ``optimizer`` for all): each group's optax
  transformation. ``checkpoints`` (static, increasing steps in 1 … steps): the weights after each of
  these steps of the same trajectory are kept. Without checkpoints the program is one ``lax.scan``
  over the steps; with them it is a scan over segments of L = gcd(checkpoints, steps) steps, each an
  inner scan of the same step function, and after each segment that ends at a checkpoint the weights
  are written into a buffer (the steps, their noise, minibatches and losses are the same).

  Returns:
    per group: ``(params, loss windows (C_g, steps // log_every), status (C_g,), snapshots)`` with
    ``snapshots`` the params with a leading ``(C_g, K)`` (``None`` without checkpoints).
  """
  rows, d = x.shape
  dtype = x.dtype
  optimizers = (optimizer,) * len(groups) if optimizers is None else optimizers
  make_opt = lambda name, lr: train.make_optimizer(name, lr, steps if cosine else None)

  def init_one(seed_c, width_c, lr_c, p_max, name):
    k_init, _ = train.run_keys(jax.random.fold_in(key, seed_c))
    params = plug.init(k_init, d, width_c, p_max, dtype)
    return params, make_opt(name, lr_c).init(params)

  k_data = jax.vmap(lambda s: train.run_keys(jax.random.fold_in(key, s))[1])(unique_seeds)
  b_eff = rows if batch_size is None else batch_size

  def update_one(carry, xb, w, noise, sigma_c, lam_c, lr_c, t, name):
    # After a divergence only the weights are frozen; the optimizer state is no longer used.
    return train.train_step(plug, make_opt(name, lr_c), carry, xb, w, noise,
                            plug_lib.Hyper(sigma_c, lam_c), t, freeze_state=False)

  def step(carry, t):
    k_idx, k_eps = jax.vmap(lambda k: train.step_keys(k, t))(k_data)
    noise = jax.vmap(lambda k: plug.noise(k, b_eff, d, dtype))(k_eps)
    idx, w = jax.vmap(lambda k, n: train.minibatch(k, n, rows, batch_size))(
        k_idx[pair_seed_slot], pair_n)
    xb = x[idx]  # (P, B, d)
    new, vals = [], []
    for c, g, name in zip(carry, groups, optimizers):
      noise_g = jax.tree.map(lambda a: a[g.seed_slot], noise)
      c, val = jax.vmap(functools.partial(update_one, name=name), in_axes=(0,) * 7 + (None,))(
          c, xb[g.pair_slot], w[g.pair_slot], noise_g, g.sigma, g.lam, g.lr, t)
      new.append(c)
      vals.append(val)
    return tuple(new), tuple(vals)

  init = []
  for g, p_max, name in zip(groups, widths, optimizers):
    params, states = jax.vmap(functools.partial(init_one, p_max=p_max, name=name))(
        g.seed, g.width, g.lr)
    bad, ref = train.init_guard(dtype)
    init.append((params, states, jnp.full(g.seed.shape, bad), jnp.full(g.seed.shape, ref)))
  if not checkpoints:
    final, losses = jax.lax.scan(step, tuple(init), jnp.arange(steps))  # per group (steps, C_g)
    snaps = (None,) * len(groups)
  else:
    seg = functools.reduce(math.gcd, checkpoints, steps)
    n_seg, k = steps // seg, len(checkpoints)
    slot = np.full(n_seg, -1, np.int32)
    slot[np.asarray(checkpoints) // seg - 1] = np.arange(k)
    buf0 = tuple(jax.tree.map(lambda a: jnp.zeros((k,) + a.shape, a.dtype), c[0]) for c in init)

    def segment(carry, s_slot):
      state, buf = carry
      s, where = s_slot
      state, vals = jax.lax.scan(step, state, s * seg + jnp.arange(seg))
      put = lambda b, a: jnp.where(where >= 0, b.at[jnp.maximum(where, 0)].set(a), b)
      buf = tuple(jax.tree.map(put, b, c[0]) for b, c in zip(buf, state))
      return (state, buf), vals

    (final, buf), losses = jax.lax.scan(segment, (tuple(init), buf0),
                                        (jnp.arange(n_seg), jnp.asarray(slot)))
    losses = tuple(l.reshape((steps,) + l.shape[2:]) for l in losses)
    snaps = tuple(jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), b) for b in buf)  # (C_g, K, ...)
  return tuple((params, l.T.reshape(l.shape[1], steps // log_every, log_every).mean(-1), bad, sn)
               for (params, _, bad, _), l, sn in zip(final, losses, snaps))


_CHUNK_STATIC = ("plug", "steps", "batch_size", "widths", "log_every", "optimizer", "cosine",
                 "optimizers", "checkpoints")


@functools.lru_cache(maxsize=None)
def chunk_trainer(options: tuple | None = None) -> Callable:
  """The jitted chunk program, compiled with these backend ``options`` (a sorted tuple of items;
  :func:`dae_theory.sweep.devices.compiler_options`)."""
  kw = {} if options is None else {"compiler_options": dict(options)}
  return jax.jit(_train_chunk_impl, static_argnames=_CHUNK_STATIC, **kw)


def _chunk_trainer(devices: Sequence) -> Callable:
  """The jitted chunk trainer for these devices (CPU: the -O1 build)."""
  opts = devices_lib.compiler_options(devices)
  return chunk_trainer(None if opts is None else tuple(sorted(opts.items())))


def _chunk_inputs(configs: Configs, groups: list[np.ndarray], n_devices: int, dtype, shard):
  """Device arrays of one chunk: per group a :class:`_Group` (padded to a multiple of the device count
  by repeating its last config, sharded over the config axis), the distinct seeds and (seed, n) pairs
  (replicated), and each group's padded width."""
  chunk = np.concatenate(groups)
  seeds = np.unique(configs.seed[chunk])
  pairs = np.unique(np.stack([configs.seed[chunk], configs.n[chunk]], 1), axis=0)
  out, widths, names = [], [], []
  for idx in groups:
    full = np.concatenate([idx, np.repeat(idx[-1:], (-len(idx)) % n_devices)])
    sub = configs.take(full)
    pair_slot = np.array([np.flatnonzero((pairs[:, 0] == s) & (pairs[:, 1] == n))[0]
                          for s, n in zip(sub.seed, sub.n)])
    cols = (*sub[:6], np.searchsorted(seeds, sub.seed), pair_slot)
    types = (jnp.int32,) * 3 + (dtype,) * 3 + (jnp.int32,) * 2
    out.append(_Group(*(jax.device_put(jnp.asarray(a, t), shard) for a, t in zip(cols, types))))
    widths.append(int(np.max(sub.width)))
    if sub.optimizer is not None:
      names.append(str(sub.optimizer[0]))  # plan_chunks: one optimizer per group
  return (tuple(out), jnp.asarray(seeds, jnp.int32),
          jnp.asarray(np.searchsorted(seeds, pairs[:, 0]), jnp.int32),
          jnp.asarray(pairs[:, 1], jnp.int32), tuple(widths), tuple(names) if names else None)


def train_config(key: jax.Array, x, seed: int, width: int, n: int, sigma: float, lam: float,
                 learning_rate: float, *, steps: int, batch_size: int | None,
                 plug: plug_lib.ModelPlug | None = None, log_every: int = 1,
                 optimizer: str = "adam", cosine: bool = True, decay_steps: int | None = None):
  """A single config, trained alone by the single-config trainer (:func:`dae_theory.train.fit_loop`
  with key ``fold_in(key, seed)``; no vmap, no padding): the reference the sweep must equal.

  With ``decay_steps`` > ``steps`` (cosine decay over ``decay_steps``) it is the run of ``decay_steps``
  steps stopped at ``steps``: the reference of a sweep's checkpoint at ``steps``.

  Returns:
    ``(params, losses (steps // log_every,), diverged_at)``.
  """
  plug = plug_lib.dae() if plug is None else plug
  x = jnp.asarray(x)
  dt = x.dtype
  k_init, k_data = train.run_keys(jax.random.fold_in(key, seed))
  params = plug.init(k_init, x.shape[1], int(width), int(width), dt)
  hyper = plug_lib.Hyper(jnp.asarray(sigma, dt), jnp.asarray(lam, dt))
  p, l, b = train.fit_loop(k_data, plug, params, x, int(n), hyper, jnp.asarray(learning_rate, dt),
                           steps=steps, batch_size=batch_size, optimizer=optimizer, cosine=cosine,
                           log_every=log_every, decay_steps=decay_steps)
  return p, l, int(b)


def _check_args(x, configs, steps, batch_size, log_every, plug, bucket, optimizer, checkpoints):
  if x.ndim != 2:
    raise ValueError(f"x must have shape (n_max, d), got {x.shape}.")
  if len(configs) == 0:
    raise ValueError("configs is empty.")
  if int(np.max(configs.n)) > x.shape[0]:
    raise ValueError(f"sample size n={int(np.max(configs.n))} is larger than the data "
                     f"(n_max={x.shape[0]}).")
  if steps < 1 or steps % log_every:
    raise ValueError(f"steps must be >= 1 and a multiple of log_every={log_every}, got {steps}.")
  if batch_size is not None and batch_size < 1:
    raise ValueError(f"batch_size must be >= 1 (or None for the full batch), got {batch_size}.")
  if not bucket and not plug.zero_units_stay_zero:
    raise ValueError(f"bucket=False pads width groups with zero units, but plug {plug.name!r} does "
                     "not guarantee that zero units stay zero (zero_units_stay_zero=False); use "
                     "bucket=True.")
  if not bucket and not all(plug_lib.unit_leaves(plug, x.shape[1], x.dtype)[i] or not g for i, g in
                            enumerate(plug_lib.unit_axes(plug, x.shape[1], x.dtype))):
    raise ValueError(f"bucket=False pads width groups with zero units along the last axis, but some "
                     f"leaves of plug {plug.name!r} grow with the width along other axes too; use "
                     "bucket=True.")
  train.make_optimizer(optimizer, 1e-3)  # validates the name
  if configs.optimizer is not None:
    bad = sorted(set(np.asarray(configs.optimizer).tolist()) - set(train.OPTIMIZERS))
    if bad:
      raise ValueError(f"configs.optimizer must hold names of {train.OPTIMIZERS}, got {bad}.")
  ck = list(checkpoints)
  if ck and (any(int(c) != c for c in ck) or ck != sorted(set(ck)) or ck[0] < 1 or ck[-1] > steps):
    raise ValueError(f"checkpoints must be increasing integer steps in 1 … steps={steps}, got {ck}.")
  n_bad = int(np.sum(~np.isfinite(np.asarray(x))))
  if n_bad:
    raise ValueError(f"x holds {n_bad} non-finite entries (NaN or inf) of {x.size}; every config "
                     "would train on them. Clean or drop those entries first.")


def _check_padding(a: np.ndarray, widths: np.ndarray, plug, name: str) -> None:
  """Padded units (beyond each config's width) must have stayed exactly zero; otherwise the plug's
  ``zero_units_stay_zero`` claim is false for this optimizer and the results are wrong."""
  for row, w in enumerate(widths):
    if np.any(a[row, ..., int(w):] != 0):
      raise RuntimeError(
          f"plug {plug.name!r}: padded units of {name} moved away from zero (config width {w}, padded "
          f"{a.shape[-1]}), so zero_units_stay_zero does not hold with this optimizer; rerun with "
          "bucket=True.")


def _leaf_names(params) -> list[str]:
  """``param/<path>`` for each leaf (``param/w1`` for the DAE's W₁)."""
  names = []
  for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
    parts = [str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path]
    names.append("param/" + "/".join(parts))
  return names


def run_sweep(key: jax.Array, x, configs: Configs, *, steps: int, batch_size: int | None,
              plug: plug_lib.ModelPlug | None = None, chunk_size: int = 64, bucket: bool = True,
              log_every: int = 10, optimizer: str = "adam", cosine: bool = True,
              checkpoints: Sequence[int] = (),
              workdir: str | None = None, log: Callable[[str], None] | None = print,
              devices: Sequence | None = None, max_bytes: int | None = None,
              file_wait_s: float = 30.0) -> SweepResult:
  """Train every config; see the module docstring for the design.

  Args:
    key: PRNG key of the whole sweep; config seed s is the run with key ``fold_in(key, s)``.
    x: ``(n_max, d)`` training data; config (n) uses the first n rows.
    configs: from :meth:`~dae_theory.sweep.plan.Grid.configs` (or any ``Configs``).
    steps: optimizer steps (a multiple of ``log_every``).
    batch_size: minibatch size (drawn with replacement from the first n rows), or ``None`` for the
      full batch.
    plug: the model (default :func:`dae_theory.plug.dae`, the tied two-layer DAE).
    chunk_size: configs per compiled call (each width group in it is padded to a multiple of the
      device count).
    bucket: group the configs of a chunk by width so that nothing is padded (otherwise one group
      padded to the chunk's largest width; only for plugs whose zero units stay zero).
    log_every: loss logging window (steps).
    optimizer, cosine: :func:`dae_theory.train.make_optimizer` (``cosine=False``: a constant rate);
      ``optimizer`` trains the configs unless they carry their own (``configs.optimizer``, the
      optimizer axis of :class:`~dae_theory.sweep.plan.Grid`).
    checkpoints: increasing steps in 1 … ``steps`` after which each config's weights are kept
      (``SweepResult.snapshots``), points of the one trajectory, e.g. log-spaced; written with each
      chunk, so a resumed sweep has them too. The program then scans segments of gcd(checkpoints,
      steps) steps: keep that gcd large (e.g. 125, 250, 500, …, 4000).
    workdir: if given, finished chunks are saved there and reused on restart (each verified by its
      fingerprint and checksum), and each chunk appends a progress line to ``workdir/metrics.jsonl``
      (process i > 0 of several: ``metrics.process<i>.jsonl``). Required with several processes
      (``jax.distributed``): a folder every process sees, through which they hand each other their
      chunks (:mod:`dae_theory.sweep.distributed`).
    log: progress sink (the estimate first, then configs done, model-steps/s, ETA, chunks recomputed
      from a bad file); ``None`` for silence.
    devices: this process's devices to shard the config axis over (default: all of them,
      ``jax.local_devices()``). With several processes each trains its share of the chunks on its
      own devices; every process returns the full result.
    max_bytes: refuse a sweep whose result arrays exceed this many bytes (default half the memory).
    file_wait_s: with several processes, how long a process waits for a file another one wrote in
      ``workdir`` to become visible (a shared file system may show new files late).

  Returns:
    SweepResult.

  Raises:
    ValueError: bad arguments (named), NaN/inf in ``x``, n larger than the data, result arrays larger
      than ``max_bytes`` (with the estimate), or a workdir holding another sweep (its spec or one of
      its chunk files, named); with several processes, no workdir, a workdir that is not shared, or
      processes running different sweeps (each refused on every process before anything is
      trained).
    RuntimeError: with several processes, another process stopped with an error, or a chunk another
      process wrote stays invisible or fails its verification (named, with its writer).
  """
  plug = plug_lib.dae() if plug is None else plug
  x = jnp.asarray(x)
  _check_args(x, configs, steps, batch_size, log_every, plug, bucket, optimizer, checkpoints)
  if not (np.isfinite(file_wait_s) and file_wait_s >= 0):
    raise ValueError(f"file_wait_s must be a finite number of seconds >= 0, got {file_wait_s!r}.")
  checkpoints = tuple(int(c) for c in checkpoints)
  n_ck = len(checkpoints)
  x_np = np.asarray(x)
  n_max, d = x.shape
  p_global = int(np.max(configs.width))
  # the result arrays hold every leaf at its shape at the largest width: sized exactly from those
  full = _shapes_at(plug, d, p_global, x.dtype)
  est = estimate(configs, d, steps, batch_size or n_max, log_every=log_every, dtype=x_np.dtype,
                 entries=(sum(int(np.prod(sh)) for sh in full), 0), checkpoints=n_ck)
  check_fits(est, max_bytes)
  if log is not None:
    log(f"sweep: {est}")
  devices, shard = devices_lib.config_sharding(devices)
  chunks = plan_chunks(configs, chunk_size, bucket)
  settings = dict(steps=steps, batch_size=batch_size, plug=plug.name,
                  plug_signature=plug_lib.signature(plug, d, x.dtype), optimizer=optimizer,
                  cosine=cosine, log_every=log_every, key=np.asarray(jax.random.key_data(key)).tolist(),
                  chunk_size=chunk_size, bucket=bucket, layout=store.LAYOUT,
                  checkpoints=list(checkpoints))
  digest = store.data_digest(x_np)
  fp = store.fingerprint(digest, settings, configs)
  procs = distributed.processes()
  many = procs.count > 1
  if many and workdir is None:
    raise ValueError(
        f"a sweep over {procs.count} processes (jax.distributed) needs a workdir shared by all "
        "processes: each process writes the chunks it trains there and reads the others' from it, "
        "and a restart resumes from them. Pass workdir= a folder on a file system every host mounts.")
  if many:
    for note in distributed.agree_on_sweep(fp, len(devices), devices[0].platform):
      if log is not None:
        log(f"sweep: {note}")
  if workdir is not None:
    store.check_spec(workdir, fp)
  # one id per run of run_sweep, the same on every process; it marks this run's progress lines
  run_id = (distributed.check_shared_workdir(workdir, file_wait_s) if many
            else secrets.token_hex(8))

  # Result arrays: one per leaf of the plug's params, each at its shape at the largest width; a config
  # of a smaller width fills the origin corner (zero padding at the end of every growing axis).
  template = jax.eval_shape(lambda k: plug.init(k, d, p_global, p_global, x.dtype), key)
  leaves, treedef = jax.tree.flatten(template)
  grows = plug_lib.unit_axes(plug, d, x.dtype)
  is_unit = plug_lib.unit_leaves(plug, d, x.dtype)  # the width is the last axis only
  names = _leaf_names(template)
  c = len(configs)
  snap_names = [nm.replace("param/", "snapshot/", 1) for nm in names] if n_ck else []
  out = {nm: np.zeros((c,) + leaf.shape, x_np.dtype) for nm, leaf in zip(names, leaves)}
  out.update({nm: np.zeros((c, n_ck) + leaf.shape, x_np.dtype)
              for nm, leaf in zip(snap_names, leaves)})
  losses = np.zeros((c, steps // log_every), x_np.dtype)
  status = np.full((c,), -1, np.int32)
  chunk_idx = [np.concatenate(groups) for groups in chunks]
  chunk_fps = [store.fingerprint(digest, settings, configs.take(idx), idx) for idx in chunk_idx]

  def put(idx, arrays):
    for nm in names + snap_names:
      a = arrays[nm]
      out[nm][(idx,) + _at_origin(a)[1:]] = a
    losses[idx], status[idx] = arrays["losses"], arrays["status"]

  def read(ci):
    """Chunk ``ci`` from its file, verified: ``(arrays, "")`` or ``(None, why)``."""
    idx = chunk_idx[ci]
    # a chunk stores its leaves at its own largest width: the growing axes may be smaller
    shapes = {nm: (len(idx),) + tuple(None if a in g else n for a, n in enumerate(leaf.shape))
              for nm, leaf, g in zip(names, leaves, grows)}
    shapes.update({nm: (len(idx), n_ck) + tuple(None if a in g else n
                                                for a, n in enumerate(leaf.shape))
                   for nm, leaf, g in zip(snap_names, leaves, grows)})
    shapes.update(losses=(len(idx), steps // log_every), status=(len(idx),), index=(len(idx),))
    largest = {nm: (len(idx),) + leaf.shape for nm, leaf in zip(names, leaves)}
    largest.update({nm: (len(idx), n_ck) + leaf.shape for nm, leaf in zip(snap_names, leaves)})
    return store.read_chunk(store.chunk_path(workdir, ci), chunk_fps[ci], idx, shapes, largest,
                            workdir)

  # Chunks already on disk: verify each before any compute; one of another sweep is refused, an
  # unreadable or corrupted one is recomputed.
  on_disk = set()
  for ci in range(len(chunks)):
    path = store.chunk_path(workdir, ci)
    if path is None or not os.path.exists(path):
      continue
    saved, why = read(ci)
    if saved is None:
      if log is not None:
        log(f"sweep: {path} is {why}; recomputing that chunk")
      continue
    put(chunk_idx[ci], saved)
    on_disk.add(ci)
  # The chunks to train, dealt out round-robin (distributed.deal); with several processes, every
  # chunk that some process lacks (the same list on all).
  todo = [ci for ci in range(len(chunks)) if ci not in on_disk]
  if many:
    missing = np.zeros(len(chunks), bool)
    missing[todo] = True
    todo = distributed.chunks_to_train(missing).tolist()
  mine = distributed.deal(todo, procs.count, procs.index)
  owner = {ci: k % procs.count for k, ci in enumerate(todo)}
  if many and log is not None:
    log(f"sweep: process {procs.index} of {procs.count} trains chunks {mine} of the {len(todo)} "
        f"still to train ({len(on_disk)} of {len(chunks)} on disk)"
        + ("; it has none: use a chunk_size of at most configs / processes" if not mine else ""))
  if workdir is not None and procs.index == 0:
    store.write_spec(workdir, fp, len(chunks), len(configs))

  trainer = _chunk_trainer(devices)
  started, trained, done = time.time(), 0, 0
  left = sum(len(chunk_idx[ci]) for ci in mine)  # configs of this process still to train
  finished = []
  try:
    for ci, groups in enumerate(chunks):
      idx = chunk_idx[ci]
      if ci in owner and owner[ci] != procs.index:
        continue  # another process trains it; read after the end
      loaded = ci not in owner
      if not loaded:
        inputs, seeds, pair_seed, pair_n, widths, opts = _chunk_inputs(
            configs, groups, len(devices), x.dtype, shard)
        kw = {} if opts is None else {"optimizers": opts}
        if n_ck:
          kw["checkpoints"] = checkpoints
        res = trainer(plug, x, key, inputs, seeds, pair_seed, pair_n, steps=steps,
                      batch_size=batch_size, widths=widths, log_every=log_every,
                      optimizer=optimizer, cosine=cosine, **kw)
        at_pw = _shapes_at(plug, d, max(widths), x.dtype)  # the chunk's leaves at its largest width
        arrays = {nm: np.zeros((len(idx),) + sh, x_np.dtype) for nm, sh in zip(names, at_pw)}
        arrays.update({nm: np.zeros((len(idx), n_ck) + sh, x_np.dtype)
                       for nm, sh in zip(snap_names, at_pw)})
        arrays["losses"] = np.zeros((len(idx), steps // log_every), x_np.dtype)
        arrays["status"] = np.zeros((len(idx),), np.int32)
        start = 0
        for g, (params, l, st, sn), p in zip(groups, res, widths):
          rows = slice(start, start + len(g))
          for nm, a, u in zip(names, jax.tree.leaves(params), is_unit):
            a = np.asarray(a)[:len(g)]
            if u:
              _check_padding(a, configs.width[g], plug, nm)
            arrays[nm][(rows,) + _at_origin(a)[1:]] = a
          for nm, a in zip(snap_names, jax.tree.leaves(sn) if n_ck else []):
            a = np.asarray(a)[:len(g)]
            arrays[nm][(rows,) + _at_origin(a)[1:]] = a
          arrays["losses"][rows] = np.asarray(l)[:len(g)]
          arrays["status"][rows] = np.asarray(st)[:len(g)]
          start += len(g)
        arrays["index"] = idx
        path = store.chunk_path(workdir, ci)
        if path is not None:
          store.write_chunk(path, arrays, chunk_fps[ci])
        put(idx, arrays)
        finished.append(ci)
        trained += len(idx)
        left -= len(idx)
      done += len(idx)
      out_l, out_s = losses[idx], status[idx]
      el = time.time() - started
      rate = trained * steps / el if trained else float("nan")
      eta = left * steps / rate if trained else float("nan")
      if workdir is not None and not (loaded and procs.index):  # chunks read: process 0's log
        store.append_progress(workdir, {
            "chunk": ci, "chunks": len(chunks), "configs_done": done, "configs": c,
            "from_disk": bool(loaded), "elapsed_s": round(el, 3), "model_steps_per_s": rate,
            "eta_s": eta, "diverged": int(np.sum(out_s >= 0)),
            "final_loss_mean": float(np.mean(out_l[:, -1])), "run": run_id,
            "process": procs.index, "processes": procs.count}, procs.index)
      if log is not None:
        log(f"sweep: chunk {ci + 1}/{len(chunks)}, configs {done}/{c}"
            + (f" (process {procs.index})" if many else "") + f", {rate:,.0f} model-steps/s, "
            f"ETA {eta:.0f} s"
            + (f", {int(np.sum(out_s >= 0))} diverged" if np.any(out_s >= 0) else ""))
  except BaseException as err:  # tell the other processes, which would otherwise wait for it
    if many:
      distributed.finish(workdir, run_id, finished, f"{type(err).__name__}: {err}")
    raise
  if many:  # the others' chunks, once every process has written its share
    distributed.finish(workdir, run_id, finished)
    distributed.wait_for_peers(workdir, run_id, log)
    peers = [ci for ci in todo if owner[ci] != procs.index]
    got = distributed.read_peer_chunks(peers, owner.get, read,
                                       lambda ci: store.chunk_path(workdir, ci), file_wait_s)
    for ci, arrays in got.items():
      put(chunk_idx[ci], arrays)
    if log is not None:
      log(f"sweep: process {procs.index} read the {len(got)} chunks the other processes trained; "
          f"it holds all {c} configs")
  params = jax.tree.unflatten(treedef, [out[nm] for nm in names])
  snaps = jax.tree.unflatten(treedef, [out[nm] for nm in snap_names]) if n_ck else None
  return SweepResult(configs, params, losses, status, checkpoints, snaps)
