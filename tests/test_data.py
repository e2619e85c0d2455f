"""Tests of dae_theory.data against brute-force computations."""

import itertools

import jax
import numpy as np
import pytest

from dae_theory import data


@pytest.mark.parametrize("m,d", [(2, 1), (3, 2), (5, 4), (5, 16), (17, 16)])
def test_simplex_directions_are_unit_and_equiangular(x64, m, d):
  v = np.asarray(data.simplex_directions(jax.random.key(m * 100 + d), m, d))
  assert v.shape == (m, d)
  np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-12)
  cos = v @ v.T
  off = cos[~np.eye(m, dtype=bool)]
  # Identity up to float64 round-off: every pair has cosine exactly -1/(m-1).
  np.testing.assert_allclose(off, -1.0 / (m - 1), rtol=0, atol=1e-12)


def test_simplex_needs_room():
  with pytest.raises(ValueError, match=r"d >= m - 1"):
    data.simplex_directions(jax.random.key(0), 6, 4)


def _brute_separability(x, labels):
  m = labels.max() + 1
  means = [x[labels == k].mean(0) for k in range(m)]
  alpha = 0.0
  for i in range(len(x)):
    mu = means[labels[i]]
    alpha = max(alpha, np.linalg.norm(x[i] - mu) / np.linalg.norm(mu))
  beta = -np.inf
  for k, l in itertools.permutations(range(m), 2):
    c = means[k] @ means[l] / (np.linalg.norm(means[k]) * np.linalg.norm(means[l]))
    beta = max(beta, c)
  return alpha, beta


@pytest.mark.parametrize("seed", range(4))
def test_separability_matches_brute_force_on_arbitrary_sets(x64, seed):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(40, 5)) + 0.5
  labels = rng.integers(0, 4, size=40)
  labels[:4] = np.arange(4)  # every cluster present
  sep = data.separability(x, labels)
  a, b = _brute_separability(x, labels)
  np.testing.assert_allclose(sep.alpha, a, rtol=1e-12)
  np.testing.assert_allclose(sep.beta, b, rtol=1e-12)
  assert sep.sizes.sum() == 40 and sep.cosines.shape == (4, 4)


def test_mixture_is_separable_with_obtuse_means_and_orthogonal_spread(x64):
  ds, mix = data.gaussian_mixture(jax.random.key(1), clusters=4, per_cluster=300, d=12, rank=2,
                                  mean_norm=4.0, spread=0.5)
  sep = data.separability(ds.x, ds.labels)
  # Population cosine is -1/3; sample means move it by O(spread / (mean_norm sqrt(n_k))) = 0.007.
  assert sep.beta < -1 / 3 + 0.05
  # Covariance directions are orthogonal to every mean (identity, float64 round-off).
  proj = np.einsum("kdr,ld->klr", np.asarray(mix.factors), np.asarray(mix.means))
  np.testing.assert_allclose(proj, 0.0, atol=1e-12)
  # Sample covariance of one mode vs the population one: MC tolerance ~ 4 spread^2/sqrt(n_k).
  xk = np.asarray(ds.x[ds.labels == 0])
  emp = np.cov(xk.T, bias=True)
  assert np.abs(emp - np.asarray(mix.covariances[0])).max() < 4 * 0.25 / np.sqrt(300)


def test_obtuse_samples_are_pairwise_obtuse(x64):
  ds = data.obtuse_samples(jax.random.key(2), 9, 8, (1.0, 3.0))
  sep = data.separability(ds.x, ds.labels)
  np.testing.assert_allclose(sep.beta, -1 / 8, rtol=1e-10)
  norms = np.linalg.norm(np.asarray(ds.x), axis=1)
  assert norms.min() >= 1.0 and norms.max() <= 3.0 and sep.alpha == 0.0


def test_hybrid_has_duplicates_and_modes(x64):
  ds = data.hybrid(jax.random.key(3), duplicated=2, multiplicity=5, modes=3, per_mode=50, d=16)
  x, labels = np.asarray(ds.x), np.asarray(ds.labels)
  assert x.shape == (2 * 5 + 3 * 50, 16)
  for k in range(2):
    rows = x[labels == k]
    assert len(rows) == 5 and np.all(rows == rows[0])
  sep = data.separability(x, labels)
  assert sep.alpha_per_cluster[0] < 1e-12 and sep.beta < 0  # alpha = 0 up to f64 round-off


def test_bad_inputs_are_named():
  with pytest.raises(ValueError, match="labels must have shape"):
    data.separability(np.ones((5, 3)), np.zeros(4, int))
  with pytest.raises(ValueError, match="every value 0"):
    data.separability(np.ones((3, 3)), np.array([0, 2, 2]))
  with pytest.raises(ValueError, match="zero mean"):
    data.separability(np.array([[1.0, 0], [-1.0, 0], [1.0, 1.0]]), np.array([0, 0, 1]))
  with pytest.raises(ValueError, match="rank=3"):
    data.gaussian_mixture_params(jax.random.key(0), 3, 5, 3, 1.0, 0.1)
  with pytest.raises(ValueError, match="spread"):
    data.gaussian_mixture_params(jax.random.key(0), 3, 8, 1, 1.0, -0.1)


def test_obtuse_subset_picks_pairwise_obtuse_rows():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 6))
  idx = data.obtuse_subset(x, 5)
  u = x[idx] / np.linalg.norm(x[idx], axis=1, keepdims=True)
  assert np.all((u @ u.T)[~np.eye(5, dtype=bool)] < 0)
  with pytest.raises(ValueError, match="only .* rows with pairwise cosine < 0.0 found"):
    data.obtuse_subset(x, 9)  # at most d + 1 = 7 exist


def test_obtuse_subset_margin():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(500, 8))
  idx = data.obtuse_subset(x, 4, max_cosine=-0.2)
  u = x[idx] / np.linalg.norm(x[idx], axis=1, keepdims=True)
  assert np.all((u @ u.T)[~np.eye(4, dtype=bool)] < -0.2)
  with pytest.raises(ValueError, match="max_cosine must be <= 0"):
    data.obtuse_subset(x, 4, max_cosine=0.1)


def test_data_card_matches_brute_force():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(30, 5)) + np.repeat(np.eye(5)[:3] * 4, 10, axis=0)
  labels = np.repeat(np.arange(3), 10)
  card = data.data_card(x, labels, p=7, lam=0.01, optimizer="adam", learning_rate=1e-3, steps=10,
                        seeds=2)
  sep = data.separability(x, labels)
  assert card["alpha"] == pytest.approx(sep.alpha) and card["beta"] == pytest.approx(sep.beta)
  cos = [np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
         for k in range(3) for i, a in enumerate(x[labels == k]) for j, b in enumerate(x[labels == k])
         if i != j]
  assert card["within_cos_min"] == pytest.approx(min(cos)) and card["within_cos_max"] == pytest.approx(max(cos))
  assert (card["d"], card["n"], card["clusters"], card["p"]) == (5, 30, 3, 7)
  assert card["p_over_d"] == pytest.approx(7 / 5) and card["obtuse"] == (sep.beta < 0)
  # each sample its own cluster (Cor. 3.2): α = 0, no within-cluster pair
  single = data.data_card(x[:4], np.arange(4))
  assert single["alpha"] == 0 and single["within_cos_min"] is None and single["p"] is None
  # undefined numbers are None (JSON-able): one centred cluster has no α, one cluster no β
  centred = data.data_card(x - x.mean(0))
  assert centred["beta"] is None and centred["within_cos_max"] is not None
