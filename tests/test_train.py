"""Training from random init reaches the constructions (Cor. 3.2 and 3.3 regimes); divergence and bad
arguments are reported without losing work. float32, Adam with cosine decay, fresh noise every step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import constructions, data, loss, metrics, model, train


def _memorizes(seed: int) -> bool:
  """One seed of the p = 1.5 n memorization run: every sample stored in a column (cosine >= 0.99),
  >= 90% of a noisy point's code energy on the units storing that very sample, grouped participation
  ratio <= 1.1 (one-hot modulo column splitting, metrics.grouped_code), and the end-to-end map that of
  W_mem (distance modulo splitting/permutation/sign < 0.05)."""
  n, p, sigma = 8, 12, 0.1
  ds = data.obtuse_samples(jax.random.key(seed), n, 32, (1.0, 2.0))
  res = train.train_dae(jax.random.key(seed), ds.x, p, sigma, 1e-4, 3000, 1e-2)
  cos = np.asarray(metrics.cosine_matrix(ds.x, res.params.w1.T))  # (n, p)
  owner = cos.argmax(0)
  y = ds.x + sigma * jax.random.normal(jax.random.key(99), ds.x.shape)
  h = np.asarray(model.representation(res.params, y))
  own = np.array([np.sum(h[i, owner == i] ** 2) / np.sum(h[i] ** 2) for i in range(n)])
  pr = np.asarray(metrics.participation_ratio(metrics.grouped_code(jnp.asarray(h), owner, n)))
  mem = constructions.memorization_weights(ds.x, sigma, 1e-4, width=p)
  return bool(cos.max(1).min() >= 0.99 and own.min() >= 0.9 and pr.max() <= 1.1
              and float(metrics.gram_distance(res.params, mem.params)) < 0.05)


def test_memorization_from_random_init():
  """p = 1.5 n on pairwise-obtuse data: training from random init finds W_mem (Cor. 3.2).

  What training finds is asserted over seeds as a count, not per seed (the basin one seed reaches can
  change with a CPU's rounding). Measured: 4 of 4 seeds pass every criterion of `_memorizes` (best
  cosine >= 0.994, energy on own units >= 0.945). Asserted: >= 3 of 4. With p = n exactly, Adam from
  random init did not memorize in 4 of 4 seeds (README, Known discrepancies 2), hence p = 1.5 n."""
  assert sum(_memorizes(seed) for seed in range(4)) >= 3


def _generalizes(seed: int) -> tuple[bool, float]:
  ds = data.gaussian_mixture(jax.random.key(seed), 3, 200, 16, 1, 4.0, 0.5)[0]
  res = train.train_dae(jax.random.key(100 + seed), ds.x, 6, 0.2, 1e-4, 3000, 1e-2)
  alloc = metrics.learned_allocation(res.params, ds.x, ds.labels)
  con = constructions.construction_for_allocation(ds.x, ds.labels, alloc, 0.2, 1e-4)
  err = float(metrics.gram_distance(res.params, con.params))
  gates = np.asarray(model.gates(res.params, ds.x))
  own = np.asarray(ds.labels)[:, None] == alloc[None, :]
  units = np.bincount(alloc[alloc >= 0], minlength=3)[np.asarray(ds.labels)]
  active = np.asarray(metrics.active_count(model.representation(res.params, ds.x)))
  balanced = np.mean(np.all(gates == own, 1)) >= 0.99 and np.array_equal(active[units >= 2],
                                                                          units[units >= 2])
  return err < 0.05 and bool(balanced), err


def test_generalization_from_random_init():
  """p = 6 << n = 600 on a 3-mode mixture (Gram rank 2 per mode): W W^T is close to the Eq. 8
  construction built for the allocation training chose, and the code is balanced: every clean training
  point switches on exactly the units of its own cluster, several of them.

  Asserted over 5 seeds as a count (>= 4 of 5), since one seed's basin can change with a CPU's
  rounding. Measured W W^T error: 0.13%-3.8% over seeds 0-4, all 5 balanced (0.13% and 0.30% where the
  allocation is equal, [2, 2, 2]; up to 3.8% where one cluster got 3 units for a rank-2 Gram)."""
  outcomes = [_generalizes(seed) for seed in range(5)]
  assert sum(ok for ok, _ in outcomes) >= 4, outcomes


def test_training_from_the_construction_stays_there():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 200, 16, 1, 4.0, 0.5)[0]
  con = constructions.generalization_weights(ds.x, ds.labels, 2, 0.2, 1e-4)
  res = train.train_dae(jax.random.key(1), ds.x, 0, 0.2, 1e-4, 500, 1e-3, params=con.params)
  assert float(metrics.gram_distance(res.params, con.params)) < 0.01


def test_minibatch_and_untied_paths_run_and_learn():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 100, 16, 1, 4.0, 0.5)[0]
  res = train.train_dae(jax.random.key(2), ds.x, 6, 0.2, 1e-4, 1500, 1e-2, batch_size=64,
                        tied=False)
  assert res.params.w2 is not None and res.diverged_at == -1
  first, last = float(jnp.mean(res.losses[:50])), float(jnp.mean(res.losses[-50:]))
  assert last < 0.3 * first, (first, last)


def test_divergence_is_reported_with_the_work_kept():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  with pytest.raises(train.TrainingDiverged, match=r"diverged at step \d+ of 200") as err:
    train.train_dae(jax.random.key(0), ds.x, 4, 0.2, 0.0, 200, 10.0, optimizer="sgd", cosine=False)
  result = err.value.result
  assert result.diverged_at >= 1
  assert np.all(np.isfinite(np.asarray(result.params.w1)))
  assert np.all(np.isfinite(np.asarray(result.losses[: result.diverged_at])))


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e6), ("sgd", 1.0)])
def test_a_blown_up_loss_without_nan_is_reported_as_divergence(optimizer, lr):
  """A loss that grows by orders of magnitude but stays finite diverges: before, only NaN/inf did, and
  Adam at lr 1e6 (steps bounded by the learning rate, so nothing overflows) ended at a loss ~1e27
  reported as a finished run. Measured here: the loss jumps from 15 to 1.1e27 (Adam, step 1) and to
  1.8e17 (SGD, step 2), finite; flagged at the first step above DIVERGENCE_FACTOR x the first loss."""
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  with pytest.raises(train.TrainingDiverged, match=r"the loss grew from .* more than "
                     r"DIVERGENCE_FACTOR = 10000 times\) although the data") as err:
    train.train_dae(jax.random.key(0), ds.x, 4, 0.2, 0.0, 200, lr, optimizer=optimizer, cosine=False)
  res = err.value.result
  losses = np.asarray(res.losses)
  assert res.diverged_at >= 1
  assert np.all(np.isfinite(losses)), "the blow-up is finite: a NaN check alone misses it"
  assert losses[res.diverged_at] >= 1e6 * losses[0]
  assert np.all(losses[: res.diverged_at] <= train.DIVERGENCE_FACTOR * losses[0])
  assert np.all(np.isfinite(np.asarray(res.params.w1)))


def test_nan_in_the_data_is_bad_data_not_a_learning_rate_problem():
  """NaN/inf in x (or in given weights) is refused before training, naming the argument; before, it
  ran and was reported as a divergence with the advice to lower the learning rate."""
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  x = np.array(ds.x)
  x[3, 2] = np.nan
  x[5, 0] = np.inf
  with pytest.raises(ValueError,
                     match=r"x has 2 non-finite entries \(NaN or inf\), the first at row 3, column 2"):
    train.train_dae(jax.random.key(0), x, 4, 0.2, 1e-4, 10)
  p = model.init_params(jax.random.key(0), 8, 4)
  with pytest.raises(ValueError, match=r"params.w1 holds 1 non-finite entries"):
    train.train_dae(jax.random.key(0), ds.x, 0, 0.2, 1e-4, 10, params=p._replace(
        w1=p.w1.at[0, 0].set(jnp.nan)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma=0.0), "sigma must be finite and > 0"),
    (dict(lam=-1.0), "lam must be finite and >= 0"),
    (dict(batch_size=500), r"batch_size must lie in 1 … n=60"),
    (dict(optimizer="adamw"), "optimizer must be one of"),
    (dict(steps=0), "steps must be an integer >= 1"),
    # before: width 2.5 gave a raw TypeError, steps 2.5 ran 3 steps silently, float16 data trained
    # silently in float16
    (dict(width=2.5), r"width must be an integer >= 1"),
    (dict(steps=2.5), r"steps must be an integer >= 1"),
    (dict(x=np.ones((20, 8), np.float16)), r"x has dtype float16"),
])
def test_bad_arguments_are_named(kwargs, match):
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  args = dict(key=jax.random.key(0), x=ds.x, width=4, sigma=0.2, lam=1e-4, steps=10)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    train.train_dae(**args)


def test_relu_net_beats_the_linear_block_when_width_is_below_the_gram_rank():
  """A finding (README, Known discrepancies 5): with covariance rank 2, each mode's uncentred Gram
  has rank 3, and a block of p_k = 2 units is no longer the best use of the units. The Eq. 8 block is a
  stable stationary point (training started near it returns to it), but from random init training
  often finds a lower basin where units switch off on part of their own cluster.

  Which basin one seed reaches is chaotic: it changed with the BLAS kernel (OpenBLAS Haswell vs
  SkylakeX) for 4 of 6 seeds. So the claim is asserted over 6 seeds as counts, never as one seed's
  allocation. Measured: the trained net beat the construction for its own learned allocation by
  > 20 standard errors in 3 of 6 seeds (Haswell kernels) and 4 of 6 (SkylakeX), always with the gate
  pattern off the block's on > 10% of points; every seed ended within 0.06% of its construction or
  below it. Asserted: >= 1 of 6 beats it (the finding exists; at the measured rate >= 0.5 the chance of
  0 of 6 is <= 1.6%), and >= 5 of 6 end at most 1% above it (training reaches the stationary point
  of the allocation it chose or a better one)."""
  beats, reaches = 0, 0
  for seed in range(6):
    ds = data.gaussian_mixture(jax.random.key(seed), 3, 200, 16, 2, 4.0, 0.5)[0]
    res = train.train_dae(jax.random.key(100 + seed), ds.x, 6, 0.2, 1e-4, 3000, 1e-2)
    alloc = metrics.learned_allocation(res.params, ds.x, ds.labels)
    con = constructions.construction_for_allocation(ds.x, ds.labels, alloc, 0.2, 1e-4)
    l_tr, se_tr = loss.dae_loss_mc(jax.random.key(5), res.params, ds.x, 0.2, 1e-4, 20_000)
    l_co, se_co = loss.dae_loss_mc(jax.random.key(5), con.params, ds.x, 0.2, 1e-4, 20_000)
    gates = np.asarray(model.gates(res.params, ds.x))
    own = np.asarray(ds.labels)[:, None] == alloc[None, :]
    block_pattern = np.mean(np.all(gates == own, 1))
    # The mechanism comes with the gain: units off on part of their own cluster.
    beats += int(float(l_tr) < float(l_co) - 20 * float(se_tr + se_co) and block_pattern < 0.9)
    reaches += int(float(l_tr) <= 1.01 * float(l_co))
  assert beats >= 1, beats
  assert reaches >= 5, reaches


def test_training_runs_in_float64(x64):
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 4.0, 0.5)[0]
  res = train.train_dae(jax.random.key(0), ds.x, 6, 0.2, 1e-4, 20, 1e-2)
  assert res.params.w1.dtype == jnp.float64 and res.losses.dtype == jnp.float64


def test_relu_and_gated_linear_training_coincide_when_no_gate_flips(x64):
  """At a large margin (t_min = 5.4) no gate flips along the run, so training the ReLU net and
  training its gated-linear surrogate with the same key follow the same trajectory (identity at
  float64 round-off); at a small margin they part."""
  ds = data.gaussian_mixture(jax.random.key(0), 3, 100, 12, 1, 4.0, 0.5)[0]
  for sigma, same in ((0.2, True), (1.5, False)):
    con = constructions.generalization_weights(ds.x, ds.labels, 2, sigma, 1e-4)
    gate = loss.block_masks(ds.labels, con.unit_block)
    kw = dict(params=con.params, batch_size=50)
    relu = train.train_dae(jax.random.key(1), ds.x, 0, sigma, 1e-4, 300, 1e-3, **kw)
    lin = train.train_dae(jax.random.key(1), ds.x, 0, sigma, 1e-4, 300, 1e-3, gate=gate, **kw)
    diff = float(jnp.max(jnp.abs(relu.params.w1 - lin.params.w1)))
    assert (diff < 1e-12) == same, (sigma, diff)


def test_digits_are_stored_in_columns_exactly_when_pairwise_obtuse():
  """The reference's memorizing recipe (p = 100, RMSprop lr 1e-3, 50k full-batch steps, sigma = 0.2;
  its weight decay 1e-2 on a per-pixel loss is lambda = d * 1e-2 / 4 = 0.16 in Eq. 6) on five digits.
  Raw digits in [-1, 1] are pairwise acute (beta = 0.96) and are not stored in columns (measured best
  cosines 0.78-0.96). Five centred digits picked pairwise obtuse (beta = -0.01) are each stored in a
  column with cosine 1.000, as Cor. 3.2 predicts (README, Known discrepancies 12)."""
  from dae_theory import images

  split = images.digits(seed=0)
  centred = split.train - split.train.mean(0)
  picked = data.obtuse_subset(centred, 5)
  assert data.separability(centred[picked], np.arange(5)).beta < 0
  for x, stored in ((split.train[:5], False), (centred[picked], True)):
    res = train.train_dae(jax.random.key(0), jnp.asarray(x), 100, 0.2, 0.16, 50_000, 1e-3,
                          optimizer="rmsprop", cosine=False)
    best = np.asarray(metrics.cosine_matrix(jnp.asarray(x), res.params.w1.T)).max(1)
    assert (best.min() >= 0.99) == stored, (stored, best)


def test_train_dae_casts_integer_data_to_float_explicitly():
  x = np.random.default_rng(0).integers(-3, 4, size=(20, 8))
  res = train.train_dae(jax.random.key(0), x, 4, 0.2, 1e-4, 20, 1e-2)
  ref = train.train_dae(jax.random.key(0), x.astype(np.float32), 4, 0.2, 1e-4, 20, 1e-2)
  assert res.params.w1.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(res.params.w1), np.asarray(ref.params.w1))


def test_sgd_momentum_is_heavy_ball_with_momentum_0_9():
  """``sgd_momentum`` (the map's third optimizer): trace_t = g_t + 0.9·trace_{t−1}, update = −lr·trace,
  so a constant gradient g gives −lr·g, then −1.9·lr·g, then −2.71·lr·g (float64 identities, 1e-15)."""
  with jax.enable_x64(True):
    opt = train.make_optimizer("sgd_momentum", 0.1)
    p = {"w": jnp.zeros(3, jnp.float64)}
    g = {"w": jnp.array([1.0, -2.0, 0.5], jnp.float64)}
    state = opt.init(p)
    for factor in (1.0, 1.9, 2.71):
      upd, state = opt.update(g, state, p)
      np.testing.assert_allclose(upd["w"], -0.1 * factor * g["w"], rtol=1e-15, atol=0)
    assert train.MOMENTUM == 0.9 and "sgd_momentum" in train.OPTIMIZERS
