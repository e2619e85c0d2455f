r"""Two further lenses on the memorization → generalization transition (docs/experiments.md §5).

* **Gaussian lens** (Li, Dai, Qu, NeurIPS 2024): linear distillation, RMSE/NMSE between denoisers, the
  linearity score LS and the generalization score GL.
* **Agreement and Jacobian lens** (Kadkhodaie et al., ICLR 2024): cosines between samples of models
  trained on disjoint data, denoising PSNR, and the eigen-analysis of the symmetrized Jacobian.

Denoisers are x0-predictors ``D(y (n, d), sigma (n,)) -> (n, d)``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, optimize, special, stats

from dae_theory import checks, copies


def _noisy(key, x, sigma: float):
  x = jnp.asarray(x)
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def _sig(n: int, sigma: float, dtype=jnp.float32):
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0, got {sigma}.")
  return jnp.full((n,), sigma, dtype)


def linear_distillation(denoiser: Callable, y, sigma: float) -> tuple[np.ndarray, np.ndarray]:
  r"""Affine least-squares fit D(y) ≈ y A + b over the noisy inputs ``y (N, d)`` (closed form, NumPy's
  lstsq). Needs N ≥ d + 1. Fit on *held-out* noisy inputs: on noisy training inputs of the empirical
  optimum it returns the Gaussian denoiser whatever the data (tower property), which says nothing.

  Returns:
    ``(A (d, d), b (d,))``; the distilled denoiser is y ↦ y A + b.
  """
  y = np.asarray(y, np.float64)
  n, d = y.shape
  if n < d + 1:
    raise ValueError(f"linear distillation needs at least d + 1 = {d + 1} noisy inputs, got {n}.")
  target = np.asarray(denoiser(jnp.asarray(y, jnp.float32), _sig(n, sigma)), np.float64)
  design = np.c_[y, np.ones(n)]
  gram = design.T @ design
  # The normal equations in float64 (relative error ~ cond(gram)·eps): 2 ms for 600 × 65, where
  # LAPACK's gelsd took 0.1–0.7 s on the busy 2-core machine; lstsq only for an ill-conditioned fit.
  if np.linalg.cond(gram) < 1e8:
    coef = np.linalg.solve(gram, design.T @ target)
  else:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
  return coef[:d], coef[d]


def affine_denoiser(a, b) -> Callable:
  """The denoiser y ↦ y A + b (e.g. a linear distillation)."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  return lambda y, sigma: y @ a.astype(y.dtype) + b.astype(y.dtype)[None, :]


def rmse(d1: Callable, d2: Callable, y, sigma: float) -> float:
  """Score difference: mean over the noisy inputs ``y`` of √(‖D₁(y) − D₂(y)‖²/d)."""
  y = jnp.asarray(y)
  s = _sig(y.shape[0], sigma, y.dtype)
  return float(jnp.mean(jnp.sqrt(jnp.mean((d1(y, s) - d2(y, s)) ** 2, 1))))


def nmse(d1: Callable, d2: Callable, y, sigma: float) -> float:
  """Normalized difference: mean of ‖D₁(y) − D₂(y)‖ / ‖D₁(y)‖."""
  y = jnp.asarray(y)
  s = _sig(y.shape[0], sigma, y.dtype)
  a, b = d1(y, s), d2(y, s)
  return float(jnp.mean(jnp.linalg.norm(a - b, axis=1) / jnp.linalg.norm(a, axis=1)))


def _linearity_cosines(key: jax.Array, denoiser: Callable, x, sigma: float, pairs: int,
                       alpha: float) -> jax.Array:
  """The ``(pairs,)`` values |cos(D(αy₁ + βy₂), αD(y₁) + βD(y₂))| of :func:`linearity_score`."""
  x = jnp.asarray(x)
  k1, k2, k3 = jax.random.split(key, 3)
  i = jax.random.randint(k1, (2, pairs), 0, x.shape[0])
  y1, y2 = _noisy(k2, x[i[0]], sigma), _noisy(k3, x[i[1]], sigma)
  beta = (1 - alpha**2) ** 0.5
  s = _sig(pairs, sigma, x.dtype)
  lhs = denoiser(alpha * y1 + beta * y2, s)
  rhs = alpha * denoiser(y1, s) + beta * denoiser(y2, s)
  cos = jnp.sum(lhs * rhs, 1) / (jnp.linalg.norm(lhs, axis=1) * jnp.linalg.norm(rhs, axis=1))
  return jnp.abs(cos)


def _check_pairs_alpha(pairs, alpha) -> None:
  checks.check_int(pairs, "pairs", 1, "the number of random input pairs")
  if not 0 < alpha < 1:
    raise ValueError(f"alpha must lie in (0, 1) (beta = sqrt(1 - alpha^2) must be > 0 too, or the "
                     f"score is 1 for any denoiser), got {alpha!r}.")


def linearity_score(key: jax.Array, denoiser: Callable, x, sigma: float, pairs: int = 100,
                    alpha: float = 2**-0.5) -> float:
  r"""LS(σ) = mean over pairs of |cos(D(αy₁ + βy₂), αD(y₁) + βD(y₂))|, β = √(1 − α²), with
  y = data + σ·noise for ``pairs`` random pairs of rows of ``x`` (Li, Dai, Qu 2024; docs/experiments.md
  §5.1). Li et al. take the rows from *held-out* data: :func:`linearity_profile` does so at every σ."""
  _check_pairs_alpha(pairs, alpha)
  return float(jnp.mean(_linearity_cosines(key, denoiser, x, sigma, pairs, alpha)))


def gl_score(samples, x_train) -> float:
  """GL = mean over generated samples of ‖x − NN(x)‖/‖x‖ (NN = nearest training point)."""
  s = np.asarray(samples, np.float64)
  d1 = copies.nearest(s, x_train)[0][:, 0]  # the lab's one nearest-neighbour search
  return float(np.mean(d1 / np.linalg.norm(s, axis=1)))


def pair_cosine(a, b) -> np.ndarray:
  """Row-wise cosine between two sample sets of the same shape (e.g. two models, shared noise)."""
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"sample sets must have the same shape, got {a.shape} and {b.shape}.")
  return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def psnr(key: jax.Array, denoiser: Callable, x, sigma: float, data_range: float = 2.0
         ) -> tuple[float, float]:
  """(input PSNR, output PSNR) in dB of denoising ``x`` at noise σ: 10 log10(range²/MSE), range 2 for
  data in [−1, 1] (the same as [0, 1] data with range 1)."""
  x = jnp.asarray(x)
  y = _noisy(key, x, sigma)
  out = denoiser(y, _sig(x.shape[0], sigma, x.dtype))
  db = lambda mse: float(10 * np.log10(data_range**2 / float(mse)))
  return db(jnp.mean((y - x) ** 2)), db(jnp.mean((out - x) ** 2))


class JacobianSpectrum(NamedTuple):
  """Eigen-analysis of the symmetrized Jacobian at each input.

  Attributes:
    eigenvalues: ``(n, d)`` descending.
    eigenvectors: ``(n, d, d)``, column j of row i belongs to eigenvalue j.
    effective_dim: ``(n,)`` trace of the Jacobian (Kadkhodaie et al.).
  """

  eigenvalues: np.ndarray
  eigenvectors: np.ndarray
  effective_dim: np.ndarray


def jacobian_spectrum(denoiser: Callable, y, sigma: float) -> JacobianSpectrum:
  """Eigenvalues/vectors of (J + Jᵀ)/2, J = ∂D/∂y at each row of ``y``, and tr J."""
  y = jnp.asarray(y)
  one = lambda v: denoiser(v[None], _sig(1, sigma, v.dtype))[0]
  jac = jax.vmap(jax.jacfwd(one))(y)
  sym = 0.5 * (jac + jnp.swapaxes(jac, 1, 2))
  lam, vec = jnp.linalg.eigh(sym)
  return JacobianSpectrum(np.asarray(lam[:, ::-1]), np.asarray(vec[:, :, ::-1]),
                          np.asarray(jnp.trace(jac, axis1=1, axis2=2)))


def top_alignment(spec: JacobianSpectrum, x_train, basis) -> tuple[np.ndarray, np.ndarray]:
  """For each input: max |cosine| of the top eigenvector to a training sample (≈ 1 when memorizing),
  and the fraction of its energy in the span of the orthonormal columns of ``basis (d, k)`` (e.g. the
  training data's principal subspace; ≈ 1 when generalizing)."""
  top = spec.eigenvectors[:, :, 0]  # (n, d), unit norm
  xt = np.asarray(x_train)
  u = xt / np.linalg.norm(xt, axis=1, keepdims=True)
  sample = np.abs(top @ u.T).max(1)
  sub = np.sum((top @ np.asarray(basis)) ** 2, 1)
  return sample, sub


# ---------------------------------------------------------------------------------------------------
# The lenses as their papers run them: profiles over σ on held-out inputs, a fitted transition N, and the
# chance level of the Jacobian's sample alignment.

PROFILE_SIGMAS = np.geomspace(0.02, 2.0, 10)
"""The default noise grid of the profiles: 10 levels, geometric over [0.02, 2], the range the lab's
diffusion DAE is trained on (``diffusion.SIGMA_MIN``, ``diffusion.SIGMA_MAX``; docs/theory.md §9)."""


def _check_sigmas(sigmas, name: str = "sigmas") -> np.ndarray:
  try:
    s = np.asarray(sigmas, np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be a 1-D array of noise levels, got {sigmas!r}.") from None
  if s.ndim != 1 or s.size == 0:
    raise ValueError(f"{name} must be a non-empty 1-D array of noise levels, got shape {s.shape}.")
  if not np.all(np.isfinite(s)) or np.any(s <= 0):
    raise ValueError(f"{name} must be finite noise levels > 0 (the denoisers divide by sigma), got "
                     f"range [{s.min()}, {s.max()}].")
  return s


def _check_denoiser(denoiser, name: str = "denoiser") -> None:
  if not callable(denoiser):
    raise ValueError(f"{name} must be a callable D(y (n, d), sigma (n,)) -> (n, d), got "
                     f"{type(denoiser).__name__}.")


def _check_heldout(x_heldout, x_train, name: str = "x_heldout") -> None:
  """Refuse held-out rows that are exact copies of training rows (the lens would not be held out)."""
  dist = copies.nearest(np.asarray(x_heldout), np.asarray(x_train))[0][:, 0]
  hit = np.flatnonzero(dist == 0)
  if hit.size:
    raise ValueError(f"{name} must be held out, but {hit.size} of its {len(dist)} rows are exact "
                     f"copies of training rows (first: row {hit[0]}); pass rows the model never saw.")


class LinearityProfile(NamedTuple):
  """The linearity score against σ on held-out inputs (:func:`linearity_profile`).

  Attributes:
    sigmas: ``(S,)`` noise levels.
    scores: ``(S,)`` LS(σ), the mean of ``per_pair`` over pairs.
    std_error: ``(S,)`` standard error of the mean over the pairs (sample std with ddof 1 over √pairs).
    per_pair: ``(S, pairs)`` |cos| of each pair; the pairs and their standard noise are the same at every
      σ (common random numbers), only the noise scale changes.
  """

  sigmas: np.ndarray
  scores: np.ndarray
  std_error: np.ndarray
  per_pair: np.ndarray


def _profile_args(denoiser, sigmas, x, name: str, why: str):
  """The checked noise grid and data rows (at least 2) of a profile over σ."""
  _check_denoiser(denoiser)
  s = _check_sigmas(sigmas)
  x = checks.check_data(x, name)
  checks.min_rows(x, name, 2, why)
  return s, x


def linearity_profile(key: jax.Array, denoiser: Callable, x_heldout, sigmas=PROFILE_SIGMAS,
                      pairs: int = 100, alpha: float = 2**-0.5, *, x_train=None) -> LinearityProfile:
  r"""The linearity score LS(σ) of ``denoiser`` at each σ of ``sigmas``, on noisy **held-out** inputs,
  the protocol of Li, Dai, Qu 2024 (their LS against the noise level, inputs from the test set,
  α = β = 1/√2; docs/experiments.md §5.1): LS(σ) = mean over pairs of
  |cos(D(αy₁ + βy₂), αD(y₁) + βD(y₂))| with y = x + σε for random pairs of rows of ``x_heldout``.

  The same key at every σ: the pairs and the standard noise ε are shared across σ (common random
  numbers), so ``scores[j]`` equals ``linearity_score(key, denoiser, x_heldout, sigmas[j], pairs,
  alpha)`` and the curve's wiggles are not fresh noise per level. An affine denoiser y ↦ yA + b
  scores 1 only when b = 0 (α + β = √2 ≠ 1): the Wiener filter of *centred* data is linear, that of
  uncentred data is not, so centre the data as the sims do.

  Args:
    key: PRNG key (the pairs and the noise).
    denoiser: x0-predictor ``D(y (n, d), sigma (n,)) -> (n, d)``.
    x_heldout: ``(n, d)`` rows the model was not trained on, n ≥ 2.
    sigmas: noise levels (default :data:`PROFILE_SIGMAS`, 10 levels in [0.02, 2]; use ≥ 8 for a profile).
    pairs: random pairs per level.
    alpha: the weight α ∈ (0, 1) of the first input; β = √(1 − α²).
    x_train: optional training rows; when given, a held-out row that is an exact copy of one is refused.

  Returns:
    :class:`LinearityProfile`.
  """
  s, x = _profile_args(denoiser, sigmas, x_heldout, "x_heldout", "to draw pairs from")
  _check_pairs_alpha(pairs, alpha)
  if x_train is not None:
    _check_heldout(x, checks.check_data(x_train, "x_train", d=np.shape(x)[1]))
  per = np.stack([np.asarray(_linearity_cosines(key, denoiser, x, float(v), pairs, alpha), np.float64)
                  for v in s])
  se = (per.std(1, ddof=1) / np.sqrt(pairs)) if pairs > 1 else np.full(len(s), np.nan)
  return LinearityProfile(s, per.mean(1), se, per)


def _wiener_filter(x_train) -> Callable:
  r"""The Wiener filter of N(μ, Σ) fitted to ``x_train`` with 1/N: D(y) = μ + Σ(Σ + σ²I)⁻¹(y − μ)
  (docs/theory.md §8), fitted in float64. The same formula as ``reference.gaussian_denoiser(
  reference.gaussian_fit(x_train))``, written here because :mod:`dae_theory.reference` sits a layer
  above the lenses (it imports :mod:`dae_theory.diffusion`); the tests check that the two agree."""
  x = np.asarray(x_train, np.float64)
  mu = x.mean(0)
  xc = x - mu
  lam, u = np.linalg.eigh(xc.T @ xc / x.shape[0])
  lam = np.maximum(lam, 0.0)

  def d(y, sigma):
    dt = y.dtype
    m, uu, ll = jnp.asarray(mu, dt), jnp.asarray(u, dt), jnp.asarray(lam, dt)
    z = (y - m[None, :]) @ uu
    shrink = ll[None, :] / (ll[None, :] + sigma[:, None] ** 2)
    return m[None, :] + (z * shrink) @ uu.T

  return d


class WienerGapProfile(NamedTuple):
  """Distance between a denoiser and the Wiener filter of its training data against σ
  (:func:`wiener_gap_profile`), on noisy held-out inputs.

  Attributes:
    sigmas: ``(S,)`` noise levels.
    rmse: ``(S,)`` mean over inputs of √(‖D(y) − D_G(y)‖²/d) (as :func:`rmse`).
    rmse_se: ``(S,)`` its standard error over the inputs.
    nmse: ``(S,)`` mean over inputs of ‖D(y) − D_G(y)‖/‖D(y)‖ (as :func:`nmse`, normalized by the
      denoiser under test).
    nmse_se: ``(S,)`` its standard error over the inputs.
  """

  sigmas: np.ndarray
  rmse: np.ndarray
  rmse_se: np.ndarray
  nmse: np.ndarray
  nmse_se: np.ndarray


def wiener_gap_profile(key: jax.Array, denoiser: Callable, x_train, x_heldout, sigmas=PROFILE_SIGMAS
                       ) -> WienerGapProfile:
  r"""How far ``denoiser`` is from the Wiener filter D_G of its training data at each σ: Li, Dai, Qu
  2024's comparison of a trained denoiser with the Gaussian (Wiener) denoiser of the training set's
  empirical mean and covariance (1/N), on noisy held-out inputs y = x + σε (docs/experiments.md §5.1,
  docs/theory.md §8). The standard noise ε is drawn once from ``key`` and shared across σ (common
  random numbers).

  Both normalizations are returned. RMSE (the sims' ``lenses.rmse``) is the one to read across σ: on
  centred data the outputs shrink toward the mean 0 as σ grows, and NMSE, divided by ‖D(y)‖, then
  grows whatever the denoiser; NMSE is the one to compare across data sets of different scale.

  Args:
    key: PRNG key (the noise).
    denoiser: x0-predictor ``D(y (n, d), sigma (n,)) -> (n, d)`` trained on ``x_train``.
    x_train: ``(N, d)`` the training data, N ≥ 2.
    x_heldout: ``(n, d)`` held-out rows (an exact copy of a training row is refused).
    sigmas: noise levels (default :data:`PROFILE_SIGMAS`).

  Returns:
    :class:`WienerGapProfile`.
  """
  s, xt = _profile_args(denoiser, sigmas, x_train, "x_train", "to fit a covariance")
  xh = jnp.asarray(checks.check_data(x_heldout, "x_heldout", d=np.shape(xt)[1], weights="x_train"))
  _check_heldout(xh, xt)
  wiener = _wiener_filter(xt)
  eps = jax.random.normal(key, xh.shape, xh.dtype)
  n, d = xh.shape
  rows = []
  for v in s:
    y = xh + v * eps
    sig = _sig(n, float(v), xh.dtype)
    a = np.asarray(denoiser(y, sig), np.float64)
    diff = a - np.asarray(wiener(y, sig), np.float64)
    r = np.sqrt(np.sum(diff**2, 1) / d)
    q = np.linalg.norm(diff, axis=1) / np.linalg.norm(a, axis=1)
    rows.append([r.mean(), r.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan,
                 q.mean(), q.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan])
  r = np.array(rows).T
  return WienerGapProfile(s, r[0], r[1], r[2], r[3])


def _sigmoid(t, left, right, t_mid, slope):
  """left + (right − left)·expit(slope·(t − t_mid)), with t = log N (:func:`fit_transition`)."""
  return left + (right - left) * special.expit(slope * (t - t_mid))


class TransitionFit(NamedTuple):
  """A sigmoid in log N fitted per seed (:func:`fit_transition`).

  Attributes:
    midpoints: ``(seeds,)`` the fitted midpoint N* = exp(t_mid) per seed (NaN where the fit failed).
    identified: ``(seeds,)`` whether the seed's fit pins its midpoint down (see :func:`fit_transition`).
    reasons: per seed, ``""`` when identified, else why not.
    params: ``(seeds, 4)`` the fitted (left, right, log N*, slope): the asymptotes at small and at large
      N, the midpoint in log N and the slope per unit of log N (> 0).
    median: the median of N* over the identified seeds, taken in log N (for an even count, the
      geometric mean of the middle two); NaN if none.
    center: the centre of ``interval``: the geometric mean of N* over the identified seeds for
      ``"t"``, the median for ``"percentile"``.
    interval: ``(low, high)`` over the identified seeds (NaN with fewer than 2).
    kind: ``"t"`` or ``"percentile"``; ``level``: the interval's coverage.
  """

  midpoints: np.ndarray
  identified: np.ndarray
  reasons: tuple
  params: np.ndarray
  median: float
  center: float
  interval: tuple
  kind: str
  level: float


def _fit_one(t, v, reach, min_step_snr):
  """(params (4,), reason) for one curve; reason "" when identified (:func:`fit_transition`)."""
  ok = np.isfinite(v)
  t, v = t[ok], v[ok]
  if t.size < 4:
    return np.full(4, np.nan), f"only {t.size} finite values; the sigmoid has 4 free parameters"
  lo, hi = float(v.min()), float(v.max())
  span = hi - lo
  width = float(t[-1] - t[0])
  if span == 0:
    return np.array([lo, hi, np.nan, np.nan]), "flat curve: no transition to place"
  gap = float(np.min(np.diff(t)))
  bounds = ([lo - 2 * span, lo - 2 * span, t[0] - width, 0.01 / width],
            [hi + 2 * span, hi + 2 * span, t[-1] + width, 100.0 / gap])
  # Starts: the two end values as asymptotes, the midpoint at the halfway crossing (if any) and at
  # several places on and beyond the grid, two slopes; the best least-squares fit is kept.
  half = 0.5 * (v[0] + v[-1])
  cross = [t[i] + (half - v[i]) / (v[i + 1] - v[i]) * (t[i + 1] - t[i])
           for i in range(len(v) - 1) if (v[i] - half) * (v[i + 1] - half) <= 0 and v[i + 1] != v[i]]
  mids = cross[:1] + list(np.linspace(t[0] - 0.5 * width, t[-1] + 0.5 * width, 7))
  best, best_sse = None, np.inf
  for m in mids:
    for k in (4.0 / width, 16.0 / width):
      p0 = np.clip([v[0], v[-1], m, k], np.array(bounds[0]) + 1e-12, np.array(bounds[1]) - 1e-12)
      try:
        p, _ = optimize.curve_fit(_sigmoid, t, v, p0=p0, bounds=bounds, method="trf", maxfev=5000)
      except (RuntimeError, ValueError):
        continue
      sse = float(np.sum((_sigmoid(t, *p) - v) ** 2))
      if sse < best_sse:
        best, best_sse = p, sse
  if best is None:
    return np.full(4, np.nan), "the least-squares fit did not converge from any start"
  left, right, t_mid, slope = best
  if not t[0] <= t_mid <= t[-1]:
    return best, (f"midpoint N* = {np.exp(t_mid):.4g} lies beyond the grid [{np.exp(t[0]):.4g}, "
                  f"{np.exp(t[-1]):.4g}]")
  at_lo = float(special.expit(slope * (t[0] - t_mid)))
  at_hi = float(special.expit(slope * (t[-1] - t_mid)))
  if at_hi < reach or at_lo > 1 - reach:
    return best, (f"asymptotes not reached: the fitted curve covers {at_lo:.0%} of its step at the "
                  f"smallest N and {at_hi:.0%} at the largest (needs <= {1 - reach:.0%} and >= "
                  f"{reach:.0%}); the curve is still moving at the ends of the grid")
  dof = t.size - 4
  if dof > 0:
    resid = float(np.sqrt(best_sse / dof))
    if abs(right - left) < min_step_snr * resid:
      return best, (f"step not resolved: |right - left| = {abs(right - left):.3g} < {min_step_snr:g} "
                    f"x the residual sd {resid:.3g}")
  return best, ""


def fit_transition(n, values, seeds_axis: int | None = 0, *, interval: str = "t", level: float = 0.95,
                   reach: float = 0.9, min_step_snr: float = 3.0) -> TransitionFit:
  r"""The transition N of a lens curve from a fitted sigmoid in log N, per seed.

  Per seed, scipy's bounded least squares (``curve_fit``, trust-region reflective) fits
  v(N) = left + (right − left)·expit(slope·(log N − log N*)) with free asymptotes (each within twice
  the data's range beyond it), a midpoint N* allowed up to one grid width beyond either end of the
  grid, and slope > 0 (the sign of the step is right − left), from several starts (best kept). It
  replaces the halfway-crossing rule of ``sims.transition.transition_point`` (docs/experiments.md §5):
  a fit uses every N, and says when the curve does not pin N* down.

  A seed is **not identified** (its N* is reported but left out of the median and the interval) when
  its curve is flat, has fewer than 4 finite values, the fit fails, the midpoint lies beyond the grid,
  the fitted curve has not covered ``reach`` of its step at the largest N (or 1 − ``reach`` is
  exceeded at the smallest: the curve is still moving at the ends), or the step is below
  ``min_step_snr`` residual standard deviations.

  The interval over the identified seeds: ``"t"`` (default) is the Student-t ``level`` confidence
  interval of the mean of log N*, exponentiated (N* is a scale, so the mean is taken in log N; its
  centre is the geometric mean); ``"percentile"`` is the central ``level`` range of the seeds' N*
  (the spread of the seeds, not a confidence interval; with few seeds it is about their min and max).

  Args:
    n: ``(K,)`` the training-set sizes, positive and increasing, K ≥ 4 (the sigmoid has 4 parameters).
    values: ``(K,)`` one curve, or a 2-D array with the seeds along ``seeds_axis`` and the K sizes
      along the other axis. NaN values are dropped from their seed's fit.
    seeds_axis: the axis of ``values`` that holds the seeds (0 or 1; ignored for a 1-D curve).
    interval: ``"t"`` or ``"percentile"``.
    level: the interval's coverage in (0, 1).
    reach: the fraction of the step the fit must cover inside the grid, in (0.5, 1).
    min_step_snr: the step must exceed this many residual standard deviations (checked when K > 4).

  Returns:
    :class:`TransitionFit`.
  """
  try:
    nn = np.asarray(n, np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"n must be a 1-D array of training-set sizes, got {n!r}.") from None
  if nn.ndim != 1 or nn.size < 4:
    raise ValueError(f"n must be 1-D with at least 4 sizes (the sigmoid has 4 free parameters: two "
                     f"asymptotes, midpoint, slope), got shape {nn.shape}.")
  if not np.all(np.isfinite(nn)) or np.any(nn <= 0) or np.any(np.diff(nn) <= 0):
    raise ValueError(f"n must be finite, > 0 and strictly increasing (the fit is in log N), got {nn}.")
  try:
    v = np.asarray(values, np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"values must be a numeric array, got {type(values).__name__}.") from None
  if v.ndim == 1:
    v = v[None]
  elif v.ndim == 2:
    if seeds_axis not in (0, 1, -1, -2):
      raise ValueError(f"seeds_axis must be 0 or 1 for 2-D values, got {seeds_axis!r}.")
    v = np.moveaxis(v, seeds_axis, 0)
  else:
    raise ValueError(f"values must be 1-D (one curve) or 2-D (seeds x sizes), got shape {v.shape}.")
  if v.shape[1] != nn.size:
    raise ValueError(f"values has {v.shape[1]} sizes along its non-seed axis but n has {nn.size} "
                     f"(values shape {np.shape(values)}, seeds_axis={seeds_axis}).")
  if np.any(np.isinf(v)):
    raise ValueError("values must not contain inf (NaN marks a missing value and is dropped).")
  if interval not in ("t", "percentile"):
    raise ValueError(f"interval must be 't' or 'percentile', got {interval!r}.")
  if not 0 < level < 1:
    raise ValueError(f"level must lie in (0, 1), got {level!r}.")
  if not 0.5 < reach < 1:
    raise ValueError(f"reach must lie in (0.5, 1), got {reach!r}.")
  checks.check_scalar(min_step_snr, "min_step_snr", why="a number of residual standard deviations")
  t = np.log(nn)
  fits = [_fit_one(t, row, reach, min_step_snr) for row in v]
  params = np.array([p for p, _ in fits])
  reasons = tuple(r for _, r in fits)
  ident = np.array([r == "" for r in reasons])
  mids = np.exp(params[:, 2])
  good = np.log(mids[ident])
  nan2 = (float("nan"), float("nan"))
  median = float(np.exp(np.median(good))) if good.size else float("nan")
  if interval == "t":
    center = float(np.exp(good.mean())) if good.size else float("nan")
    if good.size >= 2:
      half = stats.t.ppf(0.5 + level / 2, good.size - 1) * good.std(ddof=1) / np.sqrt(good.size)
      bounds = (float(np.exp(good.mean() - half)), float(np.exp(good.mean() + half)))
    else:
      bounds = nan2
  else:
    center = median
    bounds = (tuple(float(b) for b in np.exp(np.percentile(good, [50 * (1 - level), 50 * (1 + level)])))
              if good.size >= 2 else nan2)
  return TransitionFit(mids, ident, reasons, params, median, center, bounds, interval, float(level))


class AlignmentBaseline(NamedTuple):
  """The chance level of a "max |cos| to the nearest of n candidates" alignment
  (:func:`random_alignment_baseline`).

  Attributes:
    mean: Monte-Carlo mean of the statistic over ``draws``.
    std_error: its standard error (sample std with ddof 1 over √draws).
    quantile_95: Monte-Carlo 95th percentile (a one-sided 5% chance threshold).
    exact_mean: the same expectation by quadrature of the exact distribution.
    exact_quantile_95: the exact 95th percentile.
    values: ``(draws,)`` the statistic of each draw.
  """

  mean: float
  std_error: float
  quantile_95: float
  exact_mean: float
  exact_quantile_95: float
  values: np.ndarray


def _alignment_exact(d: int, k: int, n: int) -> tuple[float, float]:
  r"""E and 95th percentile of M = max_j ‖Vᵀu_j‖ over n independent uniform unit vectors u_j and a
  k-frame V in R^d. ‖Vᵀu‖² ~ Beta(k/2, (d−k)/2) (u = g/‖g‖ with g Gaussian: the ratio of a χ²_k to
  the sum of it and an independent χ²_{d−k}), so P(M ≤ c) = I_{c²}(k/2, (d−k)/2)ⁿ, E M = ∫₀¹ 1 − P(M ≤ c) dc."""
  if k == d:
    return 1.0, 1.0
  a, b = 0.5 * k, 0.5 * (d - k)
  cdf = lambda c: special.betainc(a, b, c * c) ** n
  q = lambda p: float(np.sqrt(special.betaincinv(a, b, p ** (1.0 / n))))
  pts = sorted({q(p) for p in (0.01, 0.5, 0.99)})
  mean, _ = integrate.quad(lambda c: 1.0 - cdf(c), 0.0, 1.0, points=pts, limit=200, epsabs=1e-12)
  return float(mean), q(0.95)


def random_alignment_baseline(key: jax.Array, d: int, k: int = 1, n_candidates: int = 1,
                              draws: int = 2000) -> AlignmentBaseline:
  r"""The alignment a random direction has by chance: E max_j ‖Vᵀu_j‖ over ``n_candidates`` random
  unit vectors u_j in R^d, for a random k-frame V (orthonormal columns; k = 1: one random unit vector
  and the statistic is max_j |cos(v, u_j)|, the quantity ``top_alignment`` reports for the Jacobian's
  top eigenvector against the training samples; k > 1: the cosine of the angle between u_j and the
  span of the top-k eigenvectors).

  A max over N candidates grows with N, so a "max |cos| to a training sample" means memorization only
  above this baseline at the same d and N (Kadkhodaie et al. 2024 read the alignment of the Jacobian's
  eigenvectors with training images; docs/experiments.md §5.2). The candidates here are isotropic; real
  training samples are not, so this is the chance level of an isotropic set of the same size.
  For n = 1, k = 1: E|cos| = Γ(d/2)/(√π Γ((d+1)/2)).

  Monte Carlo (Gaussian vectors normalized; the frame by a QR decomposition) beside the exact value,
  from ‖Vᵀu‖² ~ Beta(k/2, (d−k)/2), i.i.d. over the candidates, so P(max ≤ c) = I_{c²}(k/2, (d−k)/2)ⁿ
  (integrated by scipy's quad).

  Args:
    key: PRNG key.
    d: dimension ≥ 1.
    k: frame size, 1 ≤ k ≤ d.
    n_candidates: number of candidate unit vectors ≥ 1 (e.g. the number of training samples).
    draws: Monte-Carlo draws ≥ 2, or 0 for the exact law only (the Monte-Carlo fields are then NaN
      and ``values`` is empty: no compiled program per (n, d), which the transition sim needs at
      every N).

  Returns:
    :class:`AlignmentBaseline`.
  """
  d = checks.check_int(d, "d", 1, "the dimension")
  k = checks.check_int(k, "k", 1, "the number of eigenvectors")
  if k > d:
    raise ValueError(f"k must be <= d = {d} (an orthonormal k-frame in R^d), got {k}.")
  n = checks.check_int(n_candidates, "n_candidates", 1, "the number of candidate vectors")
  if draws != 0:
    draws = checks.check_int(draws, "draws", 2, "Monte-Carlo draws (or 0: the exact law only)")
  mean, q95 = _alignment_exact(d, k, n)
  if draws == 0:
    return AlignmentBaseline(float("nan"), float("nan"), float("nan"), mean, q95, np.zeros(0))

  def one(kk):
    k1, k2 = jax.random.split(kk)
    frame = jnp.linalg.qr(jax.random.normal(k1, (d, k)))[0]
    u = jax.random.normal(k2, (n, d))
    return jnp.max(jnp.linalg.norm(u @ frame, axis=1) / jnp.linalg.norm(u, axis=1))

  batch = max(1, min(draws, 2**22 // (n * d)))  # about 16 MiB of candidates at a time
  vals = np.asarray(jax.lax.map(one, jax.random.split(key, draws), batch_size=batch), np.float64)
  return AlignmentBaseline(float(vals.mean()), float(vals.std(ddof=1) / np.sqrt(draws)),
                           float(np.quantile(vals, 0.95)), mean, q95, vals)
