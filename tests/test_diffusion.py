"""Tests of dae_theory.diffusion: the time-conditioned DAE and the VE sampler (docs/theory.md §9)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_within_rounding

from dae_theory import diffusion, images


def test_initial_model_is_the_plain_tied_dae():
  """MLP last layer and skip start at zero: x0_hat = W relu(W^T y), the Eq. 5 DAE, at every sigma."""
  p = diffusion.init_params(jax.random.key(0), 6, 5)
  y = jax.random.normal(jax.random.key(1), (4, 6))
  y64, w64 = np.asarray(y, np.float64), np.asarray(p.w, np.float64)
  expect = np.maximum(y64 @ w64, 0) @ w64.T
  scale = (np.abs(y64) @ np.abs(w64)) @ np.abs(w64).T
  for s in (0.02, 0.5, 2.0):
    # float32 against float64 to the rounding bound of the two products (6 + 5 terms).
    assert_within_rounding(diffusion.denoise(p, y, jnp.full((4,), s)), expect, scale, terms=11)


def test_sigma_grid():
  g = diffusion.sigma_grid()
  assert len(g) == 61 and g[0] == 2.0 and g[-1] == 0.0
  np.testing.assert_allclose(g[-2], 0.02, rtol=1e-12)
  np.testing.assert_allclose(g[1:-1] / g[:-2], (0.02 / 2.0) ** (1 / 59), rtol=1e-12)
  with pytest.raises(ValueError, match="need levels >= 2"):
    diffusion.sigma_grid(1)


def test_sampler_with_the_empirical_optimum_copies_training_points():
  """Eq. 3's denoiser is the exact score of the (smoothed) training set, so the sampler must land on
  training points: every sample's nearest-training cosine >= 0.99 (and the samples are not all the
  same point)."""
  x = images.digits(n_train=20, seed=0).train
  s = diffusion.sample(jax.random.key(3), diffusion.empirical_denoiser(x), 40, 64)
  cos, idx = diffusion.nearest_cosine(s, jnp.asarray(x))
  assert float(cos.min()) >= 0.99, np.asarray(cos)
  assert len(np.unique(np.asarray(idx))) >= 5


def test_training_lowers_the_loss_and_denoises_training_images():
  """5 digits, width 32, 3000 Adam steps: the loss falls (measured 4.78 -> 0.98) and the denoiser
  cleans noisy training images (min cosine to the clean image 0.998 at sigma = 0.2 from a noisy input
  at 0.961; 0.79 at sigma = 1 from 0.39). Whether its *samples* are copies needs the reference's much
  longer training: issue 6, not claimed here."""
  x = jnp.asarray(images.digits(n_train=5, seed=1).train)
  params, losses = diffusion.train(jax.random.key(0), x, 32, 3000, learning_rate=1e-2)
  assert float(jnp.mean(losses[-100:])) < 0.5 * float(jnp.mean(losses[:100]))
  # One trained model, so the floors sit well below the measured 0.998 / 0.79 (another CPU's rounding
  # moves the model a little); the claim proper is the comparison with the noisy input.
  for s, floor in ((0.2, 0.98), (1.0, 0.6)):
    y = x + s * jax.random.normal(jax.random.key(1), x.shape)
    out = diffusion.denoise(params, y, jnp.full((5,), s))
    cos = jnp.sum(out * x, -1) / (jnp.linalg.norm(out, axis=-1) * jnp.linalg.norm(x, axis=-1))
    noisy = jnp.sum(y * x, -1) / (jnp.linalg.norm(y, axis=-1) * jnp.linalg.norm(x, axis=-1))
    assert float(cos.min()) > floor and float(cos.min()) > float(noisy.min()), (s, cos, noisy)


def test_bad_training_arguments_are_named():
  with pytest.raises(ValueError, match="x must have shape"):
    diffusion.train(jax.random.key(0), jnp.ones(4), 2, 10)
  with pytest.raises(ValueError, match="learning_rate > 0"):
    diffusion.train(jax.random.key(0), jnp.ones((4, 3)), 2, 10, learning_rate=0.0)


def test_nearest_cosine_marks_non_finite_samples_instead_of_raising_or_guessing():
  """A sampler that overflowed gives inf/NaN samples: they get cosine NaN and index −1 (never a
  copy), the finite ones their true nearest image."""
  x = np.eye(3)
  s = np.array([[2.0, 0.1, 0.0], [np.inf, 0.0, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.2, 1.5]])
  cos, idx = diffusion.nearest_cosine(s, x)
  assert idx.tolist() == [0, -1, -1, 2]
  assert np.isnan(cos[1]) and np.isnan(cos[2])
  np.testing.assert_allclose(cos[0], 2.0 / np.hypot(2.0, 0.1), rtol=1e-6)


def test_the_denoiser_is_positively_homogeneous_at_fixed_sigma():
  """docs/theory.md §9: no bias, so x0_hat(c y, sigma) = c x0_hat(y, sigma) for c > 0 (a trained-like
  model: random MLP and skip, not the zero init). For c a power of two, scaling commutes with every
  float rounding of the same program (barring under/overflow), so the equality is exact in float32. A
  negative c breaks it (relu)."""
  k = jax.random.split(jax.random.key(3), 4)
  p = diffusion.init_params(k[0], 6, 5)
  p = p._replace(a2=jax.random.normal(k[1], p.a2.shape), skip=jnp.asarray(0.3))
  y = jax.random.normal(k[2], (4, 6))
  sig = jnp.full((4,), 0.1)
  for c in (0.5, 0.25, 4.0):
    np.testing.assert_array_equal(diffusion.denoise(p, c * y, sig), c * diffusion.denoise(p, y, sig))
  assert not np.allclose(diffusion.denoise(p, -y, sig), -diffusion.denoise(p, y, sig), atol=1e-3)
