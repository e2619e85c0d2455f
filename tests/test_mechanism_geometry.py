"""The data-geometry family of the mechanism map (``data.cluster_geometry``): the requested largest
cosine between cluster means and the within-cluster spread α are what the data card measures."""

import jax
import numpy as np
import pytest

from dae_theory import data

TOL = 1e-6
"""Both knobs are hit by construction (the sample means are the means, the largest deviation is
scaled to α‖μ‖); the tolerance only absorbs float32 storage of x (relative round-off ~6e-8 per
entry, summed over d ≤ 32 coordinates in the cosines): 1e-6 leaves a factor > 10 of room."""


@pytest.mark.parametrize("m,per,d,c,alpha", [
    (8, 1, 16, 0.5, 0.0), (8, 1, 16, 0.0, 0.0), (8, 1, 16, -1 / 7, 0.0), (8, 1, 16, -0.07, 0.0),
    (4, 20, 12, 0.3, 0.4), (4, 20, 12, -1 / 3, 0.8), (3, 5, 8, -0.2, 0.1)])
def test_the_requested_largest_cosine_and_spread_are_measured(m, per, d, c, alpha):
  ds = data.cluster_geometry(jax.random.key(m * 7 + per), m, per, d, c, alpha, mean_norm=1.5)
  card = data.data_card(ds.x, ds.labels)
  assert card["n"] == m * per and card["clusters"] == m and card["d"] == d
  assert abs(card["beta"] - c) <= TOL, card
  if alpha > 0:
    assert abs(card["alpha"] - alpha) <= TOL, card
    # deviations orthogonal to the means: within-cluster cosines >= (1 - α²)/(1 + α²) > 0
    assert card["within_cos_min"] >= (1 - alpha**2) / (1 + alpha**2) - TOL
  else:
    assert card["alpha"] <= TOL
  x = np.asarray(ds.x, np.float64)
  # every mean pair has the same cosine (equiangular), and every norm is mean_norm
  u = np.asarray(ds.means, np.float64)
  np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.5, rtol=TOL)
  cos = (u / 1.5) @ (u / 1.5).T
  np.testing.assert_allclose(cos[~np.eye(m, dtype=bool)], c, atol=TOL)
  if per == 1:  # a memorization set: the samples are the means
    np.testing.assert_allclose(x, u, atol=TOL)
    assert card["obtuse"] == (c < 0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_cosine=-0.2), r"max_cosine must lie in \[-1/\(M-1\), 1\) = \[-0.142857, 1\)"),
    (dict(max_cosine=1.0), "max_cosine must lie in"),
    (dict(alpha=0.3), "alpha = 0.3 > 0 needs per_cluster >= 2"),
    (dict(d=7), "d = 7 must be >= M = 8"),
    (dict(alpha=-1.0, per_cluster=2), "alpha must be finite and >= 0"),
])
def test_bad_geometries_are_named(kwargs, match):
  args = dict(clusters=8, per_cluster=1, d=16, max_cosine=0.0)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    data.cluster_geometry(jax.random.key(0), **args)
