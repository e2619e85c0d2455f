r"""A bias-free convolutional U-Net denoiser in flax NNX, as a model plug of the lab (issue 17).

The denoiser (EDM preconditioning, Karras et al. 2022, Eq. 7 and Table 1):

.. math::
    D(y, \sigma) = c_\mathrm{skip}(\sigma)\, y + c_\mathrm{out}(\sigma)\,
                   F\big(c_\mathrm{in}(\sigma)\, y;\ c_\mathrm{noise}(\sigma)\big),\qquad
    c_\mathrm{skip} = \frac{\sigma_d^2}{\sigma^2 + \sigma_d^2},\quad
    c_\mathrm{out} = \frac{\sigma \sigma_d}{\sqrt{\sigma^2 + \sigma_d^2}},\quad
    c_\mathrm{in} = \frac{1}{\sqrt{\sigma^2 + \sigma_d^2}},\quad
    c_\mathrm{noise} = \tfrac14 \log\sigma,

with σ_d = ``sigma_data``. The network F on a ``side × side`` grey image has L = ``len(channel_mult)``
resolution levels; level l has C_l = p · ``channel_mult[l]`` channels (p the config's width, the base
channel count) at side / 2^l. Every block is residual,

.. math::
    \mathrm{block}(h) = g + K_2 * \mathrm{relu}\big((K_1 * g) \odot s(\sigma)\big),\qquad
    g = P * \mathrm{resample}(h)\ [+\ \text{skip}],

with 3 × 3 convolutions K₁, K₂ (and P where the channel count changes), ``resample`` a 2 × 2 average
pool (down) or a nearest-neighbour 2× repeat (up), and the noise conditioning a per-channel
**multiplicative** scale s(σ) = exp(A e(σ) + b), e(σ) = silu(a c_noise + a₀) (a small MLP of c_noise,
the last layer zero at init so s = 1). Blocks in network order (the names of :data:`TAPS` for L = 2):
``enc0`` (level 0), ``enc1`` … ``enc{L-1}`` (down, then P), ``mid`` (at the lowest level),
``dec{L-1}`` (mid + the skip of enc{L-1}), ``dec{l}`` for l = L−2 … 0 (up, P, + the skip of enc{l});
then a 3 × 3 convolution to one channel (zero at init, so D = c_skip·y at init). F starts with a 3 × 3
convolution from one channel to C₀.

**Bias-free homogeneity.** With ``bias=False`` no convolution has a bias, relu, average pooling,
repetition and the additive skips are positively homogeneous and s(σ) does not depend on y, so
F(c·u; c_noise) = c·F(u; c_noise) and D(c·y, σ) = c·D(y, σ) for every c > 0 (the MLP's own biases act on
σ only). ``bias=True`` adds a bias to every convolution, which breaks it.

**Zero padding.** Skips are additive (never channel concatenation) and nothing normalizes across
channels, so extra channels whose weights are all zero (in and out) carry exactly zero and leave D
unchanged: the sweep engine may store a model zero-padded to a larger width.

**Loss** (the plug's ``loss_and_grad``): σ log-uniform in [σ_min, σ_max] per sample (the plug draws
it; the config's ``hyper.sigma`` is ignored), EDM's weight λ(σ) = (σ² + σ_d²)/(σ σ_d)², which equals
1/c_out(σ)², so every σ contributes ‖F − F_target‖² on the same scale (the noise-level-balanced loss of
issue 17: an unweighted loss leaves the small σ under-trained), plus hyper.lam · ‖θ‖² over every
trainable weight:

.. math::
    \mathcal L(\theta) = \sum_b w_b\, \lambda(\sigma_b)\, \|D(x_b + \sigma_b \varepsilon_b, \sigma_b) - x_b\|^2
                         + \lambda_\mathrm{wd} \|\theta\|^2 .

**Params** are a plain nested dict of arrays: the trainable ``nnx.Param`` leaves of the flax module
(``nnx.to_pure_dict``), plus ``precond/sigma_data``, a constant (stop-gradient, so every optimizer of
the lab leaves it exactly unchanged, and outside the penalty) that makes the weights self-describing:
:func:`taps`, :func:`tap_rep` and :func:`steered_denoiser` read the architecture from the shapes and
σ_d from that leaf. The taps are read by flax's intermediate capture (``Module.sow`` into
``nnx.Intermediate``, collected by ``nnx.capture``).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dae_theory import checks
from dae_theory import plug as plug_lib
from dae_theory import steering as steering_lib

TAPS = ("enc0", "enc1", "mid", "dec1", "dec0")
"""The tap names of the default two-level net, in network order (:func:`tap_names` for any L)."""

POOLS = ("max", "mean")
"""Spatial pooling of a tap: max per channel (detection, Fig. 5 / Table 1), mean (steering, Eq. 11)."""

EMB = 16
"""Hidden width of the noise-conditioning MLP e(σ)."""


def tap_names(levels: int) -> tuple[str, ...]:
  """The block names of an L-level net in network order: enc0 … enc{L-1}, mid, dec{L-1} … dec0."""
  return (tuple(f"enc{l}" for l in range(levels)) + ("mid",)
          + tuple(f"dec{l}" for l in reversed(range(levels))))


# --- The flax module -----------------------------------------------------------------------------------

_DN = ("NHWC", "HWIO", "NHWC")


def _lax_same(x, k):
  return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN)


@jax.custom_vjp
def _same_conv(x, k):
  """A stride-1 'SAME' convolution ``x (N, H, W, Ci) * k (kh, kw, Ci, Co)`` (odd kh, kw) whose
  reverse-mode rule is written as two convolutions in XLA's canonical layout (b01f_01io->b01f)."""
  return _lax_same(x, k)


def _same_conv_fwd(x, k):
  return _lax_same(x, k), (x, k)


def _same_conv_bwd(res, g):
  x, k = res
  kh, kw = k.shape[:2]
  # d/dx: the correlation of g with the flipped, in/out-swapped kernel (still HWIO).
  gx = _lax_same(g, jnp.flip(k, (0, 1)).swapaxes(2, 3))
  # d/dk[i, j, ci, co] = sum_{n,h,w} xpad[n, h+i, w+j, ci] g[n, h, w, co]: a VALID convolution with
  # the channels as batch and the images as features, (Ci, Hp, Wp, N) * (H, W, N, Co) -> (Ci, kh, kw, Co).
  xp = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0))).transpose(3, 1, 2, 0)
  gk = jax.lax.conv_general_dilated(xp, g.transpose(1, 2, 0, 3), (1, 1), "VALID",
                                    dimension_numbers=_DN)
  return gx, gk.transpose(1, 2, 0, 3)


_same_conv.defvjp(_same_conv_fwd, _same_conv_bwd)


def canonical_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
  """``nnx.Conv``'s ``conv_general_dilated`` for the training loss: the same convolution (stride 1,
  'SAME', no dilation, one group, NHWC/HWIO), with a hand-written reverse-mode rule
  (:func:`_same_conv`).

  Why: inside ``lax.scan`` (the lab's training loop) XLA:CPU leaves the two convolutions of JAX's own
  transpose rule in non-canonical layouts (dim_labels ``f01b_i01o->01bf`` and ``b01f_01oi->b01f``),
  which it then runs as a naive loop: a vmapped step of 8 U-Nets (base width 8, 16 × 16, batch 32)
  took 2.3–2.6 s inside a scan against 0.24–0.33 s with the rule written here, which compiles to
  canonical ``b01f_01io->b01f`` convolutions in and outside the scan (2-core CPU shared with other
  jobs, so only the ratio is meaningful). The gradients are the same
  (tests/test_unet.py compares them with autodiff of ``lax.conv_general_dilated`` in float64).
  ``custom_vjp`` has no forward mode, so only the loss uses it; :func:`denoise` and the taps use the
  plain convolution (``jax.jacfwd`` works on them)."""
  del kwargs  # out_sharding=None from nnx.Conv
  if (padding != "SAME" or tuple(window_strides) != (1, 1) or feature_group_count != 1
      or any(d not in (None, 1, (1, 1)) for d in (lhs_dilation, rhs_dilation))
      or rhs.shape[0] % 2 == 0 or rhs.shape[1] % 2 == 0
      or dimension_numbers != jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DN)):
    raise ValueError("canonical_conv handles stride-1 'SAME' NHWC/HWIO convolutions with odd kernels "
                     "only.")
  del precision
  return _same_conv(lhs, rhs)


def _conv(c_in, c_out, bias, dtype, rngs, zero=False, fast=False):
  kw = {"kernel_init": nnx.initializers.zeros_init()} if zero else {}
  if fast:
    kw["conv_general_dilated"] = canonical_conv
  return nnx.Conv(c_in, c_out, (3, 3), padding="SAME", use_bias=bias, param_dtype=dtype, rngs=rngs,
                  **kw)


class Block(nnx.Module):
  """One residual block: g = P * resample(h) (+ skip), out = g + K₂ * relu((K₁ * g) ⊙ s(σ))."""

  def __init__(self, c_in: int, c: int, *, resample: str, bias: bool, dtype, rngs: nnx.Rngs,
               fast: bool = False):
    self.resample = resample
    self.proj = _conv(c_in, c, bias, dtype, rngs, fast=fast) if c_in != c else None
    self.conv1 = _conv(c, c, bias, dtype, rngs, fast=fast)
    self.conv2 = _conv(c, c, bias, dtype, rngs, fast=fast)
    # Per-channel log-scale from the noise embedding; zero at init (s = 1).
    self.scale = nnx.Linear(EMB, c, kernel_init=nnx.initializers.zeros_init(), param_dtype=dtype,
                            rngs=rngs)

  def __call__(self, h, e, skip=None):
    n, hh, ww, c = h.shape
    if self.resample == "down":  # 2 x 2 average pool (a reshape: faster than reduce_window on CPU)
      h = h.reshape(n, hh // 2, 2, ww // 2, 2, c).mean((2, 4))
    elif self.resample == "up":  # nearest-neighbour 2x
      h = jnp.broadcast_to(h[:, :, None, :, None, :], (n, hh, 2, ww, 2, c)).reshape(
          n, 2 * hh, 2 * ww, c)
    if self.proj is not None:
      h = self.proj(h)
    if skip is not None:
      h = h + skip
    s = jnp.exp(self.scale(e))[:, None, None, :]  # (N, 1, 1, C)
    return h + self.conv2(jax.nn.relu(self.conv1(h) * s))


class UNet(nnx.Module):
  """F(u; c_noise) of the module docstring: ``u (N, side, side, 1)``, ``c_noise (N,)``. ``fast``: the
  convolutions use :func:`canonical_conv` (same values, a faster gradient inside ``lax.scan``)."""

  def __init__(self, width: int, channel_mult: Sequence[int], *, bias: bool, dtype,
               rngs: nnx.Rngs, fast: bool = False):
    c = [width * m for m in channel_mult]
    levels = len(c)
    self.levels = levels
    self.emb = nnx.Linear(1, EMB, kernel_init=nnx.initializers.normal(1.0), param_dtype=dtype,
                          rngs=rngs)
    self.conv_in = _conv(1, c[0], bias, dtype, rngs, fast=fast)
    kw = dict(bias=bias, dtype=dtype, rngs=rngs, fast=fast)
    for l in range(levels):
      setattr(self, f"enc{l}", Block(c[max(l - 1, 0)], c[l], resample="down" if l else "none", **kw))
    self.mid = Block(c[-1], c[-1], resample="none", **kw)
    for l in reversed(range(levels)):
      last = l == levels - 1
      setattr(self, f"dec{l}", Block(c[l] if last else c[l + 1], c[l],
                                     resample="none" if last else "up", **kw))
    self.conv_out = _conv(c[0], 1, bias, dtype, rngs, zero=True, fast=fast)

  def __call__(self, u, c_noise, edit=None):
    """``edit``: optional ``(tap name, h -> h')`` applied to that block's output (steering)."""
    e = jax.nn.silu(self.emb(c_noise[:, None]))

    def out(name, h):
      if edit is not None and edit[0] == name:
        h = edit[1](h)
      self.sow(nnx.Intermediate, name, h)
      return h

    h = self.conv_in(u)
    skips = []
    for l in range(self.levels):
      h = out(f"enc{l}", getattr(self, f"enc{l}")(h, e))
      skips.append(h)
    h = out("mid", self.mid(h, e))
    for l in reversed(range(self.levels)):
      h = out(f"dec{l}", getattr(self, f"dec{l}")(h, e, skips[l]))
    return self.conv_out(h)


# --- Params <-> module ---------------------------------------------------------------------------------

def _spec(params) -> tuple[int, tuple[int, ...], bool, jnp.dtype]:
  """``(width, channel_mult, bias, dtype)`` read from the shapes of ``params`` (raises ValueError on a
  dict that is not a U-Net of this module)."""
  try:
    width = int(params["conv_in"]["kernel"].shape[-1])
    levels = sum(1 for k in params if k.startswith("enc"))
    mult = tuple(int(params[f"enc{l}"]["conv1"]["kernel"].shape[-1]) // width for l in range(levels))
    bias = "bias" in params["conv_in"]
    dtype = params["conv_in"]["kernel"].dtype
    params["precond"]["sigma_data"]
  except (KeyError, TypeError, AttributeError, IndexError) as err:
    raise ValueError("params are not deep.unet weights (a dict with conv_in, enc0 …, mid, dec0 …, "
                     f"conv_out and precond/sigma_data): {type(err).__name__}: {err}") from None
  return width, mult, bias, dtype


@functools.lru_cache(maxsize=64)
def _graphdef(width: int, mult: tuple[int, ...], bias: bool, dtype, fast: bool) -> nnx.GraphDef:
  abstract = nnx.eval_shape(lambda: UNet(width, mult, bias=bias, dtype=dtype, rngs=nnx.Rngs(0),
                                         fast=fast))
  return nnx.split(abstract)[0]


def _abstract_state(width, mult, bias, dtype):
  abstract = nnx.eval_shape(lambda: UNet(width, mult, bias=bias, dtype=dtype, rngs=nnx.Rngs(0)))
  return nnx.state(abstract)


def _module(params, fast: bool = False) -> UNet:
  """The flax module holding ``params`` (no copy; works under jit/vmap)."""
  width, mult, bias, dtype = _spec(params)
  state = _abstract_state(width, mult, bias, dtype)
  nnx.replace_by_pure_dict(state, _trainable(params))
  return nnx.merge(_graphdef(width, mult, bias, dtype, fast), state)


def _trainable(params):
  return {k: v for k, v in params.items() if k != "precond"}


# --- The denoiser --------------------------------------------------------------------------------------

def precond(sigma, sigma_data):
  r"""EDM's ``(c_skip, c_out, c_in, c_noise)`` (Karras et al. 2022, Table 1) of the module docstring."""
  s2 = sigma**2 + sigma_data**2
  return sigma_data**2 / s2, sigma * sigma_data / jnp.sqrt(s2), 1.0 / jnp.sqrt(s2), jnp.log(sigma) / 4


def loss_weight(sigma, sigma_data):
  r"""EDM's λ(σ) = (σ² + σ_d²)/(σ σ_d)² = 1/c_out(σ)² (Karras et al. 2022, Table 1)."""
  return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def _side(d: int) -> int:
  side = math.isqrt(int(d))
  if side * side != d:
    raise ValueError(f"the U-Net takes square grey images: d must equal side**2, got d={d}.")
  return side


def _check_inputs(params, y, sigma):
  """Shapes always (they are static under jit/vmap); values (finite y, finite σ > 0) when concrete."""
  y = jnp.asarray(y) if not checks.is_traced(y) else y
  if not jnp.issubdtype(y.dtype, jnp.floating):  # integer images: cast to the weights' dtype
    y = y.astype(_spec(params)[3])
  sigma = jnp.asarray(sigma, y.dtype) if not checks.is_traced(sigma) else sigma
  if y.ndim < 1:
    raise ValueError("y must have shape (..., d), got a scalar.")
  _side(y.shape[-1])
  if sigma.shape not in ((), y.shape[:-1]):
    raise ValueError(f"sigma must be a scalar or one per row of y (shape {y.shape[:-1]}), got shape "
                     f"{sigma.shape}.")
  if not checks.is_traced(y):
    bad = int(np.sum(~np.isfinite(np.asarray(y))))
    if bad:
      raise ValueError(f"y holds {bad} non-finite entries (NaN or inf) of {y.size}; the denoiser "
                       "needs finite input.")
  if not checks.is_traced(sigma):
    s = np.asarray(sigma)
    if not np.all(np.isfinite(s) & (s > 0)):
      raise ValueError(f"sigma must be finite and > 0, got {s.ravel()[:5]} (first entries).")
  _spec(params)
  return y, sigma


def _forward(params, y, sigma, edit=None, fast=False):
  """``(D(y, σ) (..., d), taps {name: (..., H, W, C)})`` (no input checks; ``fast``: the training
  loss's convolutions, :func:`canonical_conv`)."""
  lead, d = y.shape[:-1], y.shape[-1]
  side = _side(d)
  n = int(np.prod(lead, dtype=np.int64))
  sd = jax.lax.stop_gradient(params["precond"]["sigma_data"]).astype(y.dtype)
  sig = jnp.broadcast_to(jnp.asarray(sigma, y.dtype), lead).reshape(n)
  c_skip, c_out, c_in, c_noise = precond(sig, sd)
  yf = y.reshape(n, d)
  u = (c_in[:, None] * yf).reshape(n, side, side, 1)
  f, inter = nnx.capture(_module(params, fast), nnx.Intermediate)(u, c_noise, edit)
  den = c_skip[:, None] * yf + c_out[:, None] * f.reshape(n, d)
  taps_ = {}
  for name in tap_names(len(_spec(params)[1])):
    h = inter[name].get_value()[0]  # sow keeps a tuple of the values sown (one call: one value)
    taps_[name] = h.reshape(lead + h.shape[1:])
  return den.reshape(lead + (d,)), taps_


def denoise(params, y, sigma):
  """D(y, σ) of the module docstring.

  Args:
    params: U-Net weights (:func:`plug`'s ``init``, possibly zero-padded to a larger width).
    y: ``(..., d)`` noisy images, d = side².
    sigma: a scalar or one per row (``y.shape[:-1]``), > 0.

  Returns:
    ``(..., d)``.

  Raises:
    ValueError: d not a square, a wrong sigma shape, non-finite y, σ ≤ 0, or params of another model.
  """
  y, sigma = _check_inputs(params, y, sigma)
  return _denoise_jit(params, y, sigma)


@jax.jit
def _denoise_jit(params, y, sigma):
  return _forward(params, y, sigma)[0]


@jax.jit
def _taps_jit(params, y, sigma):
  return _forward(params, y, sigma)[1]


def taps(params, y, sigma) -> dict:
  """Every block's output, by flax's intermediate capture: ``{name: (..., H_l, W_l, C_l)}`` in network
  order (:func:`tap_names`), H_l = W_l = side / 2^l, C_l = p·channel_mult[l]. These are activations of
  F, whose input is c_in(σ)·y (module docstring). Same arguments and errors as :func:`denoise`."""
  y, sigma = _check_inputs(params, y, sigma)
  out = _taps_jit(params, y, sigma)  # jit returns the dict with sorted keys
  return {name: out[name] for name in tap_names(len(_spec(params)[1]))}


def pool(h, how: str = "max"):
  """Spatial pooling of a tap ``(..., H, W, C) -> (..., C)``: ``max`` per channel (the paper's pooling
  for detection, Fig. 5 / Table 1) or ``mean`` (steering vectors, Eq. 11)."""
  if how not in POOLS:
    raise ValueError(f"how must be one of {POOLS}, got {how!r}.")
  if jnp.ndim(h) < 3:
    raise ValueError(f"h must have shape (..., H, W, C), got {jnp.shape(h)}.")
  return jnp.max(h, axis=(-3, -2)) if how == "max" else jnp.mean(h, axis=(-3, -2))


@functools.partial(jax.jit, static_argnames=("tap", "how"))
def _tap_pooled(params, y, sigma, tap, how):
  return pool(_forward(params, y, sigma)[1][tap], how)


def _check_tap(params, tap):
  names = tap_names(len(_spec(params)[1]))
  if tap not in names:
    raise ValueError(f"tap must be one of {names}, got {tap!r}.")


def tap_rep(params, tap: str, sigma: float, how: str = "max") -> Callable:
  """The representation ``y (..., d) -> (..., C)``: tap ``tap`` of D(·, σ) pooled by ``how``; the
  ``rep`` callable of :func:`dae_theory.detection.code_scores` and
  :func:`dae_theory.steering.mean_representation` (one compiled program per input shape)."""
  _check_tap(params, tap)
  pool(jnp.zeros((1, 1, 1)), how)  # validates how
  sigma = float(sigma)
  if not (np.isfinite(sigma) and sigma > 0):
    raise ValueError(f"sigma must be finite and > 0, got {sigma}.")

  def rep(y):
    y, s = _check_inputs(params, y, sigma)
    return _tap_pooled(params, y, s, tap, how)

  return rep


@functools.partial(jax.jit, static_argnames=("tap", "windowed"))
def _steered(params, y, sigma, v, a, lo, hi, tap, windowed):
  lead = y.shape[:-1]
  sig = jnp.broadcast_to(jnp.asarray(sigma, y.dtype), lead).reshape(-1)
  step = jnp.broadcast_to(jnp.asarray(a, y.dtype), sig.shape)
  if windowed:
    step = step * ((sig >= lo) & (sig <= hi)).astype(y.dtype)
  edit = (tap, lambda h: h + step[:, None, None, None] * v.astype(h.dtype).reshape(1, 1, 1, -1))
  return _forward(params, y, sigma, edit)[0]


def steered_denoiser(params, tap: str, v, a, window=None) -> Callable:
  r"""Eq. 11 at a tap: the tap's output h becomes h + a·1[σ ∈ Ω]·v (v broadcast over space) and the
  rest of the net runs on; outside the window Ω = [σ_lo, σ_hi] (``window``, default every σ) the
  denoiser is the model's own exactly (the term is multiplied by 0), as in
  :func:`dae_theory.steering.steered_diffusion_denoiser`.

  Args:
    params: U-Net weights.
    tap: a name of :func:`tap_names`.
    v: ``(C,)`` steering vector (C the tap's channel count), e.g. the mean-pooled tap of a target set.
    a: steering strength (scalar).
    window: optional ``(sigma_lo, sigma_hi)``.

  Returns:
    ``den(y (..., d), sigma) -> (..., d)``.

  Raises:
    ValueError: an unknown tap, v of the wrong shape, or a bad window.
  """
  _check_tap(params, tap)
  width, mult, _, dtype = _spec(params)
  level = int(tap[3:]) if tap != "mid" else len(mult) - 1
  c = width * mult[level]
  v = jnp.asarray(v, dtype)
  if v.shape != (c,):
    raise ValueError(f"v must have shape ({c},) (the channels of tap {tap!r}), got {v.shape}.")
  lo, hi = steering_lib.window_bounds(window) if window is not None else (0.0, 0.0)

  def den(y, sigma):
    y, sigma = _check_inputs(params, y, sigma)
    return _steered(params, y, sigma, v, a, lo, hi, tap, window is not None)

  return den


# --- The model plug ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _channel_axes(mult, bias, dtype):
  """Per leaf path of the params (trainable part): ``((axis, multiplier), …)`` of the axes that grow
  with the width (size = multiplier × width), found by comparing the shapes at widths 2 and 3."""
  a = nnx.to_pure_dict(_abstract_state(2, mult, bias, dtype))
  b = nnx.to_pure_dict(_abstract_state(3, mult, bias, dtype))
  fa = jax.tree_util.tree_flatten_with_path(a)[0]
  fb = jax.tree.leaves(b)
  out = []
  for (path, sa), sb in zip(fa, fb):
    axes = tuple((i, (y - x)) for i, (x, y) in enumerate(zip(sa.shape, sb.shape)) if x != y)
    out.append(axes)
  return out


def _init_std(path: tuple[str, ...], shape) -> float:
  """The init's standard deviation of one leaf: convolution kernels N(0, 1/fan_in) (LeCun normal,
  fan_in = 3·3·C_in), the noise MLP's first layer N(0, 1) (as in :mod:`dae_theory.diffusion`), and
  zero for the last convolution, the scale layers and every bias (so at init s(σ) = 1, D = c_skip·y)."""
  if path[-1] == "bias" or path[0] == "conv_out" or "scale" in path:
    return 0.0
  if path[0] == "emb":
    return 1.0
  return 1.0 / math.sqrt(math.prod(shape[:-1]))


@functools.partial(jax.jit, static_argnames=("p_max", "dtype", "mult", "bias", "sigma_data"))
def _init(key, width, *, p_max, dtype, mult, bias, sigma_data):
  """The module's shapes (flax), filled from ONE normal draw of ``key`` (one draw per leaf, as flax's
  initializers do, took 22 s to compile under load; this compiles in about a second)."""
  abstract = nnx.to_pure_dict(_abstract_state(p_max, mult, bias, dtype))
  flat, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  sizes = [math.prod(a.shape) for _, a in flat]
  z = jax.random.normal(key, (sum(sizes),), dtype)
  offsets = np.cumsum([0] + sizes)
  leaves = []
  for (path, a), lo, axes in zip(flat, offsets, _channel_axes(mult, bias, jnp.dtype(dtype))):
    names = tuple(str(getattr(k, "key", k)) for k in path)
    leaf = z[lo:lo + math.prod(a.shape)].reshape(a.shape) * _init_std(names, a.shape)
    # Channels >= width (of each level) are zero: the function of the width-`width` net (module
    # docstring, zero padding). With the engine's bucketed groups width == p_max: nothing is masked.
    for axis, m in axes:
      shape = [1] * leaf.ndim
      shape[axis] = -1
      leaf = leaf * (jnp.arange(leaf.shape[axis]) < m * width).reshape(shape).astype(dtype)
    leaves.append(leaf)
  pure = jax.tree.unflatten(treedef, leaves)
  pure["precond"] = {"sigma_data": jnp.asarray(sigma_data, dtype)}
  return pure


def _noise(key, batch, d, dtype, *, sigma_min, sigma_max):
  k_s, k_e = jax.random.split(key)
  sig = jnp.exp(jax.random.uniform(k_s, (batch,), dtype, math.log(sigma_min), math.log(sigma_max)))
  return sig, jax.random.normal(k_e, (batch, d), dtype)


def _loss(params, batch, weights, noise, hyper):
  sig, eps = noise
  sd = jax.lax.stop_gradient(params["precond"]["sigma_data"])
  den = _forward(params, batch + sig[:, None] * eps, sig, fast=True)[0]
  data = jnp.sum(weights * loss_weight(sig, sd) * jnp.sum((den - batch) ** 2, -1))
  penalty = sum(jnp.sum(a**2) for a in jax.tree.leaves(_trainable(params)))
  return data + hyper.lam * penalty


def _represent(params, y, *, probe_sigma):
  if checks.is_traced(y, *jax.tree.leaves(params)):
    return pool(_forward(params, y, probe_sigma)[1]["mid"], "max")
  y, sigma = _check_inputs(params, y, probe_sigma)
  return _tap_pooled(params, y, sigma, "mid", "max")


def plug(channel_mult: Sequence[int] = (1, 2), bias: bool = False, side: int = 16,
         sigma_min: float = 0.01, sigma_max: float = 10.0, sigma_data: float | None = None,
         probe_sigma: float = 0.1) -> plug_lib.ModelPlug:
  r"""The U-Net denoiser of the module docstring as a :class:`dae_theory.plug.ModelPlug`.

  Args:
    channel_mult: channel multiplier per level (level l has width · channel_mult[l] channels), 2 or 3
      levels for 16 × 16 (side must be divisible by 2^(L−1)).
    bias: biases in every convolution (``False``: bias-free, D(c·y, σ) = c·D(y, σ) for c > 0).
    side: the image side (d = side²).
    sigma_min, sigma_max: the log-uniform training range of σ.
    sigma_data: σ_d of the preconditioning and the loss weight (default 0.5, EDM's value for images
      in [−1, 1]).
    probe_sigma: the σ at which ``represent`` reads the ``mid`` tap (spatial max per channel).

  Fields: ``init(key, d, width, p_max, dtype)`` builds the net at base width p_max (channels ≥ width
  zero; the engine's bucketed groups have width = p_max), ``noise`` draws (σ (B,), ε (B, d)),
  ``loss_and_grad`` is the module docstring's loss by autodiff (``hyper.sigma`` ignored),
  ``denoise`` = :func:`denoise`, ``represent(params, y) -> (..., C_mid)``. The same settings give the
  same plug object (a compiled program is reused). ``zero_units_stay_zero`` is not claimed: sweep it
  with ``bucket=True``.

  Raises:
    ValueError: a bad setting, named.
  """
  mult = tuple(int(m) for m in channel_mult)
  sd = 0.5 if sigma_data is None else float(sigma_data)
  return _plug(mult, bool(bias), int(side), float(sigma_min), float(sigma_max), sd, float(probe_sigma))


@functools.lru_cache(maxsize=None)
def _plug(mult, bias, side, sigma_min, sigma_max, sigma_data, probe_sigma) -> plug_lib.ModelPlug:
  if not 1 <= len(mult) <= 4 or min(mult) < 1:
    raise ValueError(f"channel_mult must hold 1 to 4 multipliers >= 1, got {mult}.")
  if side < 1 or side % 2 ** (len(mult) - 1):
    raise ValueError(f"side must be a positive multiple of 2**(levels-1) = {2 ** (len(mult) - 1)}, "
                     f"got {side}.")
  if not (0 < sigma_min < sigma_max < math.inf):
    raise ValueError(f"need 0 < sigma_min < sigma_max (finite), got {sigma_min}, {sigma_max}.")
  for name, val in (("sigma_data", sigma_data), ("probe_sigma", probe_sigma)):
    if not (0 < val < math.inf):
      raise ValueError(f"{name} must be finite and > 0, got {val}.")

  def init(key, d, width, p_max, dtype):
    if d != side * side:
      raise ValueError(f"plug for {side}x{side} images: d must equal side**2 = {side * side}, got "
                       f"d={d}.")
    if not checks.is_traced(width) and not 1 <= int(width) <= int(p_max):
      raise ValueError(f"width must lie in 1 … p_max={p_max}, got {width}.")
    return _init(key, width, p_max=int(p_max), dtype=jnp.dtype(dtype), mult=mult, bias=bias,
                 sigma_data=sigma_data)

  name = (f"unet-m{'x'.join(map(str, mult))}-{'bias' if bias else 'nobias'}-s{side}"
          f"-sig{sigma_min!r}-{sigma_max!r}-sd{sigma_data!r}-probe{probe_sigma!r}")
  return plug_lib.ModelPlug(
      name=name, init=init,
      noise=functools.partial(_noise, sigma_min=sigma_min, sigma_max=sigma_max),
      loss_and_grad=jax.value_and_grad(_loss),
      represent=functools.partial(_represent, probe_sigma=probe_sigma), denoise=denoise,
      zero_units_stay_zero=False)
