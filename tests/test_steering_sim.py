"""Representation steering: the sim on the lab's diffusion DAEs, its flags, and the steering API."""

import numpy as np
import pytest
from conftest import assert_within_rounding

from dae_theory import steering as steer_lib
from sims import steering


def test_steering_is_jumpier_in_the_memorizing_model(tmp_path):
  """Two seeds x 16 paths. Measured in the default run (3 x 32 paths): jump share 0.046 [0.043, 0.049]
  memorizing vs 0.034 [0.032, 0.036] generalizing (even movement: 0.025)."""
  cfg = steering.Config(seeds=2, paths=16, n_boot=100)
  out = steering.run(cfg, str(tmp_path))
  assert out["mem_jump_share_mean"] > out["gen_jump_share_mean"], (
      out["mem_jump_share_mean"], out["gen_jump_share_mean"])
  assert np.mean(out["gen_reached"]) >= 0.9, out["gen_reached"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(target_class=10), "--target_class must be -1 or a digit"),
    (dict(levels=1), "--levels must be >= 2"),
    (dict(a_max=0.0), "--a_max must be > 0"),
])
def test_bad_steering_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    steering.Config(**kwargs)


def test_path_metrics_on_known_paths():
  """Even motion has jump share 1/(levels-1); a single jump has 1; a rising probability has rho 1."""
  levels = 11
  even = np.linspace(0, 1, levels)[:, None, None] * np.ones((1, 1, 3))
  step = (np.arange(levels) >= 5)[:, None, None] * np.ones((1, 1, 3))
  x = np.concatenate([even, step], 1)
  prob = np.stack([np.linspace(0, 1, levels), np.linspace(0, 1, levels)], 1)
  m = steer_lib.path_metrics(x, prob)
  np.testing.assert_allclose(m["jump_share"], [1 / (levels - 1), 1.0])
  np.testing.assert_allclose(m["monotonicity"], [1.0, 1.0])
  np.testing.assert_array_equal(m["reached"], [1.0, 1.0])


def test_steering_api_on_the_plain_dae_and_a_users_model():
  """steered_dae is W2(relu(W1^T y) + a v); a = 0 is the model itself; the generic steer takes any
  encoder/decoder (here NumPy-free lambdas standing for a user's model)."""
  import jax
  import jax.numpy as jnp

  from dae_theory import model

  p = model.init_params(jax.random.key(0), 6, 4, tied=False)
  y = jax.random.normal(jax.random.key(1), (3, 6))
  # float32 results against float64 references of the same inputs, to the worst-case rounding bound
  # of each computation (conftest.assert_within_rounding): d = 6 products, p = 4, a mean over 3 rows.
  y64, w1, w2 = (np.asarray(a, np.float64) for a in (y, p.w1, p.decoder))
  h64, h_abs = np.maximum(y64 @ w1, 0), np.abs(y64) @ np.abs(w1)
  v = steer_lib.mean_representation(lambda z: model.representation(p, z), y)
  assert_within_rounding(v, h64.mean(0), h_abs.mean(0), terms=6 + 3)
  assert_within_rounding(steer_lib.steered_dae(p, v, 0.0)(y), h64 @ w2.T, h_abs @ np.abs(w2).T,
                         terms=6 + 4)
  v64 = np.asarray(v, np.float64)
  assert_within_rounding(steer_lib.steered_dae(p, v, 2.0)(y), (h64 + 2.0 * v64) @ w2.T,
                         (h_abs + 2.0 * np.abs(v64)) @ np.abs(w2).T, terms=6 + 3 + 4 + 2)
  user = steer_lib.steer(lambda z: jnp.tanh(z), lambda h: 2 * h, jnp.ones(6), 0.5)
  # XLA's float32 tanh is a few-ulp approximation; with the add and the doubling, 8 u (4 ulps) of
  # the same computation on absolute values, 2 (|tanh y| + 0.5).
  exact = 2 * (np.tanh(y64) + 0.5)
  assert_within_rounding(user(y), exact, 2 * (np.abs(np.tanh(y64)) + 0.5), terms=8)
  with pytest.raises(ValueError, match="need x \\(levels >= 2"):
    steer_lib.path_metrics(np.ones((1, 2, 3)), np.ones((1, 2)))
