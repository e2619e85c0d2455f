r"""The time-conditioned two-layer DAE of the reference code, its training, and the VE sampler
(docs/theory.md §9). Pure JAX (params are NamedTuples): the model is two matrices and a tiny MLP, and pure
functions keep it vmappable in sweeps, so a module framework would add nothing here.

Model (our column convention, W (d, p)):

.. math::
    h(y, \sigma) = \mathrm{relu}(W^\top y) \odot \exp(\mathrm{MLP}(\log\sigma)), \qquad
    \hat x_0(y, \sigma) = W h + s\, y,

with the MLP's last layer and the skip s starting at zero. The representation reported by the lab is
the un-modulated relu(Wᵀy). VE forward process x_σ = x₀ + σε; score ∇log p_σ(y) = (x̂₀(y) − y)/σ².
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import checks, copies, model
from dae_theory import plug as plug_lib
from dae_theory import train as train_lib

SIGMA_MIN, SIGMA_MAX = 0.02, 2.0


class DiffusionParams(NamedTuple):
  """Attributes: ``w (d, p)`` tied encoder/decoder; MLP ``a1 (1, m)``, ``b1 (m,)``, ``a2 (m, p)``,
  ``b2 (p,)``; ``skip`` scalar s."""

  w: jax.Array
  a1: jax.Array
  b1: jax.Array
  a2: jax.Array
  b2: jax.Array
  skip: jax.Array


def init_params(key: jax.Array, d: int, p: int, hidden: int = 32, dtype=jnp.float32, width=None
                ) -> DiffusionParams:
  """W ~ N(0, 1/d), unit j's column from ``fold_in(fold_in(key, 0), j)`` (columns j ≥ ``width`` zero);
  first MLP layer ~ N(0, 1) from ``fold_in(key, 1)``; last layer and skip at zero (docs/theory.md §9)."""
  w = model.unit_columns(jax.random.fold_in(key, 0), d, p, 1.0 / jnp.sqrt(d), dtype, width)
  return DiffusionParams(
      w=w, a1=jax.random.normal(jax.random.fold_in(key, 1), (1, hidden), dtype),
      b1=jnp.zeros((hidden,), dtype), a2=jnp.zeros((hidden, p), dtype), b2=jnp.zeros((p,), dtype),
      skip=jnp.zeros((), dtype))


def representation(params: DiffusionParams, y: jax.Array) -> jax.Array:
  """The un-modulated code relu(Wᵀy): ``(..., d) -> (..., p)``."""
  return jax.nn.relu(y @ params.w)


def modulation(params: DiffusionParams, sigma: jax.Array) -> jax.Array:
  """exp(MLP(log σ)): ``(...,) -> (..., p)``."""
  t = jnp.log(sigma)[..., None]
  bias = lambda a, b: a + b.reshape((1,) * (a.ndim - 1) + b.shape)  # explicit broadcast
  hid = jax.nn.silu(bias(t @ params.a1, params.b1))
  return jnp.exp(bias(hid @ params.a2, params.b2))


def denoise(params: DiffusionParams, y: jax.Array, sigma: jax.Array) -> jax.Array:
  """x̂₀(y, σ) = W (relu(Wᵀy) ⊙ exp(MLP(log σ))) + s·y. ``y (..., d)``, ``sigma (...)``."""
  h = representation(params, y) * modulation(params, sigma)
  return h @ params.w.T + params.skip * y


def score(denoiser: Callable, y: jax.Array, sigma) -> jax.Array:
  """∇log p_σ(y) = (x̂₀(y, σ) − y)/σ² for any x0-predictor ``denoiser(y, sigma)``; ``sigma`` has the
  shape of ``y`` without its last axis."""
  sigma = jnp.asarray(sigma)
  return (denoiser(y, sigma) - y) / (sigma**2)[..., None]


def _noise(key, batch, d, dtype):
  """σ log-uniform in [SIGMA_MIN, SIGMA_MAX] per sample, and ε ~ N(0, I)."""
  k_s, k_e = jax.random.split(key)
  sig = jnp.exp(jax.random.uniform(k_s, (batch,), dtype, jnp.log(SIGMA_MIN), jnp.log(SIGMA_MAX)))
  return sig, jax.random.normal(k_e, (batch, d), dtype)


def _loss(params, batch, weights, noise, hyper):
  sig, eps = noise
  pred = denoise(params, batch + sig[:, None] * eps, sig)
  return jnp.sum(weights * jnp.sum((pred - batch) ** 2, -1)) + hyper.lam * 2 * jnp.sum(params.w**2)


@functools.lru_cache(maxsize=None)
def plug(hidden: int = 32) -> plug_lib.ModelPlug:
  r"""The model plug of the time-conditioned DAE: σ log-uniform in [σ_min, σ_max] per sample (the
  config's σ is not used), loss Σ_b w_b‖x̂₀(x_b + σ_bε_b, σ_b) − x_b‖² + 2λ‖W‖², autodiff gradient.
  A zero unit (w_j = 0 and its MLP output column 0) gets exactly zero gradient, so widths may be
  padded."""
  return plug_lib.ModelPlug(
      name=f"diffusion-h{hidden}",
      init=lambda key, d, width, p_max, dtype: init_params(key, d, p_max, hidden, dtype, width),
      noise=_noise, loss_and_grad=jax.value_and_grad(_loss), represent=representation,
      denoise=denoise, zero_units_stay_zero=True)


def train(key: jax.Array, x: jax.Array, width: int, steps: int, learning_rate: float = 1e-3,
          lam: float = 0.0, batch_size: int = 256, optimizer: str = "adam"
          ) -> tuple[DiffusionParams, jax.Array]:
  """Train the time-conditioned DAE on ``x (n, d)`` through the lab's one training loop
  (:func:`dae_theory.train.fit` with :func:`plug`): minibatches drawn with replacement, loss
  E‖x̂₀(x + σε, σ) − x‖² + 2λ‖W‖², the optimizer by name with cosine decay.

  Returns:
    ``(params, losses (steps,))``.

  Raises:
    ValueError: a bad argument, named. TrainingDiverged: as :func:`dae_theory.train.fit`.
  """
  x = jnp.asarray(checks.check_data(x))
  if width < 1 or steps < 1 or batch_size < 1 or not learning_rate > 0 or lam < 0:
    raise ValueError(f"need width, steps, batch_size >= 1, learning_rate > 0, lam >= 0; got "
                     f"{width}, {steps}, {batch_size}, {learning_rate}, {lam}.")
  res = train_lib.fit(key, plug(), x, width, plug_lib.Hyper(0.0, lam), steps, learning_rate,
                      batch_size=batch_size, optimizer=optimizer)
  return res.params, res.losses


def sigma_grid(levels: int = 60, sigma_max: float = SIGMA_MAX, sigma_min: float = SIGMA_MIN
               ) -> np.ndarray:
  """Geometric grid from σ_max to σ_min (``levels`` values) followed by 0 (docs/theory.md §9)."""
  if levels < 2 or not 0 < sigma_min < sigma_max:
    raise ValueError(f"need levels >= 2 and 0 < sigma_min < sigma_max, got {levels}, {sigma_min}, "
                     f"{sigma_max}.")
  return np.append(np.geomspace(sigma_max, sigma_min, levels), 0.0)


def sample(key: jax.Array, denoiser: Callable, n: int, d: int, sigmas=None,
           clamp: tuple[float, float] | None = (-1.0, 1.0), dtype=jnp.float32) -> jax.Array:
  r"""VE sampler of docs/theory.md §9: start at σ_max·N(0, I); for consecutive (σ, σ'),

  x ← x + (σ² − σ'²)·score(x, σ) + √(σ² − σ'²)·z  (no z on the last step, where σ' = 0),

  clamping to the data range after each step when ``clamp`` is given (the reference does).

  Args:
    key: PRNG key (initial noise and injected noise).
    denoiser: x0-predictor ``(y (n, d), sigma (n,)) -> (n, d)``.
    n, d: number and dimension of samples.
    sigmas: decreasing grid ending in 0 (default :func:`sigma_grid`).

  Returns:
    ``(n, d)`` samples.
  """
  sigmas = jnp.asarray(sigma_grid() if sigmas is None else sigmas, dtype)
  k0, kz = jax.random.split(key)
  x = sigmas[0] * jax.random.normal(k0, (n, d), dtype)

  def step(x, i):
    s, s_next = sigmas[i], sigmas[i + 1]
    var = s**2 - s_next**2
    x = x + var * score(denoiser, x, jnp.full((n,), s, dtype))
    z = jax.random.normal(jax.random.fold_in(kz, i), x.shape, dtype)
    x = x + jnp.where(s_next > 0, jnp.sqrt(var), 0.0) * z
    if clamp is not None:
      x = jnp.clip(x, clamp[0], clamp[1])
    return x, None

  x, _ = jax.lax.scan(step, x, jnp.arange(sigmas.shape[0] - 1))
  return x


def empirical_denoiser(x_train: jax.Array) -> Callable:
  r"""The optimal denoiser of the empirical distribution (Eq. 3):
  f(y) = Σ_i softmax_i(−‖y − x_i‖²/(2σ²)) x_i. ``(y (n, d), sigma (n,)) -> (n, d)``."""
  x_train = jnp.asarray(x_train)

  def f(y, sigma):
    d2 = jnp.sum((y[:, None, :] - x_train[None, :, :]) ** 2, -1)  # (n, n_train)
    w = jax.nn.softmax(-d2 / (2 * sigma[:, None] ** 2), axis=1)
    return w @ x_train

  return f


def nearest_cosine(samples: jax.Array, x_train: jax.Array) -> tuple[np.ndarray, np.ndarray]:
  """Cosine of each sample to its nearest training image (Euclidean, :func:`dae_theory.copies.nearest`),
  and that image's index.

  A sample that is not finite (a sampler that overflowed, e.g. unclamped sampling from an unstable
  model) has no nearest image: its cosine is NaN and its index −1, so it never counts as a copy; the
  caller counts them (``np.isnan(cos)``) instead of reading garbage.
  """
  s, x = np.asarray(samples, np.float64), np.asarray(x_train, np.float64)
  ok = np.all(np.isfinite(s), axis=1)
  cos = np.full(len(s), np.nan)
  idx = np.full(len(s), -1, np.int64)
  if np.any(ok):
    i = copies.nearest(s[ok], x)[1][:, 0]
    nn = x[i]
    cos[ok] = np.sum(s[ok] * nn, -1) / (np.linalg.norm(s[ok], axis=-1) * np.linalg.norm(nn, axis=-1))
    idx[ok] = i
  return cos.astype(np.asarray(samples).dtype), idx
