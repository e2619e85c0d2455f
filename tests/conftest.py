"""Test configuration: CPU only, strict rank promotion; float64 on request via the ``x64`` fixture."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
  """Run the test body with float64 enabled (bound and identity checks)."""
  with jax.enable_x64(True):
    yield
