"""Tests of dae_theory.model against autodiff and the defining identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import model


@pytest.mark.parametrize("tied", [True, False])
def test_jacobian_matches_autodiff_and_homogeneity(x64, tied):
  params = model.init_params(jax.random.key(0), 7, 11, tied=tied, dtype=jnp.float64)
  ys = jax.random.normal(jax.random.key(1), (5, 7), jnp.float64)
  jac = model.jacobian(params, ys)
  auto = jax.vmap(jax.jacfwd(lambda y: model.apply(params, y)))(ys)
  np.testing.assert_allclose(jac, auto, rtol=1e-12, atol=1e-14)
  # Positive homogeneity: f(y) = J(y) y and f(a y) = a f(y) for a > 0 (identities at f64 round-off).
  f = model.apply(params, ys)
  np.testing.assert_allclose(jnp.einsum("nij,nj->ni", jac, ys), f, rtol=1e-12, atol=1e-14)
  np.testing.assert_allclose(model.apply(params, 3.7 * ys), 3.7 * f, rtol=1e-12, atol=1e-14)


def test_tied_equals_untied_with_equal_weights(x64):
  p = model.init_params(jax.random.key(0), 6, 4, dtype=jnp.float64)
  untied = model.DAEParams(p.w1, p.w1 + 0.0)
  y = jax.random.normal(jax.random.key(2), (3, 6), jnp.float64)
  np.testing.assert_array_equal(model.apply(p, y), model.apply(untied, y))
  assert p.tied and not untied.tied


def test_representation_is_relu_of_preactivation():
  p = model.init_params(jax.random.key(0), 4, 9)
  y = jax.random.normal(jax.random.key(3), (8, 4))
  h = model.representation(p, y)
  pre = np.asarray(y) @ np.asarray(p.w1)
  np.testing.assert_allclose(h, np.maximum(pre, 0), rtol=1e-6)
  assert h.shape == (8, 9)
