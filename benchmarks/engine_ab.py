r"""Today's sweep engine against an earlier commit's, on the same workload, interleaved, each in its own
process with its own copy of the whole library (a ``git worktree`` of that commit), so that nothing
of today's code runs in the earlier contender.

  python -m benchmarks.engine_ab --previous cee459e            # default workload, 3 rounds
  python -m benchmarks.engine_ab --previous HEAD --smoke       # seconds

Each round runs the earlier tree, then this tree (alternating which goes first), each in a fresh
process that builds the workload of ``benchmarks.sweep`` (64 models × 1000 steps by default, one
chunk, one JAX CPU device per core), calls ``run_sweep`` twice and reports the second (compiled)
call's wall time. It prints every time and the ratio of the medians (earlier / today: > 1 means today
is faster); ``--json`` writes them.

  python -m benchmarks.engine_ab --breakdown [--smoke] [--json PATH]   # the step breakdown

``--breakdown`` instead profiles today's compiled chunk step in this process (:func:`breakdown`):
the full program and variants of it that drop one part each (the noise draw, the minibatch draw and
its random-row gather, Adam beyond plain SGD, the divergence guard), the five matrix products timed
alone in the engine's layout, and the remainder; and the wide formulation
(:func:`train_chunk_wide`: the encoder products of all widths of one (seed, n, σ) row as one wider
product) against today's engine, with the largest weight difference between the two.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from dae_theory import io, model, sweep, train
from dae_theory import plug as plug_lib
from dae_theory.sweep import devices as devices_lib
from dae_theory.sweep import engine
from dae_theory.sweep.plan import plan_chunks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs inside each contender's tree; works with the engine's API before and after the split (data
# first and an integer key before, the PRNG key first after).
_CHILD = r"""
import inspect, json, sys, time
import jax, numpy as np
from dae_theory import data, sweep
sweep.split_cpu()
steps, batch, d, seeds = (int(v) for v in sys.argv[1:5])
widths = [int(v) for v in sys.argv[5].split(",")]
sizes = [int(v) for v in sys.argv[6].split(",")]
grid = sweep.Grid(seeds=tuple(range(seeds)), widths=tuple(widths), sample_sizes=tuple(sizes),
                  sigmas=(0.2,), lams=(1e-4,), learning_rates=(1e-3,))
configs = grid.configs()
n_max = max(sizes)
ds, _ = data.gaussian_mixture(jax.random.key(0), 8, -(-n_max // 8), d, 4, 3.0, 0.5)
x = np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(ds.x.shape[0])][:n_max]
first = list(inspect.signature(sweep.run_sweep).parameters)[0]
kw = dict(steps=steps, batch_size=batch, chunk_size=len(configs), log_every=10, log=None)
call = ((lambda: sweep.run_sweep(jax.random.key(0), x, configs, **kw)) if first == "key" else
        (lambda: sweep.run_sweep(x, configs, **kw)))
times = []
for _ in range(2):
  t = time.perf_counter()
  res = call()
  np.asarray(res.w1).sum()
  times.append(time.perf_counter() - t)
print(json.dumps({"first_call_s": times[0], "compiled_s": times[1]}))
"""


def _worktree(commit: str) -> str:
  path = tempfile.mkdtemp(prefix="engine_ab_")
  out = subprocess.run(["git", "worktree", "add", "--detach", path, commit], cwd=ROOT,
                       capture_output=True, text=True)
  if out.returncode != 0:
    raise ValueError(f"--previous {commit}: cannot check it out ({out.stderr.strip()}).")
  return path


def _time(tree: str, args: list[str]) -> dict:
  env = dict(os.environ, PYTHONPATH=tree, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _CHILD, *args], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=1800)
  if out.returncode != 0:
    raise RuntimeError(f"the contender in {tree} failed:\n{out.stderr[-2000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def run(previous: str, rounds: int, args: list[str]) -> dict:
  tree = _worktree(previous)
  try:
    times = {"previous": [], "today": []}
    for r in range(rounds):
      order = [("previous", tree), ("today", ROOT)]
      for name, where in (order if r % 2 == 0 else order[::-1]):
        times[name].append(_time(where, args))
  finally:
    subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
  med = {k: statistics.median(t["compiled_s"] for t in v) for k, v in times.items()}
  first = {k: statistics.median(t["first_call_s"] for t in v) for k, v in times.items()}
  return {"previous": previous, "rounds": rounds, "workload": args, "times": times,
          "median_compiled_s": med, "median_first_call_s": first,
          "speedup_compiled": med["previous"] / med["today"],
          "speedup_first_call": first["previous"] / first["today"]}


# --- The step breakdown (issue 18, item 5) ------------------------------------------------------------
#
# Each variant is today's chunk program (engine._train_chunk_impl, compiled as the sweep compiles it)
# with one part dropped: the part's cost is the variant's saving. Dropping a part can change how XLA
# fuses the rest, so the parts do not add up exactly; the remainder is printed as such.


def _zero_noise(key, batch, d, dtype):
  """The DAE's noise draw replaced by zeros (the threefry draw dropped)."""
  del key
  return jnp.zeros((batch, d), dtype)


def _fixed_rows(key, n, rows, batch_size):
  """The minibatch draw replaced by the rows 0 … B−1 (the index draw dropped; the gather of fixed
  rows stays, which XLA may turn into a slice)."""
  del key, n, rows
  return jnp.arange(batch_size), jnp.full((batch_size,), 1.0 / batch_size)


def _unguarded_step(opt, params, state, grads, value, bad, ref, t, project=None, freeze_state=True):
  """train.guarded_step without the divergence guard (no finiteness checks, no selects)."""
  del value, t, project, freeze_state
  updates, new_state = opt.update(grads, state, params)
  return optax.apply_updates(params, updates), new_state, bad, ref


def _first_call(call) -> float:
  """Wall time of ``call``'s first run (tracing and compiling included)."""
  t = time.perf_counter()
  jax.block_until_ready(call())
  return time.perf_counter() - t


def _interleaved(calls: dict, rounds: int) -> dict:
  """Per call, the smallest wall and process-CPU seconds over ``rounds`` interleaved runs (each round
  runs every call once, in rotated order). On a shared machine the minimum is the least disturbed
  run; CPU time (all threads of this process) is less sensitive to other processes than wall time."""
  names = list(calls)
  wall = {k: float("inf") for k in names}
  cpu = {k: float("inf") for k in names}
  for r in range(rounds):
    for k in names[r % len(names):] + names[:r % len(names)]:
      t, c = time.perf_counter(), time.process_time()
      jax.block_until_ready(calls[k]())
      wall[k] = min(wall[k], time.perf_counter() - t)
      cpu[k] = min(cpu[k], time.process_time() - c)
  return {"wall": wall, "cpu": cpu}


def _engine_variant(x, configs, steps, batch, *, plug=None, optimizer="adam", patches=()):
  """``(call, first)``: a call of today's chunk program on the whole workload as one chunk, with
  ``plug``/``optimizer`` swapped and ``patches`` ((module, name, value) of dae_theory.train) applied
  while it is traced (its first call, timed: ``first``). Each variant has its own plug name, so the
  engine's jit cache never hands one variant another's program."""
  plug = plug_lib.dae() if plug is None else plug
  devices, shard = devices_lib.config_sharding(None)
  groups = plan_chunks(configs, len(configs), True)[0]
  xj = jnp.asarray(x)
  inputs, seeds, pair_seed, pair_n, widths, _ = engine._chunk_inputs(
      configs, groups, len(devices), xj.dtype, shard)
  trainer = engine._chunk_trainer(devices)
  call = lambda: trainer(plug, xj, jax.random.key(0), inputs, seeds, pair_seed, pair_n, steps=steps,
                         batch_size=batch, widths=widths, log_every=10, optimizer=optimizer,
                         cosine=True)
  with contextlib.ExitStack() as stack:
    for module, name, value in patches:
      stack.enter_context(mock.patch.object(module, name, value))
    first = _first_call(call)
  return call, first


def _products_only(x, configs, steps, batch):
  """The five B×d×p matrix products of a step alone, per width group, in the engine's layout (a
  batched product over the group's configs, the config axis sharded over the devices), in a
  ``lax.scan`` over the steps, each step's weights depending on the last (so nothing is hoisted)."""
  devices, shard = devices_lib.config_sharding(None)
  nd, d = len(devices), x.shape[1]
  ws, ys = [], []
  for p in sorted(set(int(v) for v in configs.width)):
    c = int(np.sum(configs.width == p))
    c += (-c) % nd
    ws.append(jax.device_put(jnp.full((c, d, p), 0.01, jnp.float32), shard))
    ys.append(jax.device_put(jnp.full((c, batch, d), 0.1, jnp.float32), shard))

  def body(ws, ys):
    new = []
    for w, y in zip(ws, ys):
      z = jnp.einsum("cbd,cdp->cbp", y, w)
      out = jnp.einsum("cbp,cdp->cbd", z, w)
      gz = jnp.einsum("cbd,cdp->cbp", out, w)
      new.append(w - 1e-9 * (jnp.einsum("cbd,cbp->cdp", y, gz) + jnp.einsum("cbd,cbp->cdp", out, z)))
    return tuple(new)

  opts = devices_lib.compiler_options(devices)
  f = jax.jit(lambda ws, ys: jax.lax.scan(lambda c, _: (body(c, ys), None), ws, None,
                                          length=steps)[0],
              **({} if opts is None else {"compiler_options": opts}))
  call = lambda: f(tuple(ws), tuple(ys))
  return call, _first_call(call)


def _products_only_wide(x, configs, steps, batch):
  """The products of :func:`_products_only` in the wide layout (no copies between them): per (seed,
  n, σ) row one encoder product y (B, d) × (d, U) and one y-side gradient product over the U = Σ K_g
  p_g concatenated units, the decoder products per config. Tells whether wider products alone would
  be faster, whatever the layout costs around them."""
  devices, shard = devices_lib.config_sharding(None)
  lay = wide_layout(configs, len(devices))
  r, d = len(lay.row_n), x.shape[1]
  ks = [t.shape[1] for t in lay.table]
  u = sum(k * p for k, p in zip(ks, lay.widths))
  wcat = jax.device_put(jnp.full((r, d, u), 0.01, jnp.float32), shard)
  y = jax.device_put(jnp.full((r, batch, d), 0.1, jnp.float32), shard)
  offsets = np.cumsum([0] + [k * p for k, p in zip(ks, lay.widths)])

  def body(w, y):
    z = jnp.einsum("rbd,rdu->rbu", y, w)
    gz, gd = [], []
    for g, (k, p) in enumerate(zip(ks, lay.widths)):
      w_g = w[..., offsets[g]:offsets[g + 1]].reshape(r, d, k, p)
      z_g = z[..., offsets[g]:offsets[g + 1]].reshape(r, batch, k, p)
      out = jnp.einsum("rbkp,rdkp->rkbd", z_g, w_g)
      gz.append(jnp.einsum("rkbd,rdkp->rbkp", out, w_g).reshape(r, batch, k * p))
      gd.append(jnp.einsum("rkbd,rbkp->rdkp", out, z_g).reshape(r, d, k * p))
    return w - 1e-9 * (jnp.einsum("rbd,rbu->rdu", y, jnp.concatenate(gz, -1))
                       + jnp.concatenate(gd, -1))

  opts = devices_lib.compiler_options(devices)
  f = jax.jit(lambda w, y: jax.lax.scan(lambda c, _: (body(c, y), None), w, None, length=steps)[0],
              **({} if opts is None else {"compiler_options": opts}))
  call = lambda: f(wcat, y)
  return call, _first_call(call)


PARTS = (
    ("noise", "noise draw (threefry, once per seed)"),
    ("minibatch", "minibatch index draw and random-row gather"),
    ("adam", "Adam beyond plain SGD (moments, bias correction)"),
    ("guard", "divergence guard (finiteness checks, selects)"),
    ("products", "the five matrix products (timed alone)"),
)


def breakdown(x, configs, steps: int, batch: int, wide: bool = True, rounds: int = 3) -> dict:
  """Time today's compiled chunk step and its variants on one workload (one chunk, all devices) and
  return the breakdown: for each part its cost in seconds (the full program's time minus the time of
  the variant without that part; the products: their time alone) and its share of the full time,
  plus ``wide`` (the proposed formulation, :func:`train_chunk_wide`) when it applies.

  All times are compiled calls (after a first call that compiles) of a program over ``steps`` steps
  in this process, the smallest of ``rounds`` interleaved runs, as wall and as process-CPU seconds.
  """
  base = plug_lib.dae()
  variants = {
      "full": {},
      "noise": {"plug": base._replace(name="dae-bench-zero-noise", noise=_zero_noise)},
      "minibatch": {"plug": base._replace(name="dae-bench-fixed-rows"),
                    "patches": ((train, "minibatch", _fixed_rows),)},
      "adam": {"optimizer": "sgd"},
      "guard": {"plug": base._replace(name="dae-bench-unguarded"),
                "patches": ((train, "guarded_step", _unguarded_step),)},
  }
  calls, first = {}, {}
  for name, kw in variants.items():
    calls[name], first[name] = _engine_variant(x, configs, steps, batch, **kw)
  calls["products"], first["products"] = _products_only(x, configs, steps, batch)
  wide_err = None
  if wide:
    try:
      call, unpack = train_chunk_wide(x, configs, steps, batch)
    except ValueError as err:
      wide_err = str(err)
    else:
      calls["wide"], first["wide"] = call, _first_call(call)
      calls["products_wide"], first["products_wide"] = _products_only_wide(x, configs, steps, batch)
      calls["rows"], unpack_rows = train_chunk_wide(x, configs, steps, batch, formulation="rows")
      first["rows"] = _first_call(calls["rows"])
  t = _interleaved(calls, rounds)
  second, cpu = t["wall"], t["cpu"]
  full = second["full"]
  cost = {k: full - second[k] for k in ("noise", "minibatch", "adam", "guard")}
  cost["products"] = second["products"]
  cost["rest"] = full - sum(cost.values())
  cpu_cost = {k: cpu["full"] - cpu[k] for k in ("noise", "minibatch", "adam", "guard")}
  cpu_cost["products"] = cpu["products"]
  cpu_cost["rest"] = cpu["full"] - sum(cpu_cost.values())
  out = {"steps": steps, "models": len(configs), "rounds": rounds, "full_s": full,
         "full_first_call_s": first["full"], "variant_s": second, "variant_cpu_s": cpu,
         "variant_first_call_s": first, "cost_s": cost, "cpu_cost_s": cpu_cost,
         "share": {k: v / full for k, v in cost.items()},
         "cpu_share": {k: v / cpu["full"] for k, v in cpu_cost.items()},
         "useful_gflops_products_alone": sum(sweep.useful_flops_per_step(int(w), x.shape[1], batch)
                                             for w in configs.width) * steps / second["products"] / 1e9}
  if wide_err is not None:
    out["wide"] = {"skipped": wide_err}
  elif wide:
    w_wide, l_wide = unpack(calls["wide"]())
    w_rows, _ = unpack_rows(calls["rows"]())
    res = sweep.run_sweep(jax.random.key(0), x, configs, steps=steps, batch_size=batch,
                          chunk_size=len(configs), log_every=10, log=None)
    scale = np.max(np.abs(res.w1), axis=(1, 2))
    rel = lambda w: float(np.max(np.max(np.abs(w - res.w1), axis=(1, 2)) / scale))
    out["wide"] = {"wide_s": second["wide"], "wide_cpu_s": cpu["wide"],
                   "products_wide_s": second["products_wide"],
                   "products_wide_cpu_s": cpu["products_wide"],
                   "wide_first_call_s": first["wide"], "engine_s": full, "engine_cpu_s": cpu["full"],
                   "speedup": full / second["wide"], "cpu_speedup": cpu["full"] / cpu["wide"],
                   "max_rel_diff_w": rel(w_wide),
                   "rows_s": second["rows"], "rows_cpu_s": cpu["rows"],
                   "rows_speedup": full / second["rows"], "rows_cpu_speedup": cpu["full"] / cpu["rows"],
                   "rows_max_rel_diff_w": rel(w_rows),
                   "max_abs_diff_loss": float(np.max(np.abs(l_wide - res.losses)))}
  return out


def format_breakdown(b: dict) -> str:
  lines = [f"step breakdown ({b['models']} models x {b['steps']} steps, compiled, one chunk, best of "
           f"{b['rounds']} interleaved rounds): full program {b['full_s']:.2f} s wall, "
           f"{b['variant_cpu_s']['full']:.2f} s CPU", "",
           "| part | variant without it: wall s / CPU s | cost: wall s / CPU s | share: wall / CPU |",
           "|---|---|---|---|"]
  for key, label in PARTS:
    alone = ("timed alone: " if key == "products" else "") + (
        f"{b['variant_s'][key]:.2f} / {b['variant_cpu_s'][key]:.2f}")
    lines.append(f"| {label} | {alone} | {b['cost_s'][key]:.2f} / {b['cpu_cost_s'][key]:.2f} | "
                 f"{b['share'][key]:.0%} / {b['cpu_share'][key]:.0%} |")
  lines.append(f"| the rest (ReLU, residual, masks, loss value, loop, per-group copies) | | "
               f"{b['cost_s']['rest']:.2f} / {b['cpu_cost_s']['rest']:.2f} | "
               f"{b['share']['rest']:.0%} / {b['cpu_share']['rest']:.0%} |")
  lines.append(f"(the products alone run at {b['useful_gflops_products_alone']:.1f} useful GFLOP/s; "
               "a variant's saving can include fusion changes, so the parts are estimates)")
  w = b.get("wide")
  if w is not None:
    if "skipped" in w:
      lines.append(f"wide encoder products: skipped ({w['skipped']})")
    else:
      lines.append(f"wide encoder products (one product per (seed, n, σ) row across widths): "
                   f"{w['wide_s']:.2f} s wall / {w['wide_cpu_s']:.2f} s CPU against the engine's "
                   f"{w['engine_s']:.2f} / {w['engine_cpu_s']:.2f} s ({w['speedup']:.2f}x wall, "
                   f"{w['cpu_speedup']:.2f}x CPU; its first call, compiling it, {w['wide_first_call_s']:.2f} "
                   f"s); weights within "
                   f"{w['max_rel_diff_w']:.1e} of max|W| of the engine's; its products alone "
                   f"{w['products_wide_s']:.2f} / {w['products_wide_cpu_s']:.2f} s against "
                   f"{b['variant_s']['products']:.2f} / {b['variant_cpu_s']['products']:.2f} s in the "
                   "engine's layout")
      lines.append(f"row layout (the engine's per-config step, minibatch and noise passed per row, no "
                   f"per-config gathers): {w['rows_s']:.2f} s wall / {w['rows_cpu_s']:.2f} s CPU "
                   f"({w['rows_speedup']:.2f}x wall, {w['rows_cpu_speedup']:.2f}x CPU); weights within "
                   f"{w['rows_max_rel_diff_w']:.1e} of max|W| of the engine's")
  return "\n".join(lines)


# --- A faster formulation: one encoder product per (seed, n, σ) row (issue 18, item 5) -----------------


class _WideLayout(NamedTuple):
  """Rows = the chunk's distinct (seed, n, σ); per width group the configs as an (R, K_g) table."""

  row_seed_slot: np.ndarray  # (R,) slot of the row's seed among the distinct seeds
  row_n: np.ndarray  # (R,)
  row_sigma: np.ndarray  # (R,)
  seeds: np.ndarray  # (S,) distinct seeds
  widths: tuple  # per group
  table: tuple  # per group, (R, K_g) config indices


def wide_layout(configs: sweep.Configs, n_devices: int) -> _WideLayout:
  """The row layout of :func:`train_chunk_wide`.

  Raises:
    ValueError: a width group has not the same number of configs in every row (not a Cartesian
      chunk), the configs carry their own optimizers, or the row count is not a multiple of the
      device count (the row axis is sharded).
  """
  if configs.optimizer is not None:
    raise ValueError("the wide formulation is built for one optimizer per chunk")
  keys = np.stack([configs.seed, configs.n, configs.sigma], 1)
  rows, row_of = np.unique(keys, axis=0, return_inverse=True)
  row_of = row_of.reshape(-1)
  if len(rows) % n_devices:
    raise ValueError(f"{len(rows)} (seed, n, σ) rows do not split over {n_devices} devices")
  seeds = np.unique(configs.seed)
  table, widths = [], []
  for p in sorted(set(int(v) for v in configs.width)):
    members = [np.flatnonzero((configs.width == p) & (row_of == r)) for r in range(len(rows))]
    if len({len(m) for m in members}) != 1:
      raise ValueError(f"width {p} has not the same number of configs in every (seed, n, σ) row")
    table.append(np.stack(members))
    widths.append(p)
  return _WideLayout(np.searchsorted(seeds, rows[:, 0].astype(configs.seed.dtype)).astype(np.int32),
                     rows[:, 1].astype(np.int32), rows[:, 2], seeds.astype(np.int32), tuple(widths),
                     tuple(table))


def _train_chunk_wide(x, key, row_seed_slot, row_n, row_sigma, seeds, cfg_seed, cfg_lam, cfg_lr, *,
                      steps, batch_size, widths, log_every, formulation="wide"):
  r"""The tied DAE's chunk program with the encoder products of all widths of a (seed, n, σ) row as
  one wider product. Configs of one row share y = x_b + σε (the engine's common random numbers), so
  z = yᵀ[W_1 | W_2 | …] and ∂W₁-part = yᵀ[g_z,1 | g_z,2 | …] are one product each per row over the
  Σ_g K_g p_g concatenated units; the decoder products h W_cᵀ, (gW_c), g h_c stay per config. The
  loss, gradient (:func:`dae_theory.loss.dae_loss_and_grad`), random streams, init, Adam with cosine
  decay and divergence guard are the engine's, so each config is the same run up to round-off.

  ``formulation="rows"`` keeps the engine's per-config step (:func:`dae_theory.train.train_step` of
  the DAE plug, products per config) and only lays the configs out by row: a ``vmap`` over rows whose
  minibatch and noise are passed once per row, around a ``vmap`` over the row's K_g configs, so no
  per-config copy of the minibatch or noise is gathered.

  Arrays: row_* ``(R,)``; ``cfg_*`` per group ``(R, K_g)``. Returns per group ``(w (R, K_g, d, p),
  losses (R, K_g, steps // log_every), status (R, K_g))``.
  """
  rows_x, d = x.shape
  dtype = x.dtype
  r_count = row_n.shape[0]
  make_opt = lambda lr: train.make_optimizer("adam", lr, steps)
  k_data = jax.vmap(lambda s: train.run_keys(jax.random.fold_in(key, s))[1])(seeds)
  sizes = [s.shape[1] * p for s, p in zip(cfg_seed, widths)]
  offsets = np.cumsum([0] + sizes)

  def init_group(seed_g, lr_g, p):
    def one(s, lr):
      k_init, _ = train.run_keys(jax.random.fold_in(key, s))
      params = plug_lib.dae().init(k_init, d, p, p, dtype)
      return params, make_opt(lr).init(params)
    return jax.vmap(jax.vmap(one))(seed_g, lr_g)

  def step(carry, t):
    k_idx, k_eps = jax.vmap(lambda k: train.step_keys(k, t))(k_data)
    noise = jax.vmap(lambda k: jax.random.normal(k, (batch_size, d), dtype))(k_eps)
    idx = jax.vmap(lambda k, n: train.minibatch(k, n, rows_x, batch_size)[0])(
        k_idx[row_seed_slot], row_n)
    xb = x[idx]  # (R, B, d)
    if formulation == "rows":
      noise_r = noise[row_seed_slot]
      wts = jnp.full((r_count, batch_size), 1.0 / batch_size, dtype)
      plug = plug_lib.dae()
      new, vals = [], []
      for g, c in enumerate(carry):
        sig = jnp.broadcast_to(row_sigma[:, None], cfg_lam[g].shape)
        one = lambda cr, xr, wr, nr, sg, lm, lr: train.train_step(
            plug, make_opt(lr), cr, xr, wr, nr, plug_lib.Hyper(sg, lm), t, freeze_state=False)
        inner = jax.vmap(one, in_axes=(0, None, None, None, 0, 0, 0))
        c, val = jax.vmap(inner)(c, xb, wts, noise_r, sig, cfg_lam[g], cfg_lr[g])
        new.append(c)
        vals.append(val)
      return tuple(new), tuple(vals)
    y = xb + row_sigma[:, None, None] * noise[row_seed_slot]
    ws = [c[0].w1 for c in carry]  # (R, K, d, p)
    wcat = jnp.concatenate([w.transpose(0, 2, 1, 3).reshape(r_count, d, -1) for w in ws], -1)
    z = jnp.einsum("rbd,rdu->rbu", y, wcat)
    wb = 1.0 / batch_size
    gz, parts = [], []
    for g, (w, p) in enumerate(zip(ws, widths)):
      k = w.shape[1]
      z_g = z[..., offsets[g]:offsets[g + 1]].reshape(r_count, batch_size, k, p)
      h_g = jnp.maximum(z_g, 0)
      res = jnp.einsum("rbkp,rkdp->rkbd", h_g, w) - xb[:, None]
      gres = (2.0 * wb) * res
      gz.append(jnp.where(z_g > 0, jnp.einsum("rkbd,rkdp->rbkp", gres, w), 0)
                .reshape(r_count, batch_size, k * p))
      parts.append((h_g, res, gres))
    g_enc = jnp.einsum("rbd,rbu->rdu", y, jnp.concatenate(gz, -1))
    new, vals = [], []
    for g, ((params, state, bad, ref), w, p, (h_g, res, gres)) in enumerate(
        zip(carry, ws, widths, parts)):
      k = w.shape[1]
      lam = cfg_lam[g][..., None, None]
      g_enc_g = g_enc[..., offsets[g]:offsets[g + 1]].reshape(r_count, d, k, p).transpose(0, 2, 1, 3)
      grad = g_enc_g + jnp.einsum("rkbd,rbkp->rkdp", gres, h_g) + 4 * lam * w
      value = wb * jnp.sum(res * res, (2, 3)) + 2 * cfg_lam[g] * jnp.sum(w * w, (2, 3))
      upd = lambda pr, st, gr, v, b, rf, lr: train.guarded_step(
          make_opt(lr), pr, st, model.DAEParams(gr), v, b, rf, t, freeze_state=False)
      params, state, bad, ref = jax.vmap(jax.vmap(upd))(params, state, grad, value, bad, ref,
                                                        cfg_lr[g])
      new.append((params, state, bad, ref))
      vals.append(value)
    return tuple(new), tuple(vals)

  init = []
  for seed_g, lr_g, p in zip(cfg_seed, cfg_lr, widths):
    params, states = init_group(seed_g, lr_g, p)
    bad, ref = train.init_guard(dtype)
    init.append((params, states, jnp.full(seed_g.shape, bad), jnp.full(seed_g.shape, ref)))
  final, losses = jax.lax.scan(step, tuple(init), jnp.arange(steps))
  return tuple((params.w1, jnp.moveaxis(l, 0, -1).reshape(l.shape[1:] + (steps // log_every,
                                                                          log_every)).mean(-1), bad)
               for (params, _, bad, _), l in zip(final, losses))


@functools.lru_cache(maxsize=None)
def _wide_trainer(options: tuple | None):
  kw = {} if options is None else {"compiler_options": dict(options)}
  return jax.jit(_train_chunk_wide, static_argnames=("steps", "batch_size", "widths", "log_every",
                                                    "formulation"), **kw)


def train_chunk_wide(x, configs: sweep.Configs, steps: int, batch: int, log_every: int = 10,
                     formulation: str = "wide"):
  """Train ``configs`` (one chunk, the tied DAE, Adam with cosine decay, key 0 as the benchmark's
  sweep) with :func:`_train_chunk_wide`, the row axis sharded over every device.

  Returns:
    ``(call, unpack)``: ``call()`` runs the compiled program, ``unpack(out)`` gives ``w1 (C, d,
    p_max)`` in config order (zero-padded like ``SweepResult.w1``) and ``losses (C, steps //
    log_every)``.
  """
  devices, shard = devices_lib.config_sharding(None)
  lay = wide_layout(configs, len(devices))
  xj = jnp.asarray(x)
  dt = xj.dtype
  put = lambda a, t: jax.device_put(jnp.asarray(a, t), shard)
  args = (xj, jax.random.key(0), put(lay.row_seed_slot, jnp.int32), put(lay.row_n, jnp.int32),
          put(lay.row_sigma, dt), jnp.asarray(lay.seeds),
          tuple(put(configs.seed[t], jnp.int32) for t in lay.table),
          tuple(put(configs.lam[t], dt) for t in lay.table),
          tuple(put(configs.learning_rate[t], dt) for t in lay.table))
  opts = devices_lib.compiler_options(devices)
  f = _wide_trainer(None if opts is None else tuple(sorted(opts.items())))
  call = lambda: f(*args, steps=steps, batch_size=batch, widths=lay.widths, log_every=log_every,
                   formulation=formulation)

  def unpack(out):
    c, d, p_max = len(configs), x.shape[1], int(np.max(configs.width))
    w1 = np.zeros((c, d, p_max), np.float32)
    losses = np.zeros((c, steps // log_every), np.float32)
    for t, (w, l, _), p in zip(lay.table, out, lay.widths):
      w1[t.reshape(-1), :, :p] = np.asarray(w).reshape(-1, d, p)
      losses[t.reshape(-1)] = np.asarray(l).reshape(-1, steps // log_every)
    return w1, losses

  return call, unpack


def workload(args: list[str]):
  """``(x, configs, steps, batch)`` of the benchmark workload described by ``args`` (steps, batch, d,
  seeds, widths, sample sizes; as the A/B child builds it)."""
  from dae_theory import data

  steps, batch, d, seeds = (int(v) for v in args[:4])
  widths = [int(v) for v in args[4].split(",")]
  sizes = [int(v) for v in args[5].split(",")]
  configs = sweep.Grid(seeds=tuple(range(seeds)), widths=tuple(widths), sample_sizes=tuple(sizes),
                       sigmas=(0.2,), lams=(1e-4,), learning_rates=(1e-3,)).configs()
  n_max = max(sizes)
  ds, _ = data.gaussian_mixture(jax.random.key(0), 8, -(-n_max // 8), d, 4, 3.0, 0.5)
  x = np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(ds.x.shape[0])][:n_max]
  return x, configs, steps, batch


def main(argv) -> None:
  F = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if F.rounds < 1:
    raise app.UsageError(f"--rounds must be >= 1, got {F.rounds}")
  args = ["20", "16", "16", "1", "4,8", "16,32"] if F.smoke else [
      "1000", "256", "64", "4", "16,32,64,128", "64,256,1024,4096"]
  if F.steps is not None:
    if F.steps < 10 or F.steps % 10:
      raise app.UsageError(f"--steps must be a positive multiple of 10, got {F.steps}")
    args[0] = str(F.steps)
  if F.breakdown:
    sweep.split_cpu()  # one JAX device per core, as the sweep benchmark (before JAX runs)
    x, configs, steps, batch = workload(args)
    b = breakdown(x, configs, steps, batch, rounds=F.rounds)
    print(format_breakdown(b))
    if F.json:
      io.write_json(F.json, b)
    return
  try:
    r = run(F.previous, F.rounds, args)
  except ValueError as err:
    raise app.UsageError(str(err)) from None
  for name in ("previous", "today"):
    print(f"{name:>8}: compiled " + ", ".join(f"{t['compiled_s']:.2f}" for t in r["times"][name])
          + " s; first call " + ", ".join(f"{t['first_call_s']:.2f}" for t in r["times"][name]) + " s")
  print(f"today / {F.previous}: {r['speedup_compiled']:.2f}x faster compiled (median of {F.rounds}), "
        f"{r['speedup_first_call']:.2f}x on the first call")
  if F.json:
    io.write_json(F.json, r)


if __name__ == "__main__":
  flags.DEFINE_string("previous", "cee459e", "the earlier commit")
  flags.DEFINE_integer("rounds", 3, "interleaved rounds (of the A/B, or of the breakdown's variants)")
  flags.DEFINE_integer("steps", None, "override the workload's steps (a multiple of 10)")
  flags.DEFINE_bool("smoke", False, "tiny workload (seconds)")
  flags.DEFINE_bool("breakdown", False, "instead of the A/B: time today's compiled step and its "
                    "variants that drop one part each, and the wide formulation, in this process")
  flags.DEFINE_string("json", None, "also write the numbers to this JSON file")
  app.run(main)
