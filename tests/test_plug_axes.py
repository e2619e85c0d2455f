"""Plugs whose weights grow with the width along several axes (a conv net's kernels): the engine stores
each leaf zero-padded at the end of every growing axis, ``config_params`` cuts it back, and the stored
chunks are read back on resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import plug
from dae_theory import sweep
from dae_theory.sweep import engine

D = 5


def _init(key, d, width, p_max, dtype):
  del width  # the engine groups by width (bucket=True): p_max is the config's width
  ka, kb, kc = jax.random.split(key, 3)
  return {"a": jax.random.normal(ka, (d, p_max), dtype) / np.sqrt(d),
          "b": jax.random.normal(kb, (p_max, p_max), dtype) / np.sqrt(p_max),
          "c": jax.random.normal(kc, (p_max, d), dtype) / np.sqrt(p_max)}


def _apply(params, y):
  return jax.nn.relu(jax.nn.relu(y @ params["a"]) @ params["b"]) @ params["c"]


def _per_sample(params, x, noise, sigma):
  return jnp.sum((_apply(params, x + sigma * noise) - x) ** 2, -1)


DEEP = plug.from_loss("three-layer", _init, _per_sample,
                      represent=lambda p, y: jax.nn.relu(y @ p["a"]),
                      denoise=lambda p, y, sigma=None: _apply(p, y))


def test_unit_axes_finds_every_growing_axis():
  assert plug.unit_axes(DEEP, D) == [(1,), (0, 1), (0,)]
  assert plug.unit_leaves(DEEP, D) == [True, False, False]
  assert plug.unit_axes(plug.dae(False), D) == [(1,), (1,)]
  assert plug.unit_leaves(plug.dae(False), D) == [True, True]


def test_a_leaf_that_changes_rank_with_the_width_is_refused():
  bad = DEEP._replace(name="bad", init=lambda k, d, w, p, dt: {"a": jnp.zeros((d,) * (p - 1), dt)})
  with pytest.raises(ValueError, match="number"):
    plug.unit_axes(bad, D)


def test_sweep_of_a_plug_growing_in_two_axes_equals_single_runs_and_resumes(tmp_path):
  """Two widths in one sweep: each config's stored weights, cut back by config_params, equal the
  single-config trainer's to float64 rounding (rtol 1e-10: the same arithmetic, vmapped), the padding is
  exactly zero and leaves the function unchanged, and a second call reads the chunks back bit for bit.
  bucket=False is refused (the kernels grow in a non-last axis)."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(1), (12, D), jnp.float64)
    grid = sweep.Grid(seeds=(0, 1), widths=(2, 3), sample_sizes=(12,), sigmas=(0.3,), lams=(1e-3,),
                      learning_rates=(1e-2,))
    cfg = grid.configs()
    kw = dict(steps=20, batch_size=4, plug=DEEP, log_every=10, chunk_size=2, log=None)
    res = sweep.run_sweep(jax.random.key(0), x, cfg, workdir=str(tmp_path), **kw)
    assert res.params["b"].shape == (len(cfg), 3, 3)
    for i in range(len(cfg)):
      w = int(cfg.width[i])
      mine = sweep.config_params(res, i, D, DEEP)
      ref, losses, bad = sweep.train_config(
          jax.random.key(0), x, int(cfg.seed[i]), w, int(cfg.n[i]), float(cfg.sigma[i]),
          float(cfg.lam[i]), float(cfg.learning_rate[i]), steps=20, batch_size=4, plug=DEEP,
          log_every=10)
      for k in ("a", "b", "c"):
        assert mine[k].shape == ref[k].shape
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-10, atol=1e-12)
      np.testing.assert_allclose(res.losses[i], losses, rtol=1e-10)
      assert bad == -1 and res.status[i] == -1
      full = {k: res.params[k][i] for k in ("a", "b", "c")}
      assert np.all(full["b"][w:, :] == 0) and np.all(full["b"][:, w:] == 0)
      np.testing.assert_allclose(_apply(full, x), _apply(mine, x), rtol=1e-12, atol=1e-12)
    again = sweep.run_sweep(jax.random.key(0), x, cfg, workdir=str(tmp_path), **kw)
    for k in ("a", "b", "c"):
      np.testing.assert_array_equal(again.params[k], res.params[k])
    with pytest.raises(ValueError, match="other axes"):
      sweep.run_sweep(jax.random.key(0), x, cfg, bucket=False,
                      **{**kw, "plug": DEEP._replace(zero_units_stay_zero=True)})


def test_a_leaf_growing_by_a_multiple_of_the_width_is_not_per_unit():
  """A deeper level with 2× the base channels grows along its last axis, but by 2 per unit: it is not a
  per-unit leaf, so the engine never reads its real channels beyond the width as padding."""
  twice = DEEP._replace(name="twice", init=lambda k, d, w, p, dt: {"a": jnp.zeros((d, 2 * p), dt)})
  assert plug.unit_axes(twice, D) == [(1,)]
  assert plug.unit_leaves(twice, D) == [False]
