r"""A small optax training routine for the DAE of Eq. 5 on the loss of Eq. 6.

One ``lax.scan`` over steps; fresh noise every step (one draw per sample in the batch); the weight decay
is the explicit λ(‖W₁‖² + ‖W₂‖²) of Eq. 6 (not the optimizer's decoupled decay), so trained weights are
comparable with the closed forms at the same λ. A step whose loss or update is not finite is not
applied; training stops changing the weights from then on and :class:`TrainingDiverged` is raised
carrying everything computed up to that step. The sweep engine (many configs in one program) is a
separate module.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dae_theory import loss as loss_lib
from dae_theory.model import DAEParams, init_params

OPTIMIZERS = ("adam", "sgd", "rmsprop")


class TrainResult(NamedTuple):
  """Outcome of :func:`train_dae`.

  Attributes:
    params: final weights (the last finite ones if training diverged).
    losses: ``(steps,)`` the stochastic loss at each step (NaN/inf from the divergence on).
    diverged_at: first step whose loss or update was not finite, or -1.
  """

  params: DAEParams
  losses: jax.Array
  diverged_at: int


class TrainingDiverged(FloatingPointError):
  """Raised when training produced a non-finite loss or update; ``.result`` keeps what was computed."""

  def __init__(self, message: str, result: TrainResult):
    super().__init__(message)
    self.result = result


def make_optimizer(name: str, learning_rate, steps: int | None = None) -> optax.GradientTransformation:
  """``adam`` | ``sgd`` | ``rmsprop`` from optax; with ``steps`` the rate follows optax's cosine decay
  from ``learning_rate`` to 0 over ``steps`` (may be traced)."""
  if steps is not None:
    learning_rate = optax.cosine_decay_schedule(learning_rate, steps)
  if name == "adam":
    return optax.adam(learning_rate)
  if name == "sgd":
    return optax.sgd(learning_rate)
  if name == "rmsprop":
    return optax.rmsprop(learning_rate)
  raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}.")


def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)]))


def guarded_step(opt: optax.GradientTransformation, params, state, grads, value, bad, t,
                 project=None, freeze_state: bool = True):
  """One optimizer step that is not applied once the loss or the new weights are not finite.

  Args:
    opt: the optax transformation.
    params, state, grads: current weights, optimizer state and gradients.
    value: the loss at ``params``.
    bad: int scalar, the first non-finite step so far (−1 = none); from then on the weights stay put.
    t: the step index.
    project: optional map applied to the new weights (e.g. re-masking padded units).
    freeze_state: also keep the optimizer state (not needed when nothing reads it after a divergence).

  Returns:
    ``(params, state, bad)``.
  """
  updates, new_state = opt.update(grads, state, params)
  new_p = optax.apply_updates(params, updates)
  if project is not None:
    new_p = project(new_p)
  ok = jnp.isfinite(value) & _all_finite(new_p) & (bad < 0)
  keep = lambda new, old: jnp.where(ok, new, old)
  state = jax.tree.map(keep, new_state, state) if freeze_state else new_state
  return (jax.tree.map(keep, new_p, params), state,
          jnp.where((bad < 0) & ~ok, t.astype(bad.dtype), bad))


@functools.partial(jax.jit, static_argnames=("steps", "batch_size", "optimizer", "cosine"))
def train_loop(key: jax.Array, params: DAEParams, x: jax.Array, sigma, lam, learning_rate,
               gate: jax.Array | None = None, *, steps: int, batch_size: int,
               optimizer: str = "adam", cosine: bool = True
               ) -> tuple[DAEParams, jax.Array, jax.Array]:
  """The jitted core of :func:`train_dae` (pure; vmappable over key, params, σ, λ, learning rate).

  With ``gate`` ``(n, p)`` the net is the gated-linear surrogate of Theorem D.2 (fixed gate per
  sample) instead of the ReLU net: its expected loss is the decomposed loss.

  Returns:
    ``(params, losses (steps,), diverged_at)``.
  """
  opt = make_optimizer(optimizer, learning_rate, steps if cosine else None)
  n, d = x.shape

  def objective(p, xb, gb, eps):
    if gb is None:
      return loss_lib.dae_loss(p, xb, sigma, lam, eps)
    pred = loss_lib.gated_linear_apply(p, xb[None] + sigma * eps, gb)
    return jnp.mean(jnp.sum((pred - xb[None]) ** 2, -1)) + loss_lib.weight_penalty(p, lam)

  def step(carry, t):
    p, state, bad = carry
    k = jax.random.fold_in(key, t)
    k_idx, k_eps = jax.random.split(k)
    if batch_size < n:
      idx = jax.random.choice(k_idx, n, (batch_size,), replace=False)
      xb, gb = x[idx], None if gate is None else gate[idx]
    else:
      xb, gb = x, gate
    eps = jax.random.normal(k_eps, (1,) + xb.shape, x.dtype)
    val, grads = jax.value_and_grad(objective)(p, xb, gb, eps)
    return guarded_step(opt, p, state, grads, val, bad, t), val

  init = (params, opt.init(params), jnp.array(-1, jnp.int32))
  (params, _, bad), losses = jax.lax.scan(step, init, jnp.arange(steps))
  return params, losses, bad


def train_dae(key: jax.Array, x: jax.Array, width: int, sigma: float, lam: float, steps: int,
              learning_rate: float = 1e-2, *, tied: bool = True, batch_size: int | None = None,
              optimizer: str = "adam", cosine: bool = True, params: DAEParams | None = None,
              init_scale: float | None = None, gate: jax.Array | None = None) -> TrainResult:
  r"""Train the DAE (Eq. 5) on Eq. 6 from random init (or from ``params``).

  Args:
    key: PRNG key (init uses ``fold_in(key, 0)``, the steps ``fold_in(key, 1)``).
    x: ``(n, d)`` training samples.
    width: hidden width p (ignored when ``params`` is given).
    sigma: noise std σ > 0.
    lam: weight decay λ ≥ 0 of Eq. 6.
    steps: number of optimizer steps ≥ 1.
    learning_rate: > 0 (the peak rate with ``cosine``).
    cosine: decay the rate to 0 with a cosine schedule (removes most of the end-of-run jitter that
      fresh noise causes, so trained weights can be compared with the closed forms).
    tied: W₂ = W₁.
    batch_size: minibatch size (default: full batch n).
    optimizer: ``adam`` | ``sgd`` | ``rmsprop``.
    params: initial weights (e.g. a construction); overrides ``width``/``tied``/``init_scale``.
    init_scale: std of the init entries (default 1/√d).
    gate: optional ``(n, p)`` fixed gate: train the gated-linear surrogate of Theorem D.2 (e.g.
      ``loss.block_masks(labels, unit_block)``) with the same optimizer and noise, e.g. to measure an
      optimizer's resolution around a construction that minimizes it exactly.

  Returns:
    TrainResult.

  Raises:
    ValueError: a bad argument (named, with the rule it breaks).
    TrainingDiverged: a non-finite loss/update; ``err.result`` has the last finite weights and the
      losses up to the divergence.
  """
  x = jnp.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"x must have shape (n, d), got {x.shape}.")
  n, d = x.shape
  for name, val in (("sigma", sigma), ("learning_rate", learning_rate)):
    if not np.isfinite(val) or val <= 0:
      raise ValueError(f"{name} must be finite and > 0, got {val!r}.")
  if not np.isfinite(lam) or lam < 0:
    raise ValueError(f"lam must be finite and >= 0, got {lam!r}.")
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  batch_size = n if batch_size is None else int(batch_size)
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must lie in 1 … n={n}, got {batch_size}.")
  make_optimizer(optimizer, learning_rate)  # validates the name before tracing
  if gate is not None:
    gate = jnp.asarray(gate, x.dtype)
  if params is None:
    if width < 1:
      raise ValueError(f"width must be >= 1, got {width}.")
    params = init_params(jax.random.fold_in(key, 0), d, width, tied, init_scale, x.dtype)
  elif params.w1.shape[0] != d:
    raise ValueError(f"params.w1 has d={params.w1.shape[0]} rows but x has d={d}.")
  if gate is not None and gate.shape != (n, params.width):
    raise ValueError(f"gate must have shape (n, p) = ({n}, {params.width}), got {gate.shape}.")
  out, losses, bad = train_loop(jax.random.fold_in(key, 1), params, x, sigma, lam, learning_rate,
                                gate, steps=steps, batch_size=batch_size, optimizer=optimizer,
                                cosine=cosine)
  result = TrainResult(out, losses, int(bad))
  if result.diverged_at >= 0:
    raise TrainingDiverged(
        f"training diverged at step {result.diverged_at} of {steps} (non-finite loss or update; "
        f"last finite loss {float(losses[max(result.diverged_at - 1, 0)]):.6g}). Lower the learning "
        f"rate; err.result holds the last finite weights and the loss history.", result)
  return result
