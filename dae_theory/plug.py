r"""The model plug: the one description of a model that training, sweeps and probes need.

A :class:`ModelPlug` is a small, pure record of functions (no state, no framework):

* ``init(key, d, width, p_max, dtype) -> params``: the initial weights at padded width ``p_max`` ≥
  ``width``. Unit j (column j of every per-unit weight) is drawn from ``fold_in(key', j)``, so seed i is
  the same run at any grid size and any padding; units j ≥ ``width`` are exactly zero. The per-unit
  leaves are found by shape (the leaves whose last axis grows with ``p_max``), so a plug never
  declares them.
* ``noise(key, batch, d, dtype) -> noise``: the random draw a training step needs (a pytree), e.g.
  ε ~ N(0, I) for the DAE, or (σ per sample, ε) for the time-conditioned DAE. The sweep engine draws
  it once per seed and shares it between the configs of that seed (common random numbers).
* ``loss_and_grad(params, batch, weights, noise, hyper) -> (loss, grads)``: the loss on a minibatch
  (``batch`` the gathered rows, ``weights (B,)`` summing to one: 1/B for a minibatch, 1[i < n]/n for the
  full batch) and its gradient; ``hyper`` is a :class:`Hyper` of traced per-config scalars.
* ``represent(params, y) -> h``: the representation the lab's probes read (std(h), code metrics).
* ``denoise(params, y, sigma) -> x̂``: the denoiser D(y, σ) (a plug trained at one σ may ignore it).
* ``zero_units_stay_zero``: a unit that is zero at init gets exactly zero gradient (so the sweep may
  pad a width group with zero units); the engine refuses padding for a plug that does not say so.

The lab's plugs: :func:`dae` (the two-layer DAE of Eq. 5 on Eq. 6, written-out gradient),
:func:`gated` (the gated-linear surrogate of Theorem D.2, fixed gate per sample) here, and
:func:`dae_theory.diffusion.plug` (the time-conditioned DAE of docs/theory.md §9) beside its model. A user's model is one more
:class:`ModelPlug`; ``examples/user_model.py`` is a runnable example, and
:func:`from_loss` builds a plug from a per-sample loss by autodiff.

The lab's plugs are built by cached factories, so the same settings give the same (hashable) plug and
a compiled program is reused; keep a user's plug (e.g. from :func:`from_loss`) in one variable for the
same reason. A sweep's fingerprint holds the plug's :func:`signature` (what it computes), not only its
name.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from dae_theory import loss as loss_lib
from dae_theory import model


class Hyper(NamedTuple):
  """The per-config settings a loss reads (traced scalars): noise level σ and weight decay λ."""

  sigma: Any
  lam: Any


class ModelPlug(NamedTuple):
  """A model, as the training engine sees it (see the module docstring for each field's contract).

  Attributes:
    name: a short name (part of a sweep's fingerprint).
    init: ``(key, d, width, p_max, dtype) -> params``.
    noise: ``(key, batch, d, dtype) -> noise`` pytree.
    loss_and_grad: ``(params, batch, weights, noise, hyper) -> (loss, grads)``.
    represent: ``(params, y (..., d)) -> h (..., p)``.
    denoise: ``(params, y (..., d), sigma) -> (..., d)``.
    zero_units_stay_zero: whether zero (padded) units get exactly zero gradient.
  """

  name: str
  init: Callable
  noise: Callable
  loss_and_grad: Callable
  represent: Callable
  denoise: Callable
  zero_units_stay_zero: bool = False

  def bind(self, params) -> tuple[Callable, Callable]:
    """``(rep, den)``: h(y) and D(y, σ) of these weights, the callables the detection and lens
    APIs take."""
    return functools.partial(self.represent, params), functools.partial(self.denoise, params)


def gaussian_noise(key: jax.Array, batch: int, d: int, dtype) -> jax.Array:
  """One standard normal draw per sample, ``(batch, d)``."""
  return jax.random.normal(key, (batch, d), dtype)


def unit_axes(plug: ModelPlug, d: int, dtype=jnp.float32) -> list[tuple[int, ...]]:
  """For each leaf of ``plug``'s params (``jax.tree.leaves`` order): the axes whose size grows with the
  width (``()`` for a leaf that does not depend on it). Found by shape: the axes whose size changes
  between p_max = 2 and 3. For the two-layer DAE it is the last axis of ``w1`` (and ``w2``); for a
  convolutional net whose width is its base channel count, a kernel ``(k, k, C_in, C_out)`` grows in
  both channel axes. The sweep engine stores every leaf zero-padded at the end of each growing axis to
  the sweep's largest width."""
  a = jax.tree.leaves(jax.eval_shape(lambda k: plug.init(k, d, 1, 2, dtype), jax.random.key(0)))
  b = jax.tree.leaves(jax.eval_shape(lambda k: plug.init(k, d, 1, 3, dtype), jax.random.key(0)))
  if len(a) != len(b):
    raise ValueError(f"plug {plug.name!r}: its params have {len(a)} leaves at p_max=2 and {len(b)} at "
                     "p_max=3; the width may change the sizes of the leaves, not their number.")
  out = []
  for sa, sb in zip(a, b):
    if len(sa.shape) != len(sb.shape):
      raise ValueError(f"plug {plug.name!r}: a leaf of shape {sa.shape} at p_max=2 and {sb.shape} at "
                       "p_max=3; the width may change the sizes of a leaf's axes, not their number.")
    grow = tuple(i for i, (m, n) in enumerate(zip(sa.shape, sb.shape)) if m != n)
    if any(sa.shape[i] > sb.shape[i] for i in grow):
      raise ValueError(f"plug {plug.name!r}: a leaf of shape {sa.shape} at p_max=2 and {sb.shape} at "
                       "p_max=3 shrinks as the width grows.")
    out.append(grow)
  return out


def unit_leaves(plug: ModelPlug, d: int, dtype=jnp.float32) -> list[bool]:
  """For each leaf of ``plug``'s params (``jax.tree.leaves`` order): whether it is per-unit, i.e. its
  last axis IS the width (size 2 at p_max = 2 and 3 at p_max = 3) and no other axis depends on it: the
  leaves that zero units pad, for a plug whose ``zero_units_stay_zero``. A leaf that grows along other
  axes too, or by a multiple of the width (a conv net's deeper level with 2× the base channels), is not
  per-unit in this sense (:func:`unit_axes` lists its growing axes); the engine refuses
  ``bucket=False`` for such a plug."""
  a = jax.tree.leaves(jax.eval_shape(lambda k: plug.init(k, d, 1, 2, dtype), jax.random.key(0)))
  b = jax.tree.leaves(jax.eval_shape(lambda k: plug.init(k, d, 1, 3, dtype), jax.random.key(0)))
  return [axes == (len(sa.shape) - 1,) and (sa.shape[-1], sb.shape[-1]) == (2, 3)
          for axes, sa, sb in zip(unit_axes(plug, d, dtype), a, b)]


# --- The two-layer DAE (Eq. 5, loss Eq. 6) -------------------------------------------------------------

def _dae_loss_and_grad(params, batch, weights, noise, hyper):
  return loss_lib.dae_loss_and_grad(params, batch, hyper.sigma, hyper.lam, noise, weights)


def _dae_denoise(params, y, sigma=None):
  del sigma  # the DAE is trained at one noise level
  return model.apply(params, y)


def dae(tied: bool = True, init_scale: float | None = None) -> ModelPlug:
  r"""The two-layer ReLU DAE f(y) = W₂ relu(W₁ᵀy) (Eq. 5) on the loss of Eq. 6, with the gradient
  written out (:func:`dae_theory.loss.dae_loss_and_grad`) and the common-random-number init of
  :func:`dae_theory.model.init_params` (entries N(0, init_scale²), default 1/√d). The same settings
  give the same plug object (``dae() is dae(True, None)``), so a compiled program is reused."""
  return _dae(bool(tied), None if init_scale is None else float(init_scale))


@functools.lru_cache(maxsize=None)
def _dae(tied: bool, init_scale: float | None) -> ModelPlug:
  return ModelPlug(
      name="dae" + ("" if tied else "-untied") + ("" if init_scale is None else f"-s{init_scale!r}"),
      init=lambda key, d, width, p_max, dtype: model.init_params(
          key, d, p_max, tied, init_scale, dtype, width=width),
      noise=gaussian_noise, loss_and_grad=_dae_loss_and_grad, represent=model.representation,
      denoise=_dae_denoise, zero_units_stay_zero=True)


def _gated_loss(params, batch, weights, noise, hyper):
  x, gate = batch
  pred = loss_lib.gated_linear_apply(params, x + hyper.sigma * noise, gate)
  return jnp.sum(weights * jnp.sum((pred - x) ** 2, -1)) + loss_lib.weight_penalty(params, hyper.lam)


def gated(tied: bool = True, init_scale: float | None = None) -> ModelPlug:
  r"""The gated-linear surrogate of Theorem D.2: the DAE with a fixed gate per sample (its expected
  loss is the cluster-decomposed loss). The batch is ``(x (B, d), gate (B, p))``; autodiff gradient.
  For :func:`dae_theory.train.fit` (``train_dae(gate=…)``); the sweep engine takes plugs whose batch
  is one ``(rows, d)`` array."""
  return _gated(bool(tied), None if init_scale is None else float(init_scale))


@functools.lru_cache(maxsize=None)
def _gated(tied: bool, init_scale: float | None) -> ModelPlug:
  base = _dae(tied, init_scale)
  return base._replace(name="gated-" + base.name,
                       loss_and_grad=jax.value_and_grad(_gated_loss), zero_units_stay_zero=False)


def signature(plug: ModelPlug, d: int, dtype=jnp.float32) -> str:
  """See :func:`_signature` (cached per plug, d and dtype: a sweep pays for it once)."""
  return _signature(plug, int(d), jnp.dtype(dtype))


@functools.lru_cache(maxsize=256)
def _signature(plug: ModelPlug, d: int, dtype) -> str:
  """A fingerprint of what the plug computes, not only of its name: sha256 (16 hex digits) of its
  name, its init at width 2 and its noise, loss and gradient on a fixed 3-row batch. Two plugs that
  share a name but differ in init, noise or loss (a user's ``from_loss`` plugs, a changed constant)
  get different signatures, so a sweep never resumes from another model's chunks."""
  import hashlib

  import numpy as np

  def probe():
    params = plug.init(jax.random.key(0), d, 2, 2, dtype)
    batch = jnp.linspace(-1.0, 1.0, 3 * d, dtype=dtype).reshape(3, d)
    noise = plug.noise(jax.random.key(1), 3, d, dtype)
    val, grads = plug.loss_and_grad(params, batch, jnp.full((3,), 1.0 / 3, dtype), noise,
                                    Hyper(jnp.asarray(0.3, dtype), jnp.asarray(0.01, dtype)))
    return params, noise, val, grads

  h = hashlib.sha256(plug.name.encode())
  for leaf in jax.tree.leaves(jax.jit(probe)()):  # one small compiled call, not op by op
    h.update(np.asarray(leaf).tobytes())
  return h.hexdigest()[:16]


# --- A plug from a per-sample loss ---------------------------------------------------------------------

def from_loss(name: str, init: Callable, per_sample_loss: Callable, represent: Callable,
              denoise: Callable, penalty: Callable | None = None,
              noise: Callable = gaussian_noise) -> ModelPlug:
  r"""A plug for a user's model, with the gradient by autodiff.

  Args:
    name: a short name.
    init: ``(key, d, width, p_max, dtype) -> params`` (unit j from ``fold_in(key, j)``; units ≥ width 0).
    per_sample_loss: ``(params, x (B, d), noise, sigma) -> (B,)`` the data term of each sample.
    represent, denoise: as in :class:`ModelPlug`.
    penalty: ``(params, lam) -> scalar`` (default: λ times the sum of squares of every weight).
    noise: ``(key, batch, d, dtype) -> noise`` (default one N(0, I) draw per sample).

  The loss is Σ_b w_b ℓ_b + penalty. The plug does not claim that zero units stay zero (the sweep
  engine then groups configs by width instead of padding).
  """
  if penalty is None:
    penalty = lambda p, lam: lam * sum(jnp.sum(a**2) for a in jax.tree.leaves(p))

  def objective(params, batch, weights, noise_, hyper):
    return jnp.sum(weights * per_sample_loss(params, batch, noise_, hyper.sigma)) + penalty(
        params, hyper.lam)

  return ModelPlug(name=name, init=init, noise=noise, loss_and_grad=jax.value_and_grad(objective),
                   represent=represent, denoise=denoise, zero_units_stay_zero=False)
