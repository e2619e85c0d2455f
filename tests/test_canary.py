"""Canary for jax issue 39103: jax/jaxlib 0.10.2 silently miscompile jit(vmap(matvec)) + sum on CPU.

This is exactly the shape of a per-sample DAE loss, so a bad build must fail loudly here. The sizes are
the issue's reproducer (16 385 rows in float64, 32 769 in float32), where 0.10.2 returned 267911424
instead of 268435456.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.mark.parametrize("dtype_name,n", [("float64", 16_385), ("float32", 32_769)])
def test_jit_vmap_matvec_sum_matches_eager(dtype_name, n):
  with jax.enable_x64(True):
    dtype = jnp.dtype(dtype_name)
    i = jnp.arange(n, dtype=dtype)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=dtype)

    def f(x):
      return jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(x)

    eager = np.asarray(f(x))
    jitted = np.asarray(jax.jit(f)(x))
    exact = np.arange(n, dtype=np.float64) ** 2
    # Entry i is i^2 + 0 + 0: one multiplication, rounded once to the dtype, so the correctly rounded
    # exact value, eager and jit must agree bit for bit (0.10.2's jit is off by 5e5 at the last entry).
    np.testing.assert_array_equal(eager, exact.astype(dtype_name))
    np.testing.assert_array_equal(jitted, eager,
                                  err_msg=f"jit != eager: jax {jax.__version__} has the 39103 bug")


def test_pinned_version():
  assert jax.__version__ == "0.10.1", (
      f"dae-theory pins jax==0.10.1 (0.10.2 miscompiles, issue 39103); found {jax.__version__}")
