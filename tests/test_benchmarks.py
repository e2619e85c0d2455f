"""The benchmarks' contenders compute what they claim: the wide formulation of the chunk step
(benchmarks/engine_ab.py) trains every config as the engine does, and the stacked PyTorch peer
(benchmarks/sweep.py) is each model's own Eq. 6 loss and gradient. Timings are never asserted."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import engine_ab
from benchmarks import sweep as bench_sweep
from dae_theory import loss as loss_lib
from dae_theory import model, sweep


def _data(n=48, d=6):
  return np.asarray(jax.random.normal(jax.random.key(3), (n, d)), np.float32)


def test_wide_formulation_equals_the_engine_per_config():
  """Two widths × two sample sizes × two seeds × two σ × two learning rates (K = 2 configs of a width
  per (seed, n, σ) row): every config's weights and loss windows equal the engine's up to float32
  round-off. Tolerance 1e-5 of max|W| over 30 steps: the one the engine's own sweep-vs-single-run test
  uses for float32 (the same runs, the products summed in another order)."""
  x = _data()
  configs = sweep.Grid(seeds=(0, 1), widths=(3, 5), sample_sizes=(16, 48), sigmas=(0.1, 0.4),
                       learning_rates=(1e-2, 3e-3)).configs()
  call, unpack = engine_ab.train_chunk_wide(x, configs, steps=30, batch=8)
  w_wide, l_wide = unpack(call())
  res = sweep.run_sweep(jax.random.key(0), x, configs, steps=30, batch_size=8,
                        chunk_size=len(configs), log_every=10, log=None)
  scale = np.max(np.abs(res.w1), axis=(1, 2))
  assert np.all(np.max(np.abs(w_wide - res.w1), axis=(1, 2)) <= 1e-5 * scale)
  assert np.allclose(l_wide, res.losses, rtol=1e-5, atol=0)
  assert np.all(w_wide[configs.width == 3][:, :, 3:] == 0)  # padding of the narrower width
  assert not np.allclose(w_wide[0], w_wide[1])  # distinct configs train distinct weights


def test_wide_layout_refuses_what_it_cannot_lay_out():
  configs = sweep.Grid(seeds=(0, 1), widths=(3, 5), sample_sizes=(16,)).configs()
  ragged = configs.take(np.array([0, 1, 2]))  # width 3 in both rows, width 5 only in one
  with pytest.raises(ValueError, match="same number of configs in every"):
    engine_ab.wide_layout(ragged, 1)
  with pytest.raises(ValueError, match="do not split over 3 devices"):
    engine_ab.wide_layout(configs, 3)
  lay = engine_ab.wide_layout(configs, 2)
  assert lay.widths == (3, 5) and [t.shape for t in lay.table] == [(2, 1), (2, 1)]
  assert sorted(np.concatenate([t.ravel() for t in lay.table]).tolist()) == list(range(len(configs)))


def test_the_stacked_torch_peer_is_each_models_eq6_loss_and_gradient():
  """The stacked loss of three models of one width (one batched product) and its autograd gradient
  equal, model by model, the lab's Eq. 6 loss and written-out gradient (dae_theory.loss, JAX,
  float64) on the same minibatch and noise; rtol 1e-10 (float64 round-off of a few hundred terms)."""
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  c, b, d, p = 3, 7, 5, 4
  xb, eps = rng.normal(size=(c, b, d)), rng.normal(size=(c, b, d))
  w = rng.normal(size=(c, d, p)) / np.sqrt(d)
  sigma, lam = np.array([0.1, 0.3, 0.5]), np.array([1e-3, 1e-2, 0.0])
  wt = torch.tensor(w, requires_grad=True)
  total = bench_sweep._stacked_loss(torch.tensor(xb), torch.tensor(eps), wt, torch.tensor(sigma),
                                    torch.tensor(lam))
  total.backward()
  with jax.enable_x64(True):
    vals = []
    for i in range(c):
      val, grad = loss_lib.dae_loss_and_grad(model.DAEParams(jnp.asarray(w[i])), jnp.asarray(xb[i]),
                                             sigma[i], lam[i], jnp.asarray(eps[i]))
      vals.append(float(val))
      np.testing.assert_allclose(wt.grad[i].numpy(), np.asarray(grad.w1), rtol=1e-10, atol=0)
  np.testing.assert_allclose(float(total.detach()), sum(vals), rtol=1e-10)
