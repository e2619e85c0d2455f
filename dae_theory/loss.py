r"""Losses of the DAE: Eq. 6, the cluster-decomposed loss of Theorem D.2, and the explicit cross-talk
bound of docs/theory.md §4.

Shapes: ``x (n, d)`` rows are samples; ``labels (n,)`` ints ``0 … M-1``; ``unit_block (p,)`` ints giving
the cluster each hidden unit belongs to (``-1`` = assigned to no cluster). A noise bank ``eps`` has shape
``(n_mc, n, d)``: draw ``r`` of sample ``i`` is ``eps[r, i]``.

Validation: the public functions that take concrete data (the decomposed loss, the surrogate, the
cross-talk bound and gap, the Monte-Carlo losses) check their inputs in Python with
:mod:`dae_theory.checks` before tracing (``ValueError`` naming the argument, the value and the rule);
arguments that are already traced are not checked. The training hot paths (:func:`dae_loss`,
:func:`dae_loss_and_grad`, :func:`per_sample_error`, :func:`weight_penalty`) run inside the compiled
sweep and check nothing.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from dae_theory import checks
from dae_theory.model import DAEParams, apply


# ----------------------------------------------------------------------------------------------
# Eq. 6
# ----------------------------------------------------------------------------------------------


def weight_penalty(params: DAEParams, lam) -> jax.Array:
  r"""λ(‖W₁‖² + ‖W₂‖²) (Eq. 6, penalty λ not λ/2 — corrected). Tied: 2λ‖W‖²."""
  sq1 = jnp.sum(params.w1**2)
  sq2 = sq1 if params.tied else jnp.sum(params.w2**2)
  return lam * (sq1 + sq2)


def noise_bank(key: jax.Array, n_mc: int, n: int, d: int, dtype=None) -> jax.Array:
  """A fixed, seeded bank of standard normal noise, ``(n_mc, n, d)``."""
  return jax.random.normal(key, (n_mc, n, d), dtype or jnp.result_type(float))


def per_sample_error(params: DAEParams, x: jax.Array, sigma, eps: jax.Array) -> jax.Array:
  r"""Monte-Carlo E_ε‖f(x_i + σε) − x_i‖² per sample on a noise bank.

  Args:
    params: DAE weights.
    x: ``(n, d)``.
    sigma: noise std σ.
    eps: ``(n_mc, n, d)`` noise bank.

  Returns:
    ``(n,)`` the mean over the bank of the squared error of each sample.
  """
  pred = apply(params, x[None] + sigma * eps)
  return jnp.mean(jnp.sum((pred - x[None]) ** 2, axis=-1), axis=0)


def dae_loss(params: DAEParams, x: jax.Array, sigma, lam, eps: jax.Array) -> jax.Array:
  r"""Eq. 6 on a noise bank:

  .. math::
      L(W_1, W_2) = \frac1n \sum_i \mathbb{E}_\varepsilon \|W_2\,\mathrm{relu}(W_1^\top(x_i+\sigma\varepsilon))
      - x_i\|^2 + \lambda(\|W_1\|^2 + \|W_2\|^2).

  The expectation is the mean over ``eps (n_mc, n, d)``; pass ``eps`` of shape ``(1, n, d)`` drawn fresh
  each step for stochastic training.
  """
  return jnp.mean(per_sample_error(params, x, sigma, eps)) + weight_penalty(params, lam)


def dae_loss_and_grad(params: DAEParams, x: jax.Array, sigma, lam, eps: jax.Array,
                      weights: jax.Array | None = None) -> tuple[jax.Array, DAEParams]:
  r"""Eq. 6 on one noise draw per sample and its gradient, written out (the training step's hot path).

  With y = x + σε, z = W₁ᵀy, h = relu(z), r = W₂h − x and g = 2 w ⊙ r (rows are samples, weights
  w_i = 1/n by default; a minibatch of the training engine passes its own, summing to one):

  .. math::
      \partial_{W_2} L = g^\top h + 2\lambda W_2, \qquad
      \partial_{W_1} L = y^\top\big((g W_2) \odot 1[z > 0]\big) + 2\lambda W_1,

  summed for tied weights (W₁ = W₂ = W: penalty 2λ‖W‖², gradient term 4λW). The ReLU derivative at
  z = 0 is 0, as in ``jax.nn.relu``, so a zero (padded) unit gets exactly zero gradient. The value
  equals :func:`dae_loss` with ``eps[None]``; the tests compare both with ``jax.value_and_grad``.
  Writing the five matrix products out is 1.2× faster than autodiff inside the compiled sweep.

  Args:
    params: DAE weights.
    x: ``(n, d)`` clean samples.
    sigma, lam: σ and λ.
    eps: ``(n, d)`` one standard normal draw per sample.
    weights: ``(n,)`` weight of each row in the data term Σ_i w_i‖r_i‖² (default 1/n each).

  Returns:
    ``(loss, grads)`` with ``grads`` a :class:`DAEParams` (``w2`` None when tied).
  """
  n = x.shape[0]
  if weights is None:
    weights = jnp.full((n,), 1.0 / n, x.dtype)
  w1, w2 = params.w1, params.decoder
  y = x + sigma * eps
  z = y @ w1
  h = jnp.maximum(z, 0)
  r = h @ w2.T - x
  g = (2.0 * weights)[:, None] * r
  g_z = jnp.where(z > 0, g @ w2, 0)
  g_enc = y.T @ g_z
  g_dec = g.T @ h
  value = jnp.sum(weights * jnp.sum(r * r, -1)) + weight_penalty(params, lam)
  if params.tied:
    return value, DAEParams(g_enc + g_dec + 4 * lam * w1)
  return value, DAEParams(g_enc + 2 * lam * w1, g_dec + 2 * lam * w2)


def relative_gradient(loss_fn: Callable[[DAEParams], jax.Array], params: DAEParams) -> float:
  r"""‖∇L(W)‖ ‖W‖ / L(W) at ``params``: the scale-free stationarity measure of a critical-point check.

  ‖∇L‖ alone carries the units of L per unit of W, so whether a gradient of 1e-8 is "zero" depends on
  the scale of the data and of the weights. Multiplied by ‖W‖ and divided by L it is the largest
  first-order relative change of L under a relative change of W (L(W + δ‖W‖U)/L(W) − 1 ≈ δ⟨∇L, U⟩‖W‖/L
  for ‖U‖ = 1): a pure number, unchanged when the loss is scaled or the data and weights are rescaled
  together, and at a critical point only rounding (≈ 1e-13 in float64 for the lab's constructions,
  which the checks compare with 1e-9). Norms are Frobenius over every weight array of ``params``.

  Evaluated eagerly (``jax.value_and_grad``, not jitted): ``loss_fn`` is usually a fresh closure over
  the data, which a jit would compile anew on each call (slower for one evaluation), and at a critical
  point the value is rounding noise whose digits depend on how XLA orders the operations.

  Args:
    loss_fn: ``params -> scalar`` loss (e.g. a closure over :func:`decomposed_loss`), > 0 at ``params``.
    params: the point (a :class:`~dae_theory.model.DAEParams` or any pytree of arrays).

  Returns:
    The relative gradient as a Python float (inf or NaN where L = 0).
  """
  val, grads = jax.value_and_grad(loss_fn)(params)
  return float(_tree_norm(grads) * _tree_norm(params) / val)


def _tree_norm(tree) -> jax.Array:
  """Frobenius norm over the arrays of a pytree (``jnp.linalg.norm`` itself for a single array)."""
  norms = [jnp.linalg.norm(leaf) for leaf in jax.tree.leaves(tree)]
  return norms[0] if len(norms) == 1 else jnp.linalg.norm(jnp.stack(norms))


class MCMoments(NamedTuple):
  """Per-sample Monte-Carlo mean and standard error of a per-draw quantity, over ``n_mc`` draws."""

  mean: jax.Array
  stderr: jax.Array
  n_mc: int


def mc_moments(key: jax.Array, sample_chunk: Callable[[jax.Array, int], jax.Array], n_mc: int,
               chunk: int = 1000) -> MCMoments:
  """Mean and standard error of a per-draw quantity over ``n_mc`` independent draws, in chunks.

  Args:
    key: PRNG key; chunk c uses ``fold_in(key, c)``.
    sample_chunk: ``(key, c) -> values (c, ...)``: c independent draws from the given key.
    n_mc: number of draws (rounded up to a multiple of ``chunk``).
    chunk: draws per chunk (bounds the memory).

  Returns:
    MCMoments with arrays of shape ``values.shape[1:]``.
  """
  if n_mc < 2:
    raise ValueError(f"n_mc must be >= 2 for a standard error, got {n_mc}.")
  chunk = min(chunk, n_mc)
  n_chunks = -(-n_mc // chunk)
  out = jax.eval_shape(lambda k: sample_chunk(k, chunk), key)

  def body(carry, c):
    s1, s2 = carry
    vals = sample_chunk(jax.random.fold_in(key, c), chunk)
    return (s1 + jnp.sum(vals, 0), s2 + jnp.sum(vals**2, 0)), None

  zeros = jnp.zeros(out.shape[1:], out.dtype)
  (s1, s2), _ = jax.lax.scan(body, (zeros, zeros), jnp.arange(n_chunks))
  total = n_chunks * chunk
  mean = s1 / total
  var = jnp.maximum(s2 / total - mean**2, 0.0) * total / (total - 1)
  return MCMoments(mean, jnp.sqrt(var / total), total)


def gaussian_draws(per_draw: Callable[[jax.Array], jax.Array], shape: tuple[int, ...], dtype
                   ) -> Callable[[jax.Array, int], jax.Array]:
  """Adapt ``per_draw(eps (c, *shape)) -> (c, ...)`` to :func:`mc_moments` with standard normal noise."""
  return lambda k, c: per_draw(jax.random.normal(k, (c,) + tuple(shape), dtype))


def dae_loss_mc(key: jax.Array, params: DAEParams, x: jax.Array, sigma, lam, n_mc: int,
                chunk: int = 1000) -> tuple[jax.Array, jax.Array]:
  """Eq. 6 by Monte Carlo with ``n_mc`` fresh draws per sample (chunked; jitted, ``n_mc`` static).

  Returns:
    ``(loss, stderr)``: the estimate and its Monte-Carlo standard error (penalty is exact).

  Raises:
    ValueError: bad x (not ``(n, d)`` matching W₁, empty, non-finite, float16), NaN/inf or negative
      σ or λ, non-finite weights, or ``n_mc`` / ``chunk`` not integers >= 2 / >= 1.
  """
  x = checks.check_data(x, d=params.w1.shape[0], weights="params.w1")
  checks.check_finite_params(params)
  checks.check_sigma(sigma)
  checks.check_lam(lam)
  n_mc = checks.check_int(n_mc, "n_mc", 2, "Monte-Carlo draws")
  chunk = checks.check_int(chunk, "chunk", 1, "draws per chunk")
  return _dae_loss_mc(key, params, x, sigma, lam, n_mc=n_mc, chunk=chunk)


@functools.partial(jax.jit, static_argnames=("n_mc", "chunk"))
def _dae_loss_mc(key, params, x, sigma, lam, n_mc, chunk):
  n, d = x.shape

  def per_draw(eps):  # (c, n, d) -> (c,) data term of each draw, averaged over samples
    pred = apply(params, x[None] + sigma * eps)
    return jnp.mean(jnp.sum((pred - x[None]) ** 2, -1), -1)

  mom = mc_moments(key, gaussian_draws(per_draw, (n, d), x.dtype), n_mc, chunk)
  return mom.mean + weight_penalty(params, lam), mom.stderr


def population_loss_mc(key: jax.Array, params: DAEParams, mixture, sigma, n_test: int,
                       chunk: int = 2000) -> tuple[jax.Array, jax.Array]:
  r"""Test loss E_{x∼p, ε}‖f(x + σε) − x‖² on fresh mixture samples (no penalty), by Monte Carlo.

  Each of the ``n_test`` draws takes a mode with probability ρ_k, a fresh x from it and fresh noise.
  Jitted; ``n_test`` and ``chunk`` static.

  Returns:
    ``(loss, stderr)``.

  Raises:
    ValueError: NaN/inf or negative σ, non-finite weights, ``n_test`` not an integer >= 2.
  """
  checks.check_finite_params(params)
  checks.check_sigma(sigma)
  n_test = checks.check_int(n_test, "n_test", 2, "Monte-Carlo draws")
  chunk = checks.check_int(chunk, "chunk", 1, "draws per chunk")
  return _population_loss_mc(key, params, mixture, sigma, n_test=n_test, chunk=chunk)


@functools.partial(jax.jit, static_argnames=("n_test", "chunk"))
def _population_loss_mc(key, params, mixture, sigma, n_test, chunk):
  weights, means, factors = mixture
  d, r = factors.shape[1], factors.shape[2]

  def sample_chunk(k, c):
    k_mode, k_z, k_eps = jax.random.split(k, 3)
    modes = jax.random.choice(k_mode, weights.shape[0], (c,), p=weights)
    z = jax.random.normal(k_z, (c, r), means.dtype)
    x = means[modes] + jnp.einsum("cdr,cr->cd", factors[modes], z)
    y = x + sigma * jax.random.normal(k_eps, (c, d), means.dtype)
    return jnp.sum((apply(params, y) - x) ** 2, -1)

  mom = mc_moments(key, sample_chunk, n_test, chunk)
  return mom.mean, mom.stderr


# ----------------------------------------------------------------------------------------------
# Lemma D.1 and Theorem D.2
# ----------------------------------------------------------------------------------------------


def linear_ae_loss(w1: jax.Array, w2: jax.Array, x: jax.Array, sigma, lam_prime) -> jax.Array:
  r"""Regularized linear-autoencoder loss of Lemma D.1 (rows of ``x`` are samples, so XᵀW₁W₂ᵀ here is
  the paper's W₂W₁ᵀX):

  .. math::
      \hat L_X(W_2, W_1) = \|W_2 W_1^\top X - X\|^2 + n\sigma^2\|W_2W_1^\top\|^2 + \lambda'(\|W_1\|^2+\|W_2\|^2).

  It is the expected (summed, not averaged) squared error of the linear map A = W₂W₁ᵀ on X + σE.

  Args:
    w1, w2: ``(d, q)``.
    x: ``(n, d)``.
    sigma: σ.
    lam_prime: λ'.
  """
  a = w2 @ w1.T
  n = x.shape[0]
  fit = jnp.sum((x @ a.T - x) ** 2)
  return fit + n * sigma**2 * jnp.sum(a**2) + lam_prime * (jnp.sum(w1**2) + jnp.sum(w2**2))


def check_blocks(labels, unit_block, p: int, n: int | None = None, x_shape=None
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Validate ``labels (n,)`` (ints taking every value ``0 … M-1``) and ``unit_block (p,)`` (ints in
  ``-1 … M-1``); return NumPy copies.

  Args:
    labels: cluster of each sample.
    unit_block: cluster of each unit (``-1`` = none).
    p: width (columns of W₁).
    n: number of samples (default: the length of ``labels``).
    x_shape: shape of the data, to recognise a transposed x in the message.

  Raises:
    ValueError: see :func:`dae_theory.checks.check_labels` and
      :func:`dae_theory.checks.check_unit_block` (a negative label, a gap such as {0, 2, 5}, a float
      ``unit_block``, a value outside ``-1 … M-1``, a wrong shape).
  """
  if n is None:
    shape = np.shape(labels)
    n = shape[0] if len(shape) == 1 else -1
  labels = checks.check_labels(labels, n, x_shape=x_shape)
  unit_block = checks.check_unit_block(unit_block, p, int(labels.max()) + 1)
  return labels, unit_block


def check_net_inputs(params: DAEParams, x, labels, unit_block, sigma=None, lam=None, *,
                      sigma_positive: bool = False, sigma_why: str = ""):
  """The checks shared by the functions of params, data and a block assignment (before tracing)."""
  x = checks.check_data(x, d=params.w1.shape[0], weights="params.w1")
  checks.check_finite_params(params)
  labels, unit_block = check_blocks(labels, unit_block, params.width, n=np.shape(x)[0],
                                    x_shape=np.shape(x))
  if sigma is not None:
    checks.check_sigma(sigma, positive=sigma_positive, why=sigma_why)
  if lam is not None:
    checks.check_lam(lam)
  return x, labels, unit_block


def decomposed_loss(params: DAEParams, x: jax.Array, labels, unit_block, sigma, lam) -> jax.Array:
  r"""The cluster-decomposed loss of Theorem D.2 (without its error term ε(δ, σ, γ)):

  .. math::
      L_{dec} = \frac1n \sum_k \hat L_{X_k}(W_{2,(k)}, W_{1,(k)}) + \lambda \|W_{\varnothing}\|^2 ,
      \qquad \lambda' = n\lambda,\ n_k \text{ in the noise term},

  where W_{·,(k)} are the columns of block k and W_∅ the columns assigned to no block (their penalty,
  which the theorem's statement leaves implicit; zero for the paper's constructions). It is the exact
  Eq. 6 loss of the gated-linear surrogate in which sample i of cluster k switches on exactly block k.

  Args:
    params: DAE weights ``(d, p)``.
    x: ``(n, d)``.
    labels: ``(n,)`` concrete ints (the cluster loop is unrolled in Python).
    unit_block: ``(p,)`` concrete ints, ``-1`` for unassigned units.
    sigma, lam: σ and λ of Eq. 6.

  Raises:
    ValueError: bad x, labels or unit_block (:func:`check_blocks`), NaN/inf or negative σ or λ.
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block, sigma, lam)
  n = x.shape[0]
  w1, w2 = params.w1, params.decoder
  total = 0.0
  for k in range(int(labels.max()) + 1):
    cols = np.flatnonzero(unit_block == k)
    total = total + linear_ae_loss(w1[:, cols], w2[:, cols], x[labels == k], sigma, n * lam)
  free = np.flatnonzero(unit_block == -1)
  free_pen = jnp.sum(w1[:, free] ** 2) + jnp.sum(w2[:, free] ** 2)
  return total / n + lam * free_pen


def block_masks(labels, unit_block) -> jax.Array:
  """``(n, p)`` float mask: 1 where unit j belongs to the block of sample i's cluster.

  Concrete arguments are validated (:func:`check_blocks`: a label −1 would match the unassigned
  units); traced ones are not.
  """
  if not checks.is_traced(labels, unit_block):
    check_blocks(labels, unit_block, np.shape(unit_block)[0] if np.ndim(unit_block) == 1 else -1)
  labels = jnp.asarray(labels)
  unit_block = jnp.asarray(unit_block)
  return (labels[:, None] == unit_block[None, :]).astype(jnp.result_type(float))


def gated_linear_apply(params: DAEParams, y: jax.Array, mask: jax.Array) -> jax.Array:
  r"""The gated-linear surrogate W₂ D W₁ᵀ y with a fixed gate D = diag(mask) (Theorem D.2).

  Args:
    y: ``(..., n, d)`` inputs; ``mask``: ``(n, p)`` gate per sample (broadcast over leading axes).
  """
  pre = y @ params.w1
  mask = mask.reshape((1,) * (pre.ndim - mask.ndim) + mask.shape)  # explicit broadcast over draws
  return (pre * mask) @ params.decoder.T


def surrogate_per_sample(params: DAEParams, x: jax.Array, labels, unit_block, sigma) -> jax.Array:
  r"""Closed-form per-sample loss of the gated-linear surrogate,
  ℓ̂_i = ‖A_k x_i − x_i‖² + σ²‖A_k‖²_F with A_k = W₂ D_k W₁ᵀ (the summand of Theorem D.2).

  Returns:
    ``(n,)``.

  Raises:
    ValueError: bad x, labels or unit_block (:func:`check_blocks`), NaN/inf or negative σ.
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block, sigma)
  m = int(labels.max()) + 1
  labels = jnp.asarray(labels)
  masks = (jnp.arange(m)[:, None] == jnp.asarray(unit_block)[None, :]).astype(x.dtype)  # (M, p)
  a = jnp.einsum("ip,kp,jp->kij", params.decoder, masks, params.w1)  # (M, d, d)
  a_i = a[labels]
  fit = jnp.sum((jnp.einsum("nij,nj->ni", a_i, x) - x) ** 2, -1)
  return fit + sigma**2 * jnp.sum(a**2, axis=(1, 2))[labels]


# ----------------------------------------------------------------------------------------------
# docs/theory.md §4: explicit cross-talk bound
# ----------------------------------------------------------------------------------------------


def gaussian_tail_moment(t: jax.Array) -> jax.Array:
  r"""G(t) = E[(Z − t)₊²] = (1 + t²)Φ(−t) − tφ(t) for Z ~ N(0, 1) (docs/theory.md §4).

  Computed directly; it loses about log10(t⁴/2) digits to cancellation for large t, harmless in
  float64 for the t that matter (G(38) underflows to 0 anyway). Clamped at 0 against round-off.
  """
  return jnp.maximum((1.0 + t**2) * norm.cdf(-t) - t * norm.pdf(t), 0.0)


class CrosstalkBound(NamedTuple):
  r"""The explicit bound of docs/theory.md §4 on |L − L_dec|.

  Attributes:
    bound: scalar, (1/n) Σ_i (2√(ℓ̂_i ε_i) + ε_i) ≥ |L − L_dec| (also ≥ (1/n) Σ_i E|ℓ_i − ℓ̂_i|).
    eps: ``(n,)`` ε_i = ‖W₂‖²_op Σ_j s_j² G(t_j), a bound on E‖e_i‖².
    surrogate: ``(n,)`` ℓ̂_i, the surrogate's per-sample loss.
    t: ``(n, p)`` signed normalized margins t_j (positive = gate agrees with the block assignment).
    t_min: smallest t over samples and non-zero units.
  """

  bound: jax.Array
  eps: jax.Array
  surrogate: jax.Array
  t: jax.Array
  t_min: jax.Array


def crosstalk_bound(params: DAEParams, x: jax.Array, labels, unit_block, sigma) -> CrosstalkBound:
  r"""Certified bound on the decomposition error of Theorem D.2 (ours, docs/theory.md §4).

  For sample i of cluster k, unit j has pre-activation u_j ~ N(m_j, s_j²), m_j = w_jᵀx_i, s_j = σ‖w_j‖.
  With t_j = m_j/s_j in block k and t_j = −m_j/s_j off it, the surrogate error e = W₂v has
  v_j = relu(−u_j) in-block, relu(u_j) off-block, so

  .. math::
      \mathbb{E}\|e\|^2 \le \|W_2\|^2_{op} \sum_j s_j^2 G(t_j) =: \varepsilon_i, \qquad
      |\ell_i - \hat\ell_i| \le 2\sqrt{\hat\ell_i\,\varepsilon_i} + \varepsilon_i \ \text{(Cauchy–Schwarz)}.

  Units with a zero column contribute nothing (their output is 0 either way).

  Args:
    params: DAE weights.
    x: ``(n, d)``.
    labels: ``(n,)``; unit_block: ``(p,)``.
    sigma: σ > 0 (at σ = 0 the formula would return 0 whatever the cross-talk: refused).

  Returns:
    CrosstalkBound.

  Raises:
    ValueError: σ ≤ 0 or not finite; bad x, labels or unit_block (:func:`check_blocks`); non-finite
      weights.
  """
  x, labels, unit_block = check_net_inputs(
      params, x, labels, unit_block, sigma, sigma_positive=True,
      sigma_why="the bound's margins t_j divide by sigma*||w_j||; at sigma = 0 it would read 0 "
                "whatever the cross-talk")
  m = x @ params.w1  # (n, p)
  s = sigma * jnp.linalg.norm(params.w1, axis=0)  # (p,)
  inblock = block_masks(labels, unit_block).astype(bool)
  live = s > 0
  safe_s = jnp.where(live, s, 1.0)
  t = jnp.where(inblock, m, -m) / safe_s[None, :]
  t = jnp.where(live[None, :], t, jnp.inf)
  contrib = jnp.where(live[None, :],
                      s[None, :] ** 2 * gaussian_tail_moment(jnp.where(live[None, :], t, 0.0)),
                      0.0)
  op2 = jnp.linalg.norm(params.decoder, ord=2) ** 2
  eps = op2 * jnp.sum(contrib, axis=1)
  sur = surrogate_per_sample(params, x, labels, unit_block, sigma)
  bound = jnp.mean(2.0 * jnp.sqrt(sur * eps) + eps)
  return CrosstalkBound(bound=bound, eps=eps, surrogate=sur, t=t, t_min=jnp.min(t))


class CrosstalkGap(NamedTuple):
  """Monte-Carlo estimate of the decomposition gap (common random numbers for ℓ and ℓ̂).

  Attributes:
    signed: (1/n) Σ_i E(ℓ_i − ℓ̂_i) ≈ L − L_dec; ``signed_se`` its standard error.
    absolute: (1/n) Σ_i E|ℓ_i − ℓ̂_i|; ``absolute_se`` its standard error.
  """

  signed: jax.Array
  signed_se: jax.Array
  absolute: jax.Array
  absolute_se: jax.Array


def crosstalk_gap_mc(key: jax.Array, params: DAEParams, x: jax.Array, labels, unit_block, sigma,
                     n_mc: int, chunk: int = 1000) -> CrosstalkGap:
  """Monte-Carlo gap between the ReLU loss and its gated-linear surrogate on the same noise draws
  (common random numbers, so the difference has a small variance). Jitted; ``n_mc``/``chunk`` static.

  Raises:
    ValueError: bad x, labels or unit_block (:func:`check_blocks`), NaN/inf or negative σ, ``n_mc``
      not an integer >= 2.
  """
  x, labels, unit_block = check_net_inputs(params, x, labels, unit_block, sigma)
  n_mc = checks.check_int(n_mc, "n_mc", 2, "Monte-Carlo draws")
  chunk = checks.check_int(chunk, "chunk", 1, "draws per chunk")
  return _crosstalk_gap_mc(key, params, x, block_masks(labels, unit_block).astype(x.dtype), sigma,
                           n_mc=n_mc, chunk=chunk)


@functools.partial(jax.jit, static_argnames=("n_mc", "chunk"))
def _crosstalk_gap_mc(key, params, x, mask, sigma, *, n_mc, chunk):
  n, d = x.shape

  def per_draw(eps):  # (c, n, d) -> (c, 2): sample-averaged signed and absolute differences
    y = x[None] + sigma * eps
    l_relu = jnp.sum((apply(params, y) - x[None]) ** 2, -1)
    l_lin = jnp.sum((gated_linear_apply(params, y, mask) - x[None]) ** 2, -1)
    diff = l_relu - l_lin
    return jnp.stack([jnp.mean(diff, -1), jnp.mean(jnp.abs(diff), -1)], -1)

  mom = mc_moments(key, gaussian_draws(per_draw, (n, d), x.dtype), n_mc, chunk)
  return CrosstalkGap(mom.mean[0], mom.stderr[0], mom.mean[1], mom.stderr[1])
