r"""Sweep-engine benchmark: the sweep engine against the strongest PyTorch peer, a PyTorch loop (one
config at a time, as the paper's code trains) and a per-config JAX loop, timed side by side in one
run on one machine, against this machine's dense float32 matmul peak measured in the same run (before
and after the contenders; the larger value counts).

  python -m benchmarks.sweep                      # default workload (64 models, 1000 steps)
  python -m benchmarks.sweep --steps 100 --json /tmp/bench.json
  python -m benchmarks.sweep --smoke              # seconds (no torch.compile, no breakdown)
  python -m benchmarks.sweep --cpu_devices 1      # JAX's default single CPU device

Default workload: widths 16, 32, 64, 128 × n 64, 256, 1024, 4096 × 4 seeds = 64 models, d = 64,
batch 256, Adam, 1000 steps, tied weights, σ = 0.2, λ = 1e-4. Every contender runs the same algorithm
(minibatch drawn with replacement from the first n rows, fresh noise, Eq. 6 loss, Adam with cosine
decay). The sweep runs the whole workload as one chunk (one compiled program), sharded over one JAX
CPU device per core (:func:`dae_theory.sweep.split_cpu`; ``--cpu_devices 1`` for JAX's single
device). Useful FLOPs count the five B×d×p matrix products of a step at the true width
(:func:`dae_theory.sweep.useful_flops_per_step`); padding and elementwise work do not count.

The contenders:

* **In this process**: the sweep engine and the per-config JAX loop, each called twice (the first
  call compiles, the second is the compiled steady state; no persistent compilation cache here).
* **Each in a fresh process of its own** (a contender timed in the same process after the JAX
  contenders ran about 2× slower): the sweep with an empty persistent compilation cache
  (:mod:`dae_theory.sweep.cache`; the cold first call of a new machine) and then, in another fresh
  process, with the cache the first one filled (the warm first call: what every later process pays);
  the PyTorch per-model loop; the **stacked PyTorch peer** (:func:`torch_stacked`: the models of each
  width as one ``(C_p, d, p)`` tensor, one ``torch.bmm`` forward/backward per width per step, one Adam
  over the stacked tensor), plain and under ``torch.compile`` (skipped with the reason when it fails,
  or with ``--notorch_compile``). The stacked contenders train twice; the second training counts.
* **The step breakdown** (:func:`benchmarks.engine_ab.breakdown`, unless ``--nobreakdown``): today's
  compiled chunk program and its variants that drop one part each, and the wide formulation.

``--json`` writes ``peak_gflops`` and, per contender ``<c>``, ``<c>_seconds``,
``<c>_model_steps_per_s``, ``<c>_useful_gflops``, ``<c>_fraction_of_peak`` (null when torch is
absent) for ``sweep``/``sweep_first_call``, ``jax_loop``/``jax_loop_first_call``, ``torch`` (the
per-model loop), ``torch_stacked``/``torch_stacked_first``, ``torch_stacked_compiled``/
``torch_stacked_compiled_first`` (or ``torch_stacked_compiled_skipped``: why),
``sweep_cold_process_first_call``, ``sweep_warm_process_first_call`` and ``sweep_warm_process``; the
cache counts ``sweep_{cold,warm}_process_cache_{requests,hits,misses,entries}``; ``torch_peer`` (the
faster stacked contender) and ``<c>_speedup_over_torch_peer``; ``breakdown``.
"""

from __future__ import annotations

import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from dae_theory import data, io, sweep
from dae_theory.sweep import cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
  """Best-of-``repeats`` float32 n×n matmul throughput of this machine (JAX/XLA), GFLOP/s."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  f = jax.jit(lambda a, b: a @ b)
  f(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n**3 / best / 1e9


def _torch_threads() -> None:
  import torch

  torch.set_num_threads(sweep.cpu_cores())


def torch_loop(x: np.ndarray, configs: sweep.Configs, steps: int, batch: int) -> float | None:
  """Wall time of training every config one after another in PyTorch (None if torch is absent).

  The loop a researcher writes: one model, one Adam, a Python loop over steps with a fresh minibatch
  and fresh noise each step (torch's own RNG; same distribution as the JAX contenders).
  """
  try:
    import torch
  except ImportError:
    return None
  _torch_threads()
  xt = torch.from_numpy(np.asarray(x, np.float32))
  d = xt.shape[1]
  t0 = time.perf_counter()
  for i in range(len(configs)):
    g = torch.Generator().manual_seed(int(configs.seed[i]))
    p, n = int(configs.width[i]), int(configs.n[i])
    sigma, lam, lr = (float(configs.sigma[i]), float(configs.lam[i]),
                      float(configs.learning_rate[i]))
    w = (torch.randn(d, p, generator=g) / d**0.5).requires_grad_()
    opt = torch.optim.Adam([w], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
      idx = torch.randint(0, n, (batch,), generator=g)
      xb = xt[idx]
      y = xb + sigma * torch.randn(xb.shape, generator=g)
      out = torch.relu(y @ w) @ w.T
      loss = ((out - xb) ** 2).sum(1).mean() + 2 * lam * (w**2).sum()
      opt.zero_grad(set_to_none=True)
      loss.backward()
      opt.step()
      sched.step()
  return time.perf_counter() - t0


def _stacked_loss(xb, eps, w, sigma, lam):
  r"""Eq. 6 for C models at once (the ensembling recipe): ``xb, eps (C, B, d)``, ``w (C, d, p)``,
  ``sigma, lam (C,)``; the sum over models of each model's minibatch loss, so that one backward pass
  gives every model its own gradient (the models share no weight)."""
  import torch

  y = xb + sigma[:, None, None] * eps
  out = torch.bmm(torch.relu(torch.bmm(y, w)), w.transpose(1, 2))
  per_model = ((out - xb) ** 2).sum(2).mean(1) + 2 * lam * (w**2).sum((1, 2))
  return per_model.sum()


def torch_stacked(x: np.ndarray, configs: sweep.Configs, steps: int, batch: int,
                  compiled: bool = False) -> tuple[float, float]:
  """The strongest PyTorch peer: the models of each width stacked into one ``(C_p, d, p)`` tensor,
  one batched forward/backward (``torch.bmm``) for all models of a width per step, and one Adam over
  the stacked tensor (Adam is elementwise, so it is each model's own Adam), cosine schedule; each
  model its own minibatch (with replacement from its first n rows) and fresh noise, as in every
  contender. ``compiled``: the loss under ``torch.compile`` (inductor; one graph per width, the
  random draws outside it).

  Returns:
    wall times of two identical trainings, ``(first, second)``: the first includes torch.compile's
    compilation (and the allocator's warm-up), the second is the steady state.

  Raises:
    ValueError: the configs of one width do not share one learning rate (one Adam per stacked tensor).
  """
  import torch

  _torch_threads()
  xt = torch.from_numpy(np.asarray(x, np.float32))
  d = xt.shape[1]
  loss_fn = torch.compile(_stacked_loss, dynamic=False) if compiled else _stacked_loss
  widths = sorted(set(int(v) for v in configs.width))
  times = []
  for _ in range(2):
    t0 = time.perf_counter()
    groups = []
    for p in widths:
      rows = np.flatnonzero(configs.width == p)
      lrs = set(float(v) for v in configs.learning_rate[rows])
      if len(lrs) != 1:
        raise ValueError(f"the stacked PyTorch peer needs one learning rate per width, got {lrs} at "
                         f"width {p}.")
      g = torch.Generator().manual_seed(p)
      w = (torch.randn(len(rows), d, p, generator=g) / d**0.5).requires_grad_()
      opt = torch.optim.Adam([w], lr=lrs.pop())
      groups.append(dict(
          w=w, g=g, opt=opt, sched=torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps),
          n=torch.as_tensor(configs.n[rows], dtype=torch.float32)[:, None],
          sigma=torch.as_tensor(configs.sigma[rows], dtype=torch.float32),
          lam=torch.as_tensor(configs.lam[rows], dtype=torch.float32)))
    for _ in range(steps):
      for gr in groups:
        c = gr["w"].shape[0]
        idx = (torch.rand(c, batch, generator=gr["g"]) * gr["n"]).long()  # uniform in 0 … n−1
        xb = xt[idx]
        eps = torch.randn(xb.shape, generator=gr["g"])
        loss = loss_fn(xb, eps, gr["w"], gr["sigma"], gr["lam"])
        gr["opt"].zero_grad(set_to_none=True)
        loss.backward()
        gr["opt"].step()
        gr["sched"].step()
    times.append(time.perf_counter() - t0)
  return times[0], times[1]


def jax_loop(x: np.ndarray, configs: sweep.Configs, steps: int, batch: int) -> tuple[float, float]:
  """Wall times of training every config one after another with the jitted single-config trainer: the
  first pass (compiling one program per width) and a second identical pass (compiled)."""
  times = []
  for _ in range(2):
    t0 = time.perf_counter()
    for i in range(len(configs)):
      p, _, _ = sweep.train_config(jax.random.key(0), x, int(configs.seed[i]), int(configs.width[i]),
                                   int(configs.n[i]), float(configs.sigma[i]),
                                   float(configs.lam[i]), float(configs.learning_rate[i]),
                                   steps=steps, batch_size=batch, log_every=10)
      p.w1.block_until_ready()
    times.append(time.perf_counter() - t0)
  return times[0], times[1]


def sweep_engine(x: np.ndarray, configs: sweep.Configs, steps: int, batch: int
                 ) -> tuple[float, float]:
  """Wall times of the sweep engine (the whole workload as one chunk: one program, a vmap per width
  group, all devices): the first call (compiling it) and a second identical call (compiled: steady
  state)."""
  times = []
  for _ in range(2):
    t0 = time.perf_counter()
    sweep.run_sweep(jax.random.key(0), x, configs, steps=steps, batch_size=batch,
                    chunk_size=len(configs), log_every=10, log=None)
    times.append(time.perf_counter() - t0)
  return times[0], times[1]


# --- Contenders in their own processes -------------------------------------------------------------

_CHILD = "import sys; from benchmarks import sweep; sweep._child(sys.argv[1])"


def _grid_configs(spec: dict) -> sweep.Configs:
  return sweep.Grid(seeds=tuple(range(spec["seeds"])), widths=tuple(spec["widths"]),
                    sample_sizes=tuple(spec["sample_sizes"]), sigmas=(0.2,), lams=(1e-4,),
                    learning_rates=(1e-3,)).configs()


def _child(spec_path: str) -> None:
  """Entry point of a contender's own process: reads the spec (kind, workload, data file), times the
  contender, writes its numbers as JSON. Torch children never start a JAX backend."""
  with open(spec_path) as f:
    spec = json.load(f)
  kind = spec["kind"]
  if kind == "sweep_process":
    sweep.split_cpu(spec["cpu_devices"])  # before JAX runs anything
  x = np.load(spec["x_path"])
  configs = _grid_configs(spec)
  steps, batch = spec["steps"], spec["batch"]
  if kind == "torch_loop":
    out = {"seconds": torch_loop(x, configs, steps, batch)}
  elif kind in ("torch_stacked", "torch_stacked_compiled"):
    try:
      first, second = torch_stacked(x, configs, steps, batch, compiled=kind.endswith("compiled"))
      out = {"first": first, "second": second}
    except Exception as err:  # torch.compile needs a working C++ toolchain; report why it failed
      if kind == "torch_stacked":
        raise
      out = {"skipped": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}"}
  elif kind == "sweep_process":
    events = collections.Counter()
    jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]))
    used = cache.enable(spec["cache_dir"])
    first, second = sweep_engine(x, configs, steps, batch)
    get = lambda k: events["/jax/compilation_cache/" + k]
    out = {"first": first, "second": second, "cache_dir": used,
           "cache_requests": get("compile_requests_use_cache"), "cache_hits": get("cache_hits"),
           "cache_misses": get("cache_misses"), "cache_entries": cache.status().entries}
  else:
    raise ValueError(f"unknown contender kind {kind!r}")
  io.write_json(spec["out_path"], out)


def _in_own_process(kind: str, workdir: str, x_path: str, spec: dict, **extra) -> dict:
  """Run contender ``kind`` in a fresh Python process (nothing of this process's JAX or torch state
  runs there) and return what it measured."""
  out_path = os.path.join(workdir, f"{kind}-{len(os.listdir(workdir))}.json")
  spec_path = out_path[:-5] + ".spec.json"
  io.write_json(spec_path, dict(spec, kind=kind, x_path=x_path, out_path=out_path, **extra))
  # torch.compile's own on-disk caches start empty too, so its first training includes compiling
  env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=os.path.join(workdir, "inductor"))
  res = subprocess.run([sys.executable, "-c", _CHILD, spec_path], cwd=ROOT, capture_output=True,
                       text=True, timeout=3600, env=env)
  if res.returncode != 0:
    raise RuntimeError(f"contender {kind} failed in its own process:\n{res.stderr[-3000:]}")
  with open(out_path) as f:
    return json.load(f)


def _torch_available() -> bool:
  try:
    import torch  # noqa: F401
  except ImportError:
    return False
  return True


def run(steps: int, batch: int, d: int, widths, sample_sizes, seeds: int,
        include_torch: bool = True, torch_compile: bool = True, processes: bool = True,
        breakdown: bool = True, cpu_devices: int | None = None) -> dict:
  """Run the contenders on one workload and return every measured number.

  In this process: the sweep engine and the per-config JAX loop (first and second call each), the
  matmul peak before and after everything, and (``breakdown``) the step breakdown of
  :func:`benchmarks.engine_ab.breakdown`. Each in a fresh process of its own (``processes``): the
  sweep with an empty persistent compilation cache (cold) and then with the cache that process
  filled (warm), and each PyTorch contender (per-model loop, stacked, stacked under torch.compile).
  """
  spec = {"steps": steps, "batch": batch, "d": d, "widths": list(widths),
          "sample_sizes": list(sample_sizes), "seeds": seeds, "cpu_devices": cpu_devices}
  configs = _grid_configs(spec)
  n_max = max(sample_sizes)
  if d < 12:
    raise ValueError(f"--d must be >= 12 (8 modes with rank-4 covariances), got {d}.")
  cache.disable()  # this process's first calls compile: no persistent cache here
  ds, _ = data.gaussian_mixture(jax.random.key(0), 8, -(-n_max // 8), d, 4, 3.0, 0.5)
  x = np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(ds.x.shape[0])][:n_max]
  model_steps = len(configs) * steps
  useful = sum(sweep.useful_flops_per_step(int(w), d, batch) for w in configs.width) * steps
  # The peak is measured before and after the contenders and the larger value is used: a transient
  # slowdown of a shared machine while measuring it would otherwise inflate every fraction of peak.
  peak_before = matmul_peak_gflops()
  times, extra = {}, {}
  times["sweep_first_call"], times["sweep"] = sweep_engine(x, configs, steps, batch)
  times["jax_loop_first_call"], times["jax_loop"] = jax_loop(x, configs, steps, batch)
  has_torch = include_torch and _torch_available()
  times["torch"] = None
  if processes:
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
      x_path = os.path.join(tmp, "x.npy")
      np.save(x_path, x)
      cache_dir = os.path.join(tmp, "jax_cache")
      for name in ("cold", "warm"):
        r = _in_own_process("sweep_process", tmp, x_path, spec, cache_dir=cache_dir)
        times[f"sweep_{name}_process_first_call"] = r["first"]
        times[f"sweep_{name}_process"] = r["second"]
        extra.update({f"sweep_{name}_process_{k}": r[k] for k in
                      ("cache_requests", "cache_hits", "cache_misses", "cache_entries")})
      if has_torch:
        times["torch"] = _in_own_process("torch_loop", tmp, x_path, spec)["seconds"]
        r = _in_own_process("torch_stacked", tmp, x_path, spec)
        times["torch_stacked_first"], times["torch_stacked"] = r["first"], r["second"]
        if torch_compile:
          r = _in_own_process("torch_stacked_compiled", tmp, x_path, spec)
          if "skipped" in r:
            extra["torch_stacked_compiled_skipped"] = r["skipped"]
          else:
            times["torch_stacked_compiled_first"] = r["first"]
            times["torch_stacked_compiled"] = r["second"]
        else:
          extra["torch_stacked_compiled_skipped"] = "--notorch_compile"
  elif has_torch:  # everything in this process (after the JAX contenders: slower, see the README)
    times["torch"] = torch_loop(x, configs, steps, batch)
    times["torch_stacked_first"], times["torch_stacked"] = torch_stacked(x, configs, steps, batch)
  if breakdown:
    from benchmarks import engine_ab

    extra["breakdown"] = engine_ab.breakdown(x, configs, steps, batch)
  peak_after = matmul_peak_gflops()
  peak = max(peak_before, peak_after)
  out = {"peak_gflops": peak, "peak_gflops_before": peak_before, "peak_gflops_after": peak_after,
         "models": len(configs), "steps": steps, "batch": batch, "d": d,
         "useful_gflop": useful / 1e9, "devices": [str(dv) for dv in jax.devices()],
         "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
         "own_processes": processes}
  for name, t in times.items():
    out[f"{name}_seconds"] = t
    out[f"{name}_model_steps_per_s"] = None if t is None else model_steps / t
    out[f"{name}_useful_gflops"] = None if t is None else useful / t / 1e9
    out[f"{name}_fraction_of_peak"] = None if t is None else useful / t / 1e9 / peak
  out.update(extra)
  if "breakdown" in out:  # the products alone bound what the present formulation can reach
    out["breakdown"]["products_alone_fraction_of_peak"] = (
        out["breakdown"]["useful_gflops_products_alone"] / peak)
  for kind in ("", "_first_call"):
    if times["torch"] is not None:
      out[f"sweep{kind}_speedup_over_torch"] = times["torch"] / times[f"sweep{kind}"]
    out[f"sweep{kind}_speedup_over_jax_loop"] = times[f"jax_loop{kind}"] / times[f"sweep{kind}"]
  # The strongest PyTorch peer: the faster of the stacked contenders (steady state).
  peers = {k: times[k] for k in ("torch_stacked", "torch_stacked_compiled") if times.get(k)}
  if peers:
    best = min(peers, key=peers.get)
    out["torch_peer"] = best
    out["torch_peer_model_steps_per_s"] = model_steps / peers[best]
    for name in ("sweep", "sweep_first_call", "sweep_cold_process_first_call",
                 "sweep_warm_process_first_call", "sweep_warm_process"):
      if times.get(name):
        out[f"{name}_speedup_over_torch_peer"] = peers[best] / times[name]
  return out


ROWS = (
    ("torch", "PyTorch loop (one config at a time)"),
    ("torch_stacked_first", "PyTorch stacked (bmm per width), first training"),
    ("torch_stacked", "PyTorch stacked (bmm per width), second training"),
    ("torch_stacked_compiled_first", "PyTorch stacked + torch.compile, first (incl. compiling)"),
    ("torch_stacked_compiled", "PyTorch stacked + torch.compile, second"),
    ("jax_loop_first_call", "JAX loop, first pass (incl. compiling 1 program per width)"),
    ("jax_loop", "JAX loop, second pass (compiled)"),
    ("sweep_first_call", "sweep engine, first call (incl. compiling its program)"),
    ("sweep", "sweep engine, second call (compiled)"),
    ("sweep_cold_process_first_call", "sweep, fresh process, empty compilation cache: first call"),
    ("sweep_warm_process_first_call", "sweep, fresh process, warm compilation cache: first call"),
    ("sweep_warm_process", "sweep, fresh process, warm compilation cache: second call"),
)


def format_table(r: dict) -> str:
  where = "each in its own process" if r.get("own_processes") else "all in this process"
  lines = [f"workload: {r['models']} models x {r['steps']} steps, d={r['d']}, batch={r['batch']}; "
           f"useful work {r['useful_gflop']:.1f} GFLOP; devices {r['devices']}",
           f"measured float32 matmul peak: {r['peak_gflops']:.1f} GFLOP/s (the larger of "
           f"{r['peak_gflops_before']:.1f} before and {r['peak_gflops_after']:.1f} after the "
           f"contenders); PyTorch contenders and fresh-process sweeps {where}", "",
           "| contender | wall s | model-steps/s | useful GFLOP/s | fraction of peak |",
           "|---|---|---|---|---|"]
  for name, label in ROWS:
    if f"{name}_seconds" not in r:
      continue
    if r[f"{name}_seconds"] is None:
      lines.append(f"| {label} | not run (torch not importable or --no_torch) | | | |")
      continue
    lines.append(f"| {label} | {r[f'{name}_seconds']:.1f} | {r[f'{name}_model_steps_per_s']:,.0f} | "
                 f"{r[f'{name}_useful_gflops']:.1f} | {r[f'{name}_fraction_of_peak']:.1%} |")
  if "torch_stacked_compiled_skipped" in r:
    lines.append(f"| PyTorch stacked + torch.compile | skipped: {r['torch_stacked_compiled_skipped']} "
                 "| | | |")
  lines.append("")
  if "sweep_warm_process_cache_hits" in r:
    lines.append(f"compilation cache: the cold process wrote {r['sweep_cold_process_cache_entries']} "
                 f"entries ({r['sweep_cold_process_cache_misses']} misses of "
                 f"{r['sweep_cold_process_cache_requests']} compiles); the warm process hit "
                 f"{r['sweep_warm_process_cache_hits']} of {r['sweep_warm_process_cache_requests']}")
  if "torch_peer" in r:
    peer = {"torch_stacked": "stacked", "torch_stacked_compiled": "stacked + torch.compile"}
    lines.append(f"strongest PyTorch peer: {peer[r['torch_peer']]} "
                 f"({r['torch_peer_model_steps_per_s']:,.0f} model-steps/s)")
    for name, label in (("sweep", "compiled sweep"),
                        ("sweep_warm_process_first_call", "warm-cache first call"),
                        ("sweep_cold_process_first_call", "cold first call")):
      if f"{name}_speedup_over_torch_peer" in r:
        lines.append(f"  {label}: {r[f'{name}_speedup_over_torch_peer']:.2f}x the peer, "
                     f"{r[f'{name}_fraction_of_peak']:.1%} of the matmul peak")
  if "sweep_speedup_over_torch" in r:
    lines.append(f"sweep / PyTorch loop: {r['sweep_speedup_over_torch']:.1f}x model-steps/s "
                 f"(compiled), {r['sweep_first_call_speedup_over_torch']:.1f}x (first call)")
  lines.append(f"sweep / JAX loop: {r['sweep_speedup_over_jax_loop']:.1f}x model-steps/s (both "
               f"compiled), {r['sweep_first_call_speedup_over_jax_loop']:.1f}x (both first)")
  if "breakdown" in r:
    from benchmarks import engine_ab

    lines += ["", engine_ab.format_breakdown(r["breakdown"])]
    if "products_alone_fraction_of_peak" in r["breakdown"]:
      lines.append(f"(the products alone: {r['breakdown']['products_alone_fraction_of_peak']:.1%} of "
                   "the matmul peak)")
  return "\n".join(lines)


def _define_flags() -> None:
  flags.DEFINE_integer("steps", 1000, "optimizer steps (a positive multiple of 10)")
  flags.DEFINE_integer("batch", 256, "minibatch size")
  flags.DEFINE_integer("d", 64, "data dimension (>= 12)")
  flags.DEFINE_list("widths", ["16", "32", "64", "128"], "widths")
  flags.DEFINE_list("sample_sizes", ["64", "256", "1024", "4096"], "sample sizes")
  flags.DEFINE_integer("seeds", 4, "seeds")
  flags.DEFINE_bool("no_torch", False, "skip the PyTorch contenders")
  flags.DEFINE_bool("torch_compile", None, "also time the stacked PyTorch peer under torch.compile "
                    "(default: on, off with --smoke)")
  flags.DEFINE_bool("breakdown", None, "also time the step breakdown (benchmarks.engine_ab; "
                    "default: on, off with --smoke)")
  flags.DEFINE_bool("own_processes", True, "time each PyTorch contender and the cold/warm sweep in "
                    "a fresh process of its own (--noown_processes: all in this one)")
  flags.DEFINE_bool("smoke", False, "tiny workload (seconds)")
  flags.DEFINE_string("json", None, "also write the numbers to this JSON file")
  flags.DEFINE_integer("cpu_devices", None, "present the CPU as this many JAX devices; the sweep "
                       "shards its configs over them (default: one per core, see "
                       "dae_theory.sweep.split_cpu; 1 = JAX's default)")


def main(argv) -> None:
  F = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if F.cpu_devices is not None and F.cpu_devices < 1:
    raise app.UsageError(f"--cpu_devices must be >= 1, got {F.cpu_devices}")
  try:
    sweep.split_cpu(F.cpu_devices)
  except RuntimeError as e:  # JAX already ran something in this process (e.g. called from a test)
    print(f"note: --cpu_devices not applied ({e}); using {jax.device_count()} device(s)")
  try:
    widths = [int(v) for v in F.widths]
    sizes = [int(v) for v in F.sample_sizes]
  except ValueError:
    raise app.UsageError(f"--widths and --sample_sizes must be comma-separated integers, got "
                         f"{F.widths!r}, {F.sample_sizes!r}") from None
  steps, batch, d, seeds = F.steps, F.batch, F.d, F.seeds
  if F.smoke:
    steps, batch, d, widths, sizes, seeds = 20, 16, 16, [4, 8], [16, 32], 1
  if steps < 10 or steps % 10:
    raise app.UsageError(f"--steps must be a positive multiple of 10, got {steps}")
  try:
    default_on = not F.smoke
    r = run(steps, batch, d, widths, sizes, seeds, include_torch=not F.no_torch,
            torch_compile=default_on if F.torch_compile is None else F.torch_compile,
            processes=F.own_processes,
            breakdown=default_on if F.breakdown is None else F.breakdown,
            cpu_devices=F.cpu_devices)
  except ValueError as err:
    raise app.UsageError(str(err)) from None
  print(format_table(r))
  if F.json:
    io.write_json(F.json, r)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
