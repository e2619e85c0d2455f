"""Tests of the closed-form minimizers (Theorem 3.1, Cor. 3.2-3.4, Lemma D.1) against autodiff,
optimization and Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dae_theory import bounds, constructions, data, loss, model

SIGMA, LAM = 0.2, 1e-4


def _mixture(seed=0, rank=1, clusters=3, per_cluster=200, d=16, mean_norm=4.0, spread=0.5):
  return data.gaussian_mixture(jax.random.key(seed), clusters, per_cluster, d, rank, mean_norm,
                               spread)[0]


# Memorization: 10 simplex points have pairwise cosine only -1/9, so the clean margin of an off-block
# unit is |beta| ||x|| / 9 ~ 0.15; sigma must be well below it (t_min = 3.9 at sigma = 0.03) for the
# theorem's hypothesis (no gate flips under noise, up to exp(-t^2/2)) to hold.
SIGMA_MEM, LAM_MEM = 0.03, 1e-3


def _cases():
  """(name, data, construction, sigma, lam) in float64: Eq. 8, Eq. 9 (p = n and p > n), Cor. 3.4."""
  mix = _mixture()
  mix3 = _mixture(seed=1, rank=2)
  mem = data.obtuse_samples(jax.random.key(2), 10, 16, (1.0, 2.0))
  hyb = data.hybrid(jax.random.key(3), duplicated=2, multiplicity=20, modes=2, per_mode=100, d=16,
                    rank=1)
  gen = lambda ds, w: constructions.generalization_weights(ds.x, ds.labels, w, SIGMA, LAM)
  return [
      ("eq8_pk2", mix, gen(mix, 2), SIGMA, LAM),
      ("eq8_pk3", mix3, gen(mix3, 3), SIGMA, LAM),
      ("eq8_mixed", mix3, gen(mix3, [1, 3, 2]), SIGMA, LAM),
      ("eq9", mem, constructions.memorization_weights(mem.x, SIGMA_MEM, LAM_MEM), SIGMA_MEM, LAM_MEM),
      ("eq9_wide", mem, constructions.memorization_weights(mem.x, SIGMA_MEM, LAM_MEM, width=14),
       SIGMA_MEM, LAM_MEM),
      ("cor34", hyb, constructions.hybrid_weights(hyb.x, hyb.labels, 2, SIGMA, LAM), SIGMA, LAM),
  ]


@pytest.fixture(scope="module")
def cases():
  with jax.enable_x64(True):
    return _cases()


@pytest.mark.parametrize("idx", range(6))
def test_decomposed_gradient_vanishes_at_constructions(x64, cases, idx):
  name, ds, con, sigma, lam = cases[idx]
  f = lambda p: loss.decomposed_loss(p, ds.x, ds.labels, con.unit_block, sigma, lam)
  val, g = jax.value_and_grad(f)(con.params)
  # Scale-free: ||grad|| ||W|| / L is the relative first-order change of L under W -> (1 + t) W.
  rel = float(jnp.linalg.norm(g.w1) * jnp.linalg.norm(con.params.w1) / val)
  assert rel <= 1e-9, (name, rel)  # measured 1.5e-13 to 1.1e-12 (float64 round-off)
  # Not trivially zero: a perturbed copy has a gradient many orders larger.
  pert = model.DAEParams(con.params.w1 * 1.01)
  g_pert = jax.grad(f)(pert)
  assert float(jnp.linalg.norm(g_pert.w1)) > 1e4 * float(jnp.linalg.norm(g.w1)), name


@pytest.mark.parametrize("idx", [0, 3, 5])
def test_relu_loss_gradient_is_small_at_constructions(x64, cases, idx):
  """The Monte-Carlo Eq. 6 gradient (fixed bank of 4000 draws per sample) at the construction against
  the same at a copy perturbed by 5% (random direction). The construction's gradient is only MC noise
  plus cross-talk, so it must be far below the perturbed one."""
  name, ds, con, sigma, lam = cases[idx]
  eps = loss.noise_bank(jax.random.key(11), 4000 if ds.x.shape[0] <= 20 else 200, *ds.x.shape)
  f = lambda p: loss.dae_loss(p, ds.x, sigma, lam, eps)
  g0 = float(jnp.linalg.norm(jax.grad(f)(con.params).w1))
  delta = jax.random.normal(jax.random.key(12), con.params.w1.shape, jnp.float64)
  delta = 0.05 * delta * jnp.linalg.norm(con.params.w1) / jnp.linalg.norm(delta)
  g1 = float(jnp.linalg.norm(jax.grad(f)(model.DAEParams(con.params.w1 + delta)).w1))
  # Measured: eq8 0.013 vs 1.65, eq9 1.3e-3 vs 0.155, cor34 0.023 vs 1.39 (ratios 61-127).
  assert g0 < 0.05 * g1, (name, g0, g1)


def test_memorization_is_eq8_with_singleton_clusters(x64):
  """Eq. 9 (r_i formula) and Eq. 8 with p_k = 1 per sample are the same matrix (two derivations)."""
  ds = data.obtuse_samples(jax.random.key(4), 7, 9, (0.5, 2.0))
  mem = constructions.memorization_weights(ds.x, SIGMA, 1e-2)
  gen = constructions.generalization_weights(ds.x, ds.labels, 1, SIGMA, 1e-2)
  np.testing.assert_allclose(mem.params.w1, gen.params.w1, rtol=1e-12)
  np.testing.assert_allclose(mem.shrinkage, gen.shrinkage, rtol=1e-12)
  # Column norms r_i ||x_i|| ~ 1 (Cor. 3.2) when sigma << ||x_i|| and n lambda << ||x_i||^2: with
  # ||x|| in [1.5, 2], sigma = 0.2, n lambda = 7e-3, 1 - r||x|| <= 1 - sqrt((2.25-.007)/(2.25+.04)) = 0.01.
  ds = data.obtuse_samples(jax.random.key(4), 7, 9, (1.5, 2.0))
  mem = constructions.memorization_weights(ds.x, SIGMA, 1e-3)
  assert np.all(np.abs(np.linalg.norm(np.asarray(mem.params.w1), axis=0) - 1) < 0.011)


def test_hybrid_duplicate_columns_are_eq8_rank_one_blocks(x64):
  hyb = data.hybrid(jax.random.key(5), duplicated=3, multiplicity=7, modes=2, per_mode=60, d=12,
                    rank=1)
  h = constructions.hybrid_weights(hyb.x, hyb.labels, 2, SIGMA, LAM)
  g = constructions.generalization_weights(hyb.x, hyb.labels, [1, 1, 1, 2, 2], SIGMA, LAM)
  np.testing.assert_allclose(h.params.w1, g.params.w1, rtol=1e-12, atol=1e-15)
  np.testing.assert_array_equal(h.unit_block, [0, 1, 2, 3, 3, 4, 4])
  # Each duplicated point's column is parallel to the point (a stored sample).
  x = np.asarray(hyb.x)
  for j in range(3):
    col, pt = np.asarray(h.params.w1[:, j]), x[np.asarray(hyb.labels) == j][0]
    np.testing.assert_allclose(col @ pt / np.linalg.norm(col) / np.linalg.norm(pt), 1.0, rtol=1e-12)


def test_block_shrinkage_matches_an_independent_eigendecomposition(x64):
  ds = _mixture(seed=6, rank=2)
  con = constructions.generalization_weights(ds.x, ds.labels, 3, SIGMA, LAM)
  x, labels, n = np.asarray(ds.x), np.asarray(ds.labels), ds.x.shape[0]
  for k in range(3):
    xk = x[labels == k]
    lam_eig = np.sort(np.linalg.eigvalsh(xk.T @ xk))[::-1][:3]
    expect = (lam_eig - n * LAM) / (lam_eig + len(xk) * SIGMA**2)
    wk = np.asarray(con.params.w1)[:, con.unit_block == k]
    got = np.sort(np.linalg.eigvalsh(wk @ wk.T))[::-1][:3]
    np.testing.assert_allclose(got, expect, rtol=1e-10)


def test_balanced_rotation_and_balanced_activation(x64):
  for p in (1, 2, 3, 7):
    o = np.asarray(constructions.balanced_rotation(p, jnp.float64))
    np.testing.assert_allclose(o @ o.T, np.eye(p), atol=1e-14)
    np.testing.assert_allclose(o[:, 0], 1 / np.sqrt(p), rtol=1e-12)
  # On a mixture with covariance orthogonal to the means, every clean in-cluster point switches on
  # exactly its own block (the balanced code) and no other unit.
  ds = _mixture(seed=7)
  con = constructions.generalization_weights(ds.x, ds.labels, 2, SIGMA, LAM)
  on = np.asarray(model.gates(con.params, ds.x))
  expect = np.asarray(ds.labels)[:, None] == con.unit_block[None, :]
  np.testing.assert_array_equal(on, expect)


def test_lemma_d1_closed_form_is_reached_by_optimization(x64):
  """L-BFGS (optax) on the linear-AE loss of Lemma D.1 from random untied init reaches the closed form:
  the end-to-end map W2 W1^T (invariant to the rotation O) agrees to rtol 1e-6, the loss to 1e-10."""
  x = jax.random.normal(jax.random.key(8), (40, 8), jnp.float64) @ jnp.diag(
      jnp.linspace(2.0, 0.3, 8))
  sigma, lam_p, p = 0.3, 0.5, 3
  w_star, _ = constructions.linear_ae_minimizer(x, p, sigma, lam_p)
  f = lambda w: loss.linear_ae_loss(w[0], w[1], x, sigma, lam_p)
  w = tuple(0.3 * jax.random.normal(jax.random.fold_in(jax.random.key(9), i), (8, p), jnp.float64)
            for i in range(2))
  opt = optax.lbfgs()
  state = opt.init(w)
  value_and_grad = optax.value_and_grad_from_state(f)

  @jax.jit
  def step(w, state):
    val, g = value_and_grad(w, state=state)
    upd, state = opt.update(g, state, w, value=val, grad=g, value_fn=f)
    return optax.apply_updates(w, upd), state

  for _ in range(400):
    w, state = step(w, state)
  np.testing.assert_allclose(w[1] @ w[0].T, w_star @ w_star.T, rtol=1e-6, atol=1e-9)
  np.testing.assert_allclose(f(w), f((w_star, w_star)), rtol=1e-10)


def test_memorization_loss_closed_form_vs_monte_carlo(x64):
  # 6 simplex points (cosine -1/5) at sigma = 0.05: t_min = 4.9, so the ReLU loss is the surrogate's
  # up to a certified 7e-7, below the Monte-Carlo standard error (3e-6).
  ds = data.obtuse_samples(jax.random.key(10), 6, 16, (1.0, 2.0))
  sigma, lam = 0.05, 1e-3
  con = constructions.memorization_weights(ds.x, sigma, lam)
  closed = float(bounds.memorization_loss(ds.x, sigma, lam))
  # Two derivations of the surrogate loss agree exactly.
  dec = loss.decomposed_loss(con.params, ds.x, ds.labels, con.unit_block, sigma, lam)
  np.testing.assert_allclose(dec, closed, rtol=1e-12)
  # The ReLU loss by Monte Carlo: n_mc = 2e5 draws per sample; tolerance c/sqrt(n_mc) with c = 4 times
  # the per-draw standard deviation (stderr returned by the estimator).
  n_mc = 200_000
  mc, se = loss.dae_loss_mc(jax.random.key(1), con.params, ds.x, sigma, lam, n_mc, chunk=10_000)
  # The ReLU and surrogate losses differ by at most the certified cross-talk bound; it must be
  # negligible here for the comparison to test the closed form.
  xb = float(loss.crosstalk_bound(con.params, ds.x, ds.labels, con.unit_block, sigma).bound)
  assert xb < 0.5 * float(se), (xb, float(se))
  assert abs(float(mc) - closed) < 4 * float(se) + xb, (float(mc), closed, float(se))
  # lambda -> 0 limit of Cor. 3.2: (1/n) sum sigma^2 ||x||^2 / (sigma^2 + ||x||^2) (identity).
  sq = np.sum(np.asarray(ds.x) ** 2, 1)
  np.testing.assert_allclose(bounds.memorization_loss(ds.x, sigma, 0.0),
                             np.mean(sigma**2 * sq / (sigma**2 + sq)), rtol=1e-12)


def test_hypotheses_are_enforced_with_clear_errors(x64):
  mem = data.obtuse_samples(jax.random.key(0), 6, 8)
  with pytest.raises(ValueError, match=r"width p >= n = 6, got p = 4 \(short by 2\)"):
    constructions.memorization_weights(mem.x, SIGMA, 0.0, width=4)
  with pytest.raises(ValueError, match=r"n\*lambda < min_i"):
    constructions.memorization_weights(mem.x, SIGMA, 1.0)
  # Acute pair: beta >= 0 is refused and the offending pair is named.
  acute = jnp.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-1.0, -1.0, 0.0]])
  with pytest.raises(ValueError, match=r"clusters 0 and 1 have cosine 0\.8 >= 0"):
    constructions.memorization_weights(acute, SIGMA, 0.0)
  mix = _mixture(per_cluster=20)
  with pytest.raises(ValueError, match=r"beta < 0"):
    x = mix.x + 10.0  # shifting every point by the same vector makes the means acute
    constructions.generalization_weights(x, mix.labels, 1, SIGMA, LAM)
  with pytest.raises(ValueError, match=r"cluster 0: Eq. 8: n\*lambda = 60 must be < every kept eigenvalue"):
    constructions.generalization_weights(mix.x, mix.labels, 2, SIGMA, 1.0)
  with pytest.raises(ValueError, match=r"exceeds the rank bound"):
    constructions.generalization_weights(mix.x[:6], mix.labels[:6] * 0, 7, SIGMA, LAM)
  with pytest.raises(ValueError, match="one width per cluster"):
    constructions.generalization_weights(mix.x, mix.labels, [1, 2], SIGMA, LAM)
  with pytest.raises(ValueError, match="rows are not all equal"):
    constructions.hybrid_weights(mix.x, mix.labels, 1, SIGMA, LAM, duplicated=[0])
