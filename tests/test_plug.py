"""The model plug: the lab's plugs keep their contracts, and a model defined outside the lab trains
through the single-config trainer and the sweep engine and is scored by the detection API."""

import os
import subprocess
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import data, detection, diffusion, loss, model, plug, sweep, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _x(dtype=np.float64):
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 6, 1, 3.0, 0.4)[0]
  return np.asarray(ds.x, dtype)


# A model the lab does not ship: a one-layer tanh code with a separate linear decoder.
class Tanh(NamedTuple):
  enc: jax.Array
  dec: jax.Array


def _tanh_init(key, d, width, p_max, dtype):
  return Tanh(model.unit_columns(jax.random.fold_in(key, 0), d, p_max, 0.5, dtype, width),
              model.unit_columns(jax.random.fold_in(key, 1), d, p_max, 0.5, dtype, width))


TANH = plug.from_loss(
    "tanh-test", _tanh_init,
    per_sample_loss=lambda p, x, eps, s: jnp.sum((jnp.tanh((x + s * eps) @ p.enc) @ p.dec.T - x) ** 2,
                                                 -1),
    represent=lambda p, y: jnp.tanh(y @ p.enc),
    denoise=lambda p, y, s=None: jnp.tanh(y @ p.enc) @ p.dec.T)


def test_a_model_defined_outside_the_lab_trains_sweeps_and_is_scored():
  """Single trainer and sweep engine give the same weights per config (float64, 1e-12 of each leaf's
  max: the bound of the lab's own plugs), training lowers the loss, and the detection API scores the
  trained representation (finite, one score per sample)."""
  with jax.enable_x64(True):
    x = _x()
    grid = sweep.Grid(seeds=(0, 1), widths=(3, 5), sample_sizes=(20, 60), learning_rates=(1e-2,))
    res = sweep.run_sweep(jax.random.key(4), x, grid.configs(), steps=80, batch_size=8, plug=TANH,
                          log_every=10, log=None)
    assert res.params.enc.shape == (8, 6, 5)
    for i in range(len(res.configs)):
      c = res.configs
      single = train.fit(jax.random.fold_in(jax.random.key(4), int(c.seed[i])), TANH, x,
                         int(c.width[i]), plug.Hyper(float(c.sigma[i]), float(c.lam[i])), 80,
                         float(c.learning_rate[i]), n=int(c.n[i]), batch_size=8, log_every=10)
      w = int(c.width[i])
      for got, ref in zip(res.params, single.params):
        np.testing.assert_allclose(got[i][:, :w], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
      np.testing.assert_allclose(res.losses[i], single.losses, rtol=1e-12)
      assert single.losses[-1] < single.losses[0]
    rep, den = TANH.bind(single.params)
    scores = detection.code_scores(jax.random.key(0), rep, x[:7], 0.1)
    assert set(scores) == set(detection.SCORES)
    assert all(s.shape == (7,) and np.all(np.isfinite(s)) for s in scores.values())
    err = detection.denoising_error(jax.random.key(1), den, x[:7], 0.1)
    assert err.shape == (7,) and np.all(err <= 0)  # the score is minus the error


@pytest.mark.parametrize("make", [lambda: plug.dae(True), lambda: plug.dae(False),
                                  lambda: diffusion.plug(4), lambda: TANH])
def test_init_draws_unit_j_from_its_own_key(make):
  """Common random numbers: the first units do not depend on the padded width, units beyond the
  width are exactly zero, and the per-unit leaves are found by shape."""
  p = make()
  key = jax.random.key(3)
  small = p.init(key, 6, 3, 3, jnp.float32)
  padded = p.init(key, 6, 3, 7, jnp.float32)
  units = plug.unit_leaves(p, 6)
  assert any(units)
  for a, b, u in zip(jax.tree.leaves(small), jax.tree.leaves(padded), units):
    if u:
      np.testing.assert_array_equal(np.asarray(b)[..., :3], a)
      assert np.all(np.asarray(b)[..., 3:] == 0)
    else:
      np.testing.assert_array_equal(a, b)


def test_dae_plug_loss_and_gradient_match_autodiff_of_eq6_with_weights():
  """The written-out gradient with minibatch weights equals autodiff of the weighted Eq. 6 (tied and
  untied, float64, to 1e-12 relative)."""
  with jax.enable_x64(True):
    x = jnp.asarray(_x()[:9])
    eps = jax.random.normal(jax.random.key(1), x.shape, x.dtype)
    w = jax.random.uniform(jax.random.key(2), (9,), x.dtype)
    w = w / w.sum()
    hyper = plug.Hyper(jnp.asarray(0.3), jnp.asarray(1e-2))
    for tied in (True, False):
      p = plug.dae(tied).init(jax.random.key(0), 6, 4, 4, x.dtype)

      def ref(params):
        r = model.apply(params, x + 0.3 * eps) - x
        return jnp.sum(w * jnp.sum(r**2, -1)) + loss.weight_penalty(params, 1e-2)

      val, g = plug.dae(tied).loss_and_grad(p, x, w, eps, hyper)
      rval, rg = jax.value_and_grad(ref)(p)
      np.testing.assert_allclose(val, rval, rtol=1e-12)
      for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(rg)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_zero_units_get_exactly_zero_gradient_where_the_plug_says_so():
  """The claim that lets the engine pad width groups, checked on the two plugs that make it."""
  with jax.enable_x64(True):
    x = jnp.asarray(_x()[:9])
    w = jnp.full((9,), 1 / 9)
    hyper = plug.Hyper(jnp.asarray(0.3), jnp.asarray(1e-2))
    for p in (plug.dae(True), plug.dae(False), diffusion.plug(4)):
      assert p.zero_units_stay_zero
      params = p.init(jax.random.key(0), 6, 2, 5, x.dtype)
      noise = p.noise(jax.random.key(1), 9, 6, x.dtype)
      _, g = p.loss_and_grad(params, x, w, noise, hyper)
      for leaf, unit in zip(jax.tree.leaves(g), plug.unit_leaves(p, 6)):
        if unit:
          assert np.all(np.asarray(leaf)[..., 2:] == 0), p.name


def test_the_example_runs():
  out = subprocess.run([sys.executable, "-m", "examples.user_model"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert "single run: final loss" in out.stdout and "std(h)" in out.stdout


def test_a_plug_is_known_by_what_it_computes_not_by_its_name(tmp_path):
  """Two user plugs with the same name but different losses get different signatures, so a sweep
  workdir of one is refused for the other instead of being resumed from the wrong model's chunks;
  the lab's factories give one object per setting."""
  assert plug.dae() is plug.dae(True, None) and plug.gated() is plug.gated(True)
  other = plug.from_loss("tanh-test", _tanh_init,
                         lambda p, x, eps, s: 2.0 * jnp.sum((jnp.tanh(x @ p.enc) @ p.dec.T - x) ** 2, -1),
                         TANH.represent, TANH.denoise)
  assert plug.signature(TANH, 6) != plug.signature(other, 6)
  assert plug.signature(TANH, 6) == plug.signature(TANH, 6)
  x = _x(np.float32)
  kw = dict(steps=10, batch_size=4, log=None, workdir=str(tmp_path / "w"))
  grid = sweep.Grid(widths=(3,), sample_sizes=(20,))
  sweep.run_sweep(jax.random.key(0), x, grid.configs(), plug=TANH, **kw)
  with pytest.raises(ValueError, match="holds a different sweep"):
    sweep.run_sweep(jax.random.key(0), x, grid.configs(), plug=other, **kw)


def test_minibatch_rule():
  """Indices in 0 … n−1 with weights 1/B (with replacement), or every row with weight 1[i < n]/n;
  either way the weights sum to one. Step keys differ from step to step and between the two uses."""
  idx, w = train.minibatch(jax.random.key(0), 7, 20, 500)
  assert idx.shape == (500,) and int(idx.min()) == 0 and int(idx.max()) == 6
  np.testing.assert_allclose(float(w.sum()), 1.0, rtol=1e-6)
  assert len(np.unique(np.asarray(idx))) == 7  # 500 draws of 7 rows: every row drawn
  idx, w = train.minibatch(None, 7, 20, None)
  np.testing.assert_array_equal(idx, np.arange(20))
  np.testing.assert_allclose(w, np.r_[np.full(7, 1 / 7), np.zeros(13)], rtol=1e-6)
  k = jax.random.key(3)
  keys = [jax.random.key_data(a) for t in range(3) for a in train.step_keys(k, t)]
  assert len({tuple(np.asarray(a).tolist()) for a in keys}) == 6
  assert train.batch_or_full(64, 40) is None and train.batch_or_full(16, 40) == 16


def test_analysis_refuses_a_sweep_of_another_model_by_name():
  from dae_theory import analysis

  x = _x(np.float32)
  res = sweep.run_sweep(jax.random.key(0), x, sweep.Grid(widths=(2,), sample_sizes=(20,)).configs(),
                        steps=10, batch_size=4, plug=TANH, log=None)
  with pytest.raises(ValueError, match="tied two-layer DAE .* got params Tanh"):
    analysis.evaluate(jax.random.key(0), res, x, x)
