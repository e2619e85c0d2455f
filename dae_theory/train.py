r"""The lab's one training engine for a single model: one step, one minibatch rule, one loop.

Any model is trained through its :class:`~dae_theory.plug.ModelPlug`. A step (:func:`train_step`)
evaluates the plug's loss and gradient on a minibatch with the given noise and applies one optax
update through :func:`guarded_step`; the sweep engine (:mod:`dae_theory.sweep`) runs the same
:func:`train_step` for many configs at once, and the time-conditioned diffusion DAE trains through
:func:`fit` too.

* **One minibatch rule** (:func:`minibatch`): ``batch_size=None`` is the full batch (each of the first n
  rows once, weight 1/n); otherwise B rows drawn uniformly *with replacement* from the first n rows,
  weight 1/B each, so the data term is the unbiased estimate of Eq. 6 with its true 1/n.
* **One key scheme**: a run's key k gives ``k_init, k_data = split(k)``; the init draws unit j from
  ``fold_in(k_init', j)`` (:func:`dae_theory.model.init_params`), step t draws its minibatch and noise
  from ``split(fold_in(k_data, t))``. Config seed s of a sweep with key K is the run with key
  ``fold_in(K, s)``.
* **One optimizer choice**: by name from optax (:func:`make_optimizer`), optionally with cosine decay.
* The weight decay is the explicit λ(‖W₁‖² + ‖W₂‖²) of Eq. 6 (not the optimizer's decoupled decay), so
  trained weights are comparable with the closed forms at the same λ.
* A step that diverges — its loss or update is not finite, or its loss exceeds
  :data:`DIVERGENCE_FACTOR` × the loss of the first step — is not applied; training stops changing the
  weights from then on and :class:`TrainingDiverged` is raised carrying everything computed up to
  that step.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dae_theory import checks
from dae_theory import plug as plug_lib
from dae_theory.model import DAEParams

OPTIMIZERS = ("adam", "sgd", "rmsprop", "sgd_momentum")
"""The optimizers :func:`make_optimizer` builds (optax defaults; ``sgd_momentum`` is SGD with heavy-ball
momentum :data:`MOMENTUM`)."""

MOMENTUM = 0.9
"""The momentum of ``sgd_momentum`` (optax.sgd's ``momentum``, no Nesterov)."""

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
  """Outcome of :func:`fit` (and :func:`train_dae`).

  Attributes:
    params: final weights, of the plug's params type (``DAEParams`` for the DAE; the last finite ones
      if training diverged).
    losses: ``(steps // log_every,)`` the stochastic loss, per step by default (from the divergence on, the loss of the frozen
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
  """``adam`` | ``sgd`` | ``rmsprop`` | ``sgd_momentum`` from optax (:data:`OPTIMIZERS`); with
  ``steps`` the rate follows optax's cosine decay from ``learning_rate`` to 0 over ``steps``, without
  it the rate is constant (``learning_rate`` may be traced)."""
  if steps is not None:
    learning_rate = optax.cosine_decay_schedule(learning_rate, steps)
  if name == "adam":
    return optax.adam(learning_rate)
  if name == "sgd":
    return optax.sgd(learning_rate)
  if name == "rmsprop":
    return optax.rmsprop(learning_rate)
  if name == "sgd_momentum":
    return optax.sgd(learning_rate, momentum=MOMENTUM)
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


def run_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(k_init, k_data)`` of a run with key ``key`` (the one key scheme of the lab)."""
  return tuple(jax.random.split(key))


def minibatch(key: jax.Array, n, rows: int, batch_size: int | None) -> tuple[jax.Array, jax.Array]:
  r"""The lab's one minibatch rule: ``(indices (B,), weights (B,))`` over the first ``n`` of ``rows``
  rows (``n`` may be traced).

  ``batch_size=None``: the full batch, every row once (B = rows) with weight 1[i < n]/n. Otherwise B
  indices uniform *with replacement* in 0 … n−1, weight 1/B each. Either way Σ_b w_b ℓ(x_b) is an
  unbiased estimate of (1/n) Σ_{i<n} ℓ(x_i) (exact for the full batch).
  """
  if batch_size is None:
    idx = jnp.arange(rows)
    dtype = jnp.result_type(float)
    return idx, (idx < n).astype(dtype) / jnp.asarray(n, dtype)
  idx = jax.random.randint(key, (batch_size,), 0, n)
  return idx, jnp.full((batch_size,), 1.0 / batch_size)


def batch_or_full(batch_size: int, n: int) -> int | None:
  """``batch_size`` when it is below n, else ``None`` (the full batch): a minibatch of B ≥ n rows
  drawn with replacement would only add sampling noise to the full-batch gradient. (Before the one
  minibatch rule, a batch of exactly n meant the full batch; the sims say so explicitly with this.)"""
  return None if batch_size >= n else int(batch_size)


def step_keys(k_data: jax.Array, t) -> tuple[jax.Array, jax.Array]:
  """``(k_minibatch, k_noise)`` of step t."""
  return tuple(jax.random.split(jax.random.fold_in(k_data, t)))


def train_step(plug, opt: optax.GradientTransformation, carry, batch, weights, noise, hyper, t,
               freeze_state: bool = True):
  """One training step of any model plug: its loss and gradient on ``batch`` (rows, weights, noise
  given), then :func:`guarded_step`. ``carry = (params, opt_state, bad, ref)``.

  Returns:
    ``(carry, loss)``.
  """
  params, state, bad, ref = carry
  val, grads = plug.loss_and_grad(params, batch, weights.astype(val_dtype(params)), noise, hyper)
  return guarded_step(opt, params, state, grads, val, bad, ref, t,
                      freeze_state=freeze_state), val


def val_dtype(params):
  """The float dtype of a model's weights (the dtype its loss is computed in)."""
  return jax.tree.leaves(params)[0].dtype


def data_dim(data) -> tuple[int, int]:
  """``(rows, d)`` of a data pytree: an array ``(rows, d)`` or a tuple whose first entry is one."""
  first = data if not isinstance(data, (tuple, list)) else data[0]
  return first.shape[0], first.shape[1]


@functools.partial(jax.jit, static_argnames=("plug", "steps", "batch_size", "optimizer", "cosine",
                                             "log_every", "decay_steps"))
def fit_loop(k_data: jax.Array, plug, params, data, n, hyper, learning_rate, *, steps: int,
             batch_size: int | None, optimizer: str = "adam", cosine: bool = True,
             log_every: int = 1, decay_steps: int | None = None):
  """The jitted loop of one model (pure): ``lax.scan`` of :func:`train_step` over ``steps``.

  Args:
    k_data: the run's data key (:func:`run_keys`).
    plug: the model plug (static).
    params: initial weights.
    data: ``(rows, d)`` array, or a tuple of row-aligned arrays (the plug's batch).
    n: use the first n rows (may be traced).
    hyper: :class:`~dae_theory.plug.Hyper`.
    learning_rate: the (peak) rate.
    decay_steps: with ``cosine``, the length of the cosine schedule (default ``steps``); a run of
      ``steps`` < ``decay_steps`` is the longer run stopped at step ``steps`` (the reference of the
      sweep's checkpoints).

  Returns:
    ``(params, losses (steps // log_every,) mean over each window, diverged_at)``.
  """
  opt = make_optimizer(optimizer, learning_rate,
                       (steps if decay_steps is None else decay_steps) if cosine else None)
  rows, d = data_dim(data)
  dtype = val_dtype(params)

  def step(carry, t):
    k_idx, k_eps = step_keys(k_data, t)
    idx, w = minibatch(k_idx, n, rows, batch_size)
    noise = plug.noise(k_eps, idx.shape[0], d, dtype)
    batch = jax.tree.map(lambda a: a[idx], data)
    return train_step(plug, opt, carry, batch, w, noise, hyper, t)

  init = (params, opt.init(params), *init_guard(dtype))
  (params, _, bad, _), losses = jax.lax.scan(step, init, jnp.arange(steps))
  return params, losses.reshape(steps // log_every, log_every).mean(1), bad


def fit(key: jax.Array, plug, data, width: int, hyper, steps: int, learning_rate: float, *,
        n: int | None = None, batch_size: int | None = None, optimizer: str = "adam",
        cosine: bool = True, params=None, log_every: int = 1) -> TrainResult:
  """Train any model plug from its init (or from ``params``): the single-config trainer.

  Config seed s of a sweep with key K, trained alone, is ``fit(fold_in(K, s), …)``: the same init,
  minibatches and noise.

  Args:
    key: the run's key (:func:`run_keys`: init from the first half, steps from the second).
    plug: a :class:`~dae_theory.plug.ModelPlug`.
    data: ``(rows, d)`` training data (or a tuple of row-aligned arrays, the plug's batch).
    width: hidden width p (ignored when ``params`` is given).
    hyper: :class:`~dae_theory.plug.Hyper` (σ, λ).
    steps: optimizer steps ≥ 1 (a multiple of ``log_every``).
    learning_rate: > 0.
    n: train on the first n rows (default all).
    batch_size: minibatch size, drawn with replacement (default: the full batch; :func:`minibatch`).
    optimizer, cosine: :func:`make_optimizer`.
    params: initial weights (overrides ``width``).
    log_every: losses are means over windows of this many steps.

  Returns:
    TrainResult (``losses`` per window).

  Raises:
    ValueError: a bad argument, named.
    TrainingDiverged: as :func:`train_dae`.
  """
  rows, d = data_dim(data)
  n = rows if n is None else checks.check_int(n, "n", 1, "a number of rows")
  if n > rows:
    raise ValueError(f"n={n} is larger than the data ({rows} rows).")
  steps = checks.check_int(steps, "steps", 1, "optimizer steps")
  if steps % log_every:
    raise ValueError(f"steps must be a multiple of log_every={log_every}, got {steps}.")
  if batch_size is not None:
    batch_size = checks.check_int(batch_size, "batch_size", 1, "a minibatch size")
  make_optimizer(optimizer, learning_rate)  # validates the name before tracing
  k_init, k_data = run_keys(key)
  dtype = jax.tree.leaves(data)[0].dtype
  if params is None:
    width = checks.check_int(width, "width", 1, "a number of units")
    params = plug.init(k_init, d, width, width, dtype)
  hyper = type(hyper)(*(jnp.asarray(v, dtype) for v in hyper))
  out, losses, bad = fit_loop(k_data, plug, params, data, n, hyper, jnp.asarray(learning_rate, dtype),
                              steps=steps, batch_size=batch_size, optimizer=optimizer,
                              cosine=cosine, log_every=log_every)
  result = TrainResult(out, losses, int(bad))
  if result.diverged_at >= 0:
    _raise_diverged(result, steps, learning_rate, log_every)
  return result


def _raise_diverged(result: TrainResult, steps: int, learning_rate: float, log_every: int = 1):
  t, losses = result.diverged_at, result.losses
  at, first = float(losses[t // log_every]), float(losses[0])
  if np.isfinite(at) and at > DIVERGENCE_FACTOR * first:
    why = (f"the loss grew from {first:.6g} at step 0 to {at:.6g}, more than "
           f"DIVERGENCE_FACTOR = {DIVERGENCE_FACTOR:g} times")
  else:
    why = (f"non-finite loss or update; last finite loss "
           f"{float(losses[max(t // log_every - 1, 0)]):.6g}")
  raise TrainingDiverged(
      f"training diverged at step {t} of {steps} ({why}) although the data and the initial "
      f"weights are finite: lower the learning rate (got {learning_rate:g}). err.result holds the "
      f"weights of step {t} (not updated from then on) and the loss history.", result)


def train_dae(key: jax.Array, x: jax.Array, width: int, sigma: float, lam: float, steps: int,
              learning_rate: float = 1e-2, *, tied: bool = True, batch_size: int | None = None,
              optimizer: str = "adam", cosine: bool = True, params: DAEParams | None = None,
              init_scale: float | None = None, gate: jax.Array | None = None) -> TrainResult:
  r"""Train the DAE (Eq. 5) on Eq. 6 from random init (or from ``params``): :func:`fit` with the plug
  :func:`dae_theory.plug.dae` (or :func:`dae_theory.plug.gated` with ``gate``), after checking the
  arguments.

  Args:
    key: PRNG key (:func:`run_keys`: the init from its first half, the steps from its second).
    x: ``(n, d)`` training samples.
    width: hidden width p (ignored when ``params`` is given).
    sigma: noise std σ > 0.
    lam: weight decay λ ≥ 0 of Eq. 6.
    steps: number of optimizer steps ≥ 1.
    learning_rate: > 0 (the peak rate with ``cosine``).
    cosine: decay the rate to 0 with a cosine schedule (removes most of the end-of-run jitter that
      fresh noise causes, so trained weights can be compared with the closed forms).
    tied: W₂ = W₁.
    batch_size: minibatch size, rows drawn with replacement (default: the full batch; :func:`minibatch`).
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
  if batch_size is not None:
    batch_size = int(batch_size)
    if not 1 <= batch_size <= n:
      raise ValueError(f"batch_size must lie in 1 … n={n}, got {batch_size}.")
  make_optimizer(optimizer, learning_rate)  # validates the name before tracing
  if gate is not None:
    gate = jnp.asarray(gate, x.dtype)
    _require_finite("gate", gate)
  if params is None:
    width = checks.check_int(width, "width", 1, "a number of units")
    p_width = width
  elif params.w1.shape[0] != d:
    raise ValueError(f"params.w1 has d={params.w1.shape[0]} rows but x has d={d}.")
  else:
    for name, a in zip(params._fields, params):
      if a is not None:
        _require_finite(f"params.{name}", jnp.asarray(a))
    p_width = params.width
  if gate is not None and gate.shape != (n, p_width):
    raise ValueError(f"gate must have shape (n, p) = ({n}, {p_width}), got {gate.shape}.")
  plug = (plug_lib.dae if gate is None else plug_lib.gated)(tied, init_scale)
  return fit(key, plug, x if gate is None else (x, gate), width, plug_lib.Hyper(sigma, lam), steps,
             learning_rate, batch_size=batch_size, optimizer=optimizer, cosine=cosine, params=params)


def _require_finite(name: str, a: jax.Array) -> None:
  """``ValueError`` naming ``name`` when ``a`` holds NaN or inf (bad data, not a training problem)."""
  bad = int(jnp.sum(~jnp.isfinite(a)))
  if bad:
    raise ValueError(f"{name} holds {bad} non-finite entries (NaN or inf) of {a.size}; training "
                     f"on them gives NaN weights. Clean or drop those entries first.")
