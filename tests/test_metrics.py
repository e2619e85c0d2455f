"""Tests of dae_theory.metrics: spiky vs balanced codes, weights modulo symmetry."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import constructions, data, metrics, model


@pytest.mark.parametrize("p", [2, 5, 16])
def test_code_metrics_at_the_two_extremes(x64, p):
  onehot = jnp.zeros(p).at[1].set(2.5)
  flat = jnp.full((p,), 0.7)
  m1, mf = metrics.code_metrics(onehot), metrics.code_metrics(flat)
  np.testing.assert_allclose([m1["participation_ratio"], mf["participation_ratio"]], [1, p], rtol=1e-12)
  np.testing.assert_allclose([m1["l4_over_l2"], mf["l4_over_l2"]], [1, p ** -0.25], rtol=1e-12)
  np.testing.assert_allclose([m1["max_over_mean"], mf["max_over_mean"]], [p, 1], rtol=1e-12)
  np.testing.assert_array_equal([m1["active_count"], mf["active_count"]], [1, p])
  np.testing.assert_allclose([m1["gini"], mf["gini"]], [1 - 1 / p, 0], atol=1e-12)
  np.testing.assert_allclose(m1["std"], np.std(np.asarray(onehot)), rtol=1e-12)


def test_scale_free_metrics_are_scale_free_and_std_is_not(x64):
  h = jax.nn.relu(jax.random.normal(jax.random.key(0), (6, 9), jnp.float64))
  a, b = metrics.code_metrics(h), metrics.code_metrics(3.0 * h)
  for name in ("participation_ratio", "l4_over_l2", "max_over_mean", "active_count", "gini"):
    np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)
  np.testing.assert_allclose(b["std"], 3 * a["std"], rtol=1e-12)


def test_gini_matches_mean_absolute_difference_definition(x64):
  rng = np.random.default_rng(1)
  h = np.maximum(rng.normal(size=7), 0) + 0.01
  brute = sum(abs(a - b) for a, b in itertools.product(h, h)) / (2 * len(h) ** 2 * h.mean())
  np.testing.assert_allclose(metrics.gini(jnp.asarray(h)), brute, rtol=1e-12)


def test_all_zero_code_is_defined():
  m = metrics.code_metrics(jnp.zeros((3, 4)))
  for name, v in m.items():
    assert np.all(np.asarray(v) == 0), name


def test_matched_distance_recovers_permutation_and_sign(x64):
  rng = np.random.default_rng(2)
  w_ref = rng.normal(size=(10, 6))
  perm = rng.permutation(6)
  signs = np.array([1, -1, 1, -1, -1, 1])
  w = w_ref[:, perm] * signs[None, :] + 1e-3 * rng.normal(size=(10, 6))
  dist, match = metrics.matched_column_distance(w, w_ref)
  np.testing.assert_array_equal(perm[match], np.arange(6))
  expect = np.linalg.norm(w[:, match] * signs[match][None, :] - w_ref) / np.linalg.norm(w_ref)
  np.testing.assert_allclose(dist, expect, rtol=1e-12)
  assert dist < 2e-3
  # An extra column in w is unmatched and counted in full.
  w_extra = np.concatenate([w, 0.5 * np.ones((10, 1))], 1)
  d2, _ = metrics.matched_column_distance(w_extra, w_ref)
  np.testing.assert_allclose(d2**2 * np.sum(w_ref**2), dist**2 * np.sum(w_ref**2) + 2.5, rtol=1e-9)


def test_gram_distance_is_blind_to_block_rotations(x64):
  ds = data.gaussian_mixture(jax.random.key(3), 3, 50, 10, 2, 3.0, 0.4)[0]
  con = constructions.generalization_weights(ds.x, ds.labels, 3, 0.2, 1e-4)
  q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(4), (3, 3), jnp.float64))
  w = con.params.w1.at[:, :3].set(con.params.w1[:, :3] @ q)
  rotated = model.DAEParams(w[:, ::-1])  # rotate block 0 and reverse the unit order
  np.testing.assert_allclose(metrics.gram_distance(rotated, con.params), 0.0, atol=1e-13)
  # ... but not to a real change.
  assert metrics.gram_distance(model.DAEParams(1.1 * w), con.params) > 0.2
  # matched_column_distance does see the rotation (it is only permutation/sign invariant).
  assert metrics.matched_column_distance(w, con.params.w1)[0] > 0.01


def test_column_alignments(x64):
  ds = data.gaussian_mixture(jax.random.key(5), 3, 40, 10, 1, 3.0, 0.4)[0]
  x = np.asarray(ds.x)
  w = jnp.asarray(np.stack([2 * x[7], -x[3] + x[4] * 0.0, x[20] + x[21]], 1))
  best, idx = metrics.column_sample_cosine(w, ds.x)
  np.testing.assert_allclose(best[0], 1.0, rtol=1e-12)
  assert int(idx[0]) == 7
  bases = metrics.cluster_bases(ds.x, ds.labels, rank=2)
  al, k = metrics.column_subspace_alignment(w, bases)
  # A sum of two points of one rank-2 cluster lies in its (uncentred) principal subspace exactly.
  lab = np.asarray(ds.labels)
  assert lab[20] == lab[21]
  np.testing.assert_allclose(al[2], 1.0, rtol=1e-10)
  assert int(k[2]) == lab[20]


def test_learned_allocation_reads_a_construction(x64):
  ds = data.gaussian_mixture(jax.random.key(6), 3, 60, 12, 1, 4.0, 0.5)[0]
  con = constructions.generalization_weights(ds.x, ds.labels, [2, 1, 3 - 1], 0.2, 1e-4)
  np.testing.assert_array_equal(metrics.learned_allocation(con.params, ds.x, ds.labels),
                                con.unit_block)


def test_grouped_code_merges_split_columns(x64):
  """Splitting a stored sample over two parallel units leaves f unchanged (tied weights) and the
  grouped code one-hot, while the unit-level participation ratio doubles."""
  ds = data.obtuse_samples(jax.random.key(7), 4, 8, (1.0, 2.0))
  con = constructions.memorization_weights(ds.x, 0.05, 1e-3)
  w = con.params.w1
  split = model.DAEParams(jnp.concatenate([w[:, :1] * np.sqrt(0.5), w[:, :1] * np.sqrt(0.5),
                                           w[:, 1:]], 1))
  y = ds.x[:1]
  np.testing.assert_allclose(model.apply(split, y), model.apply(con.params, y), rtol=1e-12)
  h = model.representation(split, y)
  np.testing.assert_allclose(metrics.participation_ratio(h), 2.0, rtol=1e-9)
  _, owner = metrics.column_sample_cosine(split.w1, ds.x)
  np.testing.assert_allclose(metrics.participation_ratio(metrics.grouped_code(h, owner, 4)), 1.0,
                             rtol=1e-9)


def test_live_columns_is_the_one_threshold():
  # column norms 2, 0.3, 0.19, 0 against LIVE_COLUMN = 0.1 of the largest (0.2): live, live, dead, dead
  w = jnp.array([[2.0, 0.0, 0.19, 0.0], [0.0, 0.3, 0.0, 0.0]])
  assert metrics.LIVE_COLUMN == 0.1
  np.testing.assert_array_equal(metrics.live_columns(w), [True, True, False, False])
  np.testing.assert_array_equal(jax.jit(metrics.live_columns)(w), [True, True, False, False])
  np.testing.assert_array_equal(metrics.live_columns(w, fraction=0.1), [True, True, False, False])
  np.testing.assert_array_equal(metrics.live_columns(w, 0.01), [True, True, True, False])
  assert not metrics.live_columns(jnp.zeros((3, 4))).any()  # an all-zero net has no live column
  with pytest.raises(ValueError, match=r"\(d, p\) weight matrix"):
    metrics.live_columns(jnp.ones(3))
