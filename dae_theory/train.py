r"""A small optax training routine for the DAE of Eq. 5 on the loss of Eq. 6.

One ``lax.scan`` over steps; fresh noise every step (one draw per sample in the batch); the weight decay
is the explicit λ(‖W₁‖² + ‖W₂‖²) of Eq. 6 (not the optimizer's decoupled decay), so trained weights are
comparable with the closed forms at the same λ. A step that diverges — its loss or update is not
finite, or its loss exceeds :data:`DIVERGENCE_FACTOR` × the loss of the first step — is not applied;
training stops changing the weights from then on and :class:`TrainingDiverged` is raised carrying
everything computed up to that step. The sweep engine (many configs in one program) is a separate
module and uses the same :func:`guarded_step`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dae_theory import checks
from dae_theory import loss as loss_lib
from dae_theory.model import DAEParams, init_params

OPTIMIZERS = ("adam", "sgd", "rmsprop")

DIVERGENCE_FACTOR = 1e4
r"""A step whose loss exceeds this factor times the loss of the first step counts as diverged.

From a random init (entries of std 1/√d) the loss of the first step is of the order of E‖x‖², the
loss of the trivial zero predictor f = 0, which a converging run only lowers (a warm start from a
construction starts lower still, at its noise floor, and is measured against that). A loss 10⁴ × the
first is therefore unambiguous blow-up that no converging run reaches, whereas a check for NaN/inf
alone misses it: Adam at a learning rate of 10⁶ ends at a finite loss of ~10²⁶ (its steps are bounded
by the learning rate, so the weights grow only linearly and never overflow). Divergence means "the
loss grew by orders of magnitude", not only "the loss overflowed".
"""


class TrainResult(NamedTuple):
  """Outcome of :func:`train_dae`.

  Attributes:
    params: final weights (the last finite ones if training diverged).
    losses: ``(steps,)`` the stochastic loss at each step (from the divergence on, the loss of the frozen
      weights: NaN/inf, or finite but above ``DIVERGENCE_FACTOR`` × ``losses[0]``).
    diverged_at: the first step that diverged (loss or update not finite, or loss above
      ``DIVERGENCE_FACTOR`` × the first step's), or -1.
  """

  params: DAEParams
  losses: jax.Array
  diverged_at: int


class TrainingDiverged(FloatingPointError):
  """Raised when training diverged (a non-finite loss or update, or a loss above
  :data:`DIVERGENCE_FACTOR` × the first step's); ``.result`` keeps what was computed."""

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


def init_guard(dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
  """The initial ``(bad, ref)`` carried by :func:`guarded_step`: no divergence yet (−1), no reference
  loss yet (+inf; the first step sets it)."""
  return jnp.array(-1, jnp.int32), jnp.array(jnp.inf, dtype)


def guarded_step(opt: optax.GradientTransformation, params, state, grads, value, bad, ref, t,
                 project=None, freeze_state: bool = True):
  r"""One optimizer step that is not applied once training has diverged.

  Step t diverges when its loss ``value`` is not finite, its new weights are not finite, or
  ``value > DIVERGENCE_FACTOR · ref`` where ``ref`` is the loss of step 0 (carried from step to step;
  see :data:`DIVERGENCE_FACTOR`). From the first divergent step on, the weights stay at the weights of
  that step (its update is not applied) and ``bad`` records it.

  Args:
    opt: the optax transformation.
    params, state, grads: current weights, optimizer state and gradients.
    value: the loss at ``params``.
    bad: int scalar, the first divergent step so far (−1 = none); from then on the weights stay put.
    ref: scalar, the reference loss (from :func:`init_guard` before step 0; step 0 sets it to its loss).
    t: the step index (steps are numbered from 0).
    project: optional map applied to the new weights (e.g. re-masking padded units).
    freeze_state: also keep the optimizer state (not needed when nothing reads it after a divergence).

  Returns:
    ``(params, state, bad, ref)``.
  """
  ref = jnp.where(t == 0, value, ref).astype(ref.dtype)
  updates, new_state = opt.update(grads, state, params)
  new_p = optax.apply_updates(params, updates)
  if project is not None:
    new_p = project(new_p)
  blown = (value > DIVERGENCE_FACTOR * ref) & (ref > 0)  # False for a NaN value (caught by isfinite)
  ok = jnp.isfinite(value) & ~blown & _all_finite(new_p) & (bad < 0)
  keep = lambda new, old: jnp.where(ok, new, old)
  state = jax.tree.map(keep, new_state, state) if freeze_state else new_state
  return (jax.tree.map(keep, new_p, params), state,
          jnp.where((bad < 0) & ~ok, t.astype(bad.dtype), bad), ref)


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
    p, state, bad, ref = carry
    k = jax.random.fold_in(key, t)
    k_idx, k_eps = jax.random.split(k)
    if batch_size < n:
      idx = jax.random.choice(k_idx, n, (batch_size,), replace=False)
      xb, gb = x[idx], None if gate is None else gate[idx]
    else:
      xb, gb = x, gate
    eps = jax.random.normal(k_eps, (1,) + xb.shape, x.dtype)
    val, grads = jax.value_and_grad(objective)(p, xb, gb, eps)
    return guarded_step(opt, p, state, grads, val, bad, ref, t), val

  init = (params, opt.init(params), *init_guard(x.dtype))
  (params, _, bad, _), losses = jax.lax.scan(step, init, jnp.arange(steps))
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
    ValueError: a bad argument (named, with the rule it breaks), e.g. NaN/inf in ``x``, ``params``
      or ``gate``.
    TrainingDiverged: the loss blew up (a non-finite loss or update, or a loss above
      :data:`DIVERGENCE_FACTOR` × the first step's); ``err.result`` has the weights of the step that
      diverged (finite; not updated from then on) and the whole loss history.
  """
  # shape, finiteness, dtype (integer data cast to float explicitly, float16 refused): the theory
  # core's one validator
  x = jnp.asarray(checks.check_data(x))
  n, d = x.shape
  steps = checks.check_int(steps, "steps", 1, "optimizer steps")
  for name, val in (("sigma", sigma), ("learning_rate", learning_rate)):
    if not np.isfinite(val) or val <= 0:
      raise ValueError(f"{name} must be finite and > 0, got {val!r}.")
  if not np.isfinite(lam) or lam < 0:
    raise ValueError(f"lam must be finite and >= 0, got {lam!r}.")
  batch_size = n if batch_size is None else int(batch_size)
  if not 1 <= batch_size <= n:
    raise ValueError(f"batch_size must lie in 1 … n={n}, got {batch_size}.")
  make_optimizer(optimizer, learning_rate)  # validates the name before tracing
  if gate is not None:
    gate = jnp.asarray(gate, x.dtype)
    _require_finite("gate", gate)
  if params is None:
    width = checks.check_int(width, "width", 1, "a number of units")
    params = init_params(jax.random.fold_in(key, 0), d, width, tied, init_scale, x.dtype)
  elif params.w1.shape[0] != d:
    raise ValueError(f"params.w1 has d={params.w1.shape[0]} rows but x has d={d}.")
  else:
    for name, a in zip(params._fields, params):
      if a is not None:
        _require_finite(f"params.{name}", jnp.asarray(a))
  if gate is not None and gate.shape != (n, params.width):
    raise ValueError(f"gate must have shape (n, p) = ({n}, {params.width}), got {gate.shape}.")
  out, losses, bad = train_loop(jax.random.fold_in(key, 1), params, x, sigma, lam, learning_rate,
                                gate, steps=steps, batch_size=batch_size, optimizer=optimizer,
                                cosine=cosine)
  result = TrainResult(out, losses, int(bad))
  if result.diverged_at >= 0:
    t = result.diverged_at
    at, first = float(losses[t]), float(losses[0])
    if np.isfinite(at) and at > DIVERGENCE_FACTOR * first:
      why = (f"the loss grew from {first:.6g} at step 0 to {at:.6g}, more than "
             f"DIVERGENCE_FACTOR = {DIVERGENCE_FACTOR:g} times")
    else:
      why = (f"non-finite loss or update; last finite loss "
             f"{float(losses[max(t - 1, 0)]):.6g}")
    raise TrainingDiverged(
        f"training diverged at step {t} of {steps} ({why}) although the data and the initial "
        f"weights are finite: lower the learning rate (got {learning_rate:g}). err.result holds the "
        f"weights of step {t} (not updated from then on) and the loss history.", result)
  return result


def _require_finite(name: str, a: jax.Array) -> None:
  """``ValueError`` naming ``name`` when ``a`` holds NaN or inf (bad data, not a training problem)."""
  bad = int(jnp.sum(~jnp.isfinite(a)))
  if bad:
    raise ValueError(f"{name} holds {bad} non-finite entries (NaN or inf) of {a.size}; training "
                     f"on them gives NaN weights. Clean or drop those entries first.")
