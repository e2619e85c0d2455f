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


def assert_within_rounding(actual, exact, scale, terms: int, dtype=None):
  """``|actual - exact| <= terms * u * scale`` entrywise: the worst-case rounding bound of a float
  computation made of sums of ``terms`` products (Higham, Accuracy and Stability of Numerical
  Algorithms, Eq. 3.5: |fl(xᵀy) − xᵀy| <= γ_n |x|ᵀ|y|, γ_n ≈ n u), where ``u`` is the unit roundoff
  of ``dtype`` (default: that of ``actual``), ``exact`` is computed in float64 from the same inputs and
  ``scale`` is the same computation on absolute values. A tolerance derived from the computation, not
  from one machine's output: it holds for any summation order, BLAS kernel or vector width."""
  import numpy as np

  actual = np.asarray(actual)
  u = np.finfo(dtype or actual.dtype).eps / 2
  err = np.abs(actual.astype(np.float64) - np.asarray(exact, np.float64))
  tol = terms * u * np.asarray(scale, np.float64) + np.finfo(np.float64).tiny
  worst = np.max(err / tol)
  assert worst <= 1.0, f"error exceeds the rounding bound by a factor {worst:.3g}"
