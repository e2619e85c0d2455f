r"""Sweep-engine benchmark: a PyTorch loop (one config at a time, as the paper's code trains), a
per-config JAX loop, and the sweep engine, timed side by side in one run on one machine, against this
machine's dense float32 matmul peak measured in the same run (before and after the contenders; the
larger value counts).

  python -m benchmarks.sweep                      # default workload (64 models, 1000 steps)
  python -m benchmarks.sweep --steps 100 --json /tmp/bench.json
  python -m benchmarks.sweep --smoke              # seconds
  python -m benchmarks.sweep --cpu_devices 1      # JAX's default single CPU device

Default workload: widths 16, 32, 64, 128 × n 64, 256, 1024, 4096 × 4 seeds = 64 models, d = 64,
batch 256, Adam, 1000 steps, tied weights, σ = 0.2, λ = 1e-4. Every contender runs the same algorithm
(minibatch drawn with replacement from the first n rows, fresh noise, Eq. 6 loss, Adam). The sweep
runs the whole workload as one chunk (one compiled program), sharded over one JAX CPU device per core
(:func:`dae_theory.sweep.split_cpu`; ``--cpu_devices 1`` for JAX's single device). Each JAX contender
runs twice: the first call includes compilation, the second is the compiled steady state; data
generation is excluded. Useful FLOPs count the five B×d×p matrix products of a step at the true width
(:func:`dae_theory.sweep.useful_flops_per_step`); padding and elementwise work do not count.

``--json`` writes ``peak_gflops``, ``sweep_useful_gflops``, ``sweep_model_steps_per_s``,
``jax_loop_model_steps_per_s`` and ``torch_model_steps_per_s`` (null when torch is absent), plus the
other measured numbers. ``sweep_*`` and ``jax_loop_*`` are the compiled (second-call) numbers,
``*_first_call_*`` the ones including compilation; the PyTorch loop compiles nothing and runs once.
"""

from __future__ import annotations

import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from dae_theory import data, io, sweep


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


def torch_loop(x: np.ndarray, configs: sweep.Configs, steps: int, batch: int) -> float | None:
  """Wall time of training every config one after another in PyTorch (None if torch is absent).

  The loop a researcher writes: one model, one Adam, a Python loop over steps with a fresh minibatch
  and fresh noise each step (torch's own RNG; same distribution as the JAX contenders).
  """
  try:
    import torch
  except ImportError:
    return None
  torch.set_num_threads(os.cpu_count() or 1)
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


def run(steps: int, batch: int, d: int, widths, sample_sizes, seeds: int,
        include_torch: bool = True) -> dict:
  """Run the three contenders on one workload and return every measured number."""
  grid = sweep.Grid(seeds=tuple(range(seeds)), widths=tuple(widths),
                    sample_sizes=tuple(sample_sizes), sigmas=(0.2,), lams=(1e-4,),
                    learning_rates=(1e-3,))
  configs = grid.configs()
  n_max = max(sample_sizes)
  if d < 12:
    raise ValueError(f"--d must be >= 12 (8 modes with rank-4 covariances), got {d}.")
  ds, _ = data.gaussian_mixture(jax.random.key(0), 8, -(-n_max // 8), d, 4, 3.0, 0.5)
  x = np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(ds.x.shape[0])][:n_max]
  model_steps = len(configs) * steps
  useful = sum(sweep.useful_flops_per_step(int(w), d, batch) for w in configs.width) * steps
  # The peak is measured before and after the contenders and the larger value is used: a transient
  # slowdown of a shared machine while measuring it would otherwise inflate every fraction of peak.
  peak_before = matmul_peak_gflops()
  times = {}
  times["sweep_first_call"], times["sweep"] = sweep_engine(x, configs, steps, batch)
  times["jax_loop_first_call"], times["jax_loop"] = jax_loop(x, configs, steps, batch)
  times["torch"] = torch_loop(x, configs, steps, batch) if include_torch else None
  peak_after = matmul_peak_gflops()
  peak = max(peak_before, peak_after)
  out = {"peak_gflops": peak, "peak_gflops_before": peak_before, "peak_gflops_after": peak_after,
         "models": len(configs), "steps": steps, "batch": batch, "d": d,
         "useful_gflop": useful / 1e9, "devices": [str(dv) for dv in jax.devices()],
         "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
  for name, t in times.items():
    prefix = name
    out[f"{prefix}_seconds"] = t
    out[f"{prefix}_model_steps_per_s"] = None if t is None else model_steps / t
    out[f"{prefix}_useful_gflops"] = None if t is None else useful / t / 1e9
    out[f"{prefix}_fraction_of_peak"] = None if t is None else useful / t / 1e9 / peak
  for kind in ("", "_first_call"):
    if times["torch"] is not None:
      out[f"sweep{kind}_speedup_over_torch"] = times["torch"] / times[f"sweep{kind}"]
    out[f"sweep{kind}_speedup_over_jax_loop"] = times[f"jax_loop{kind}"] / times[f"sweep{kind}"]
  return out


def format_table(r: dict) -> str:
  lines = [f"workload: {r['models']} models x {r['steps']} steps, d={r['d']}, batch={r['batch']}; "
           f"useful work {r['useful_gflop']:.1f} GFLOP; devices {r['devices']}",
           f"measured float32 matmul peak: {r['peak_gflops']:.1f} GFLOP/s (the larger of "
           f"{r['peak_gflops_before']:.1f} before and {r['peak_gflops_after']:.1f} after the "
           "contenders)", "",
           "| contender | wall s | model-steps/s | useful GFLOP/s | fraction of peak |",
           "|---|---|---|---|---|"]
  for name, label in (("torch", "PyTorch loop (one config at a time)"),
                      ("jax_loop_first_call", "JAX loop, first pass (incl. compiling 1 program per width)"),
                      ("jax_loop", "JAX loop, second pass (compiled)"),
                      ("sweep_first_call", "sweep engine, first call (incl. compiling its program)"),
                      ("sweep", "sweep engine, second call (compiled)")):
    if r.get(f"{name}_seconds") is None:
      lines.append(f"| {label} | not run (torch not importable) | | | |")
      continue
    lines.append(f"| {label} | {r[f'{name}_seconds']:.1f} | {r[f'{name}_model_steps_per_s']:,.0f} | "
                 f"{r[f'{name}_useful_gflops']:.1f} | {r[f'{name}_fraction_of_peak']:.1%} |")
  lines.append("")
  if "sweep_speedup_over_torch" in r:
    lines.append(f"sweep / PyTorch loop: {r['sweep_speedup_over_torch']:.1f}x model-steps/s "
                 f"(compiled), {r['sweep_first_call_speedup_over_torch']:.1f}x (first call)")
  lines.append(f"sweep / JAX loop: {r['sweep_speedup_over_jax_loop']:.1f}x model-steps/s (both "
               f"compiled), {r['sweep_first_call_speedup_over_jax_loop']:.1f}x (both first)")

  return "\n".join(lines)


def _define_flags() -> None:
  flags.DEFINE_integer("steps", 1000, "optimizer steps (a positive multiple of 10)")
  flags.DEFINE_integer("batch", 256, "minibatch size")
  flags.DEFINE_integer("d", 64, "data dimension (>= 12)")
  flags.DEFINE_list("widths", ["16", "32", "64", "128"], "widths")
  flags.DEFINE_list("sample_sizes", ["64", "256", "1024", "4096"], "sample sizes")
  flags.DEFINE_integer("seeds", 4, "seeds")
  flags.DEFINE_bool("no_torch", False, "skip the PyTorch loop")
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
    r = run(steps, batch, d, widths, sizes, seeds, include_torch=not F.no_torch)
  except ValueError as err:
    raise app.UsageError(str(err)) from None
  print(format_table(r))
  if F.json:
    io.write_json(F.json, r)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
