"""Tests of dae_theory.model against autodiff and the defining identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_within_rounding

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
  y64, w64 = np.asarray(y, np.float64), np.asarray(p.w1, np.float64)
  # relu is 1-Lipschitz, so the rounding bound of the product y W1 (4 terms) bounds the error.
  assert_within_rounding(h, np.maximum(y64 @ w64, 0), np.abs(y64) @ np.abs(w64), terms=4)
  assert h.shape == (8, 9)
