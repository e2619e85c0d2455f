"""The sweep engine: per-config equality with single runs, NaN isolation, no recompilation, sharding
over 4 host devices, kill-and-resume, bad arguments."""

import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import kill_and_resume

from dae_theory import data, diffusion, model, plug, sweep, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(dtype=np.float32):
  ds = data.gaussian_mixture(jax.random.key(0), 3, 40, 8, 1, 3.0, 0.4)[0]
  return np.asarray(ds.x, dtype)[np.random.default_rng(0).permutation(120)]


def _check_against_single_runs(x, res, steps, batch, rtol, model=None, cosine=True):
  """Every leaf of every config's weights equals the single-config trainer's (with the config's own
  optimizer when it has one), to ``rtol`` of that leaf's largest entry; padded units are exactly
  zero; the losses and status agree."""
  model = plug.dae() if model is None else model
  cfg = res.configs
  units = plug.unit_leaves(model, x.shape[1])
  for i in range(len(cfg)):
    opt = "adam" if cfg.optimizer is None else str(cfg.optimizer[i])
    p, losses, bad = sweep.train_config(
        jax.random.key(0), x, int(cfg.seed[i]), int(cfg.width[i]), int(cfg.n[i]),
        float(cfg.sigma[i]), float(cfg.lam[i]), float(cfg.learning_rate[i]), steps=steps,
        batch_size=batch, plug=model, log_every=10, optimizer=opt, cosine=cosine)
    w = int(cfg.width[i])
    assert bad == res.status[i]
    for got, ref, unit in zip(jax.tree.leaves(res.params), jax.tree.leaves(p), units):
      got, ref = np.asarray(got)[i], np.asarray(ref)
      scale = max(np.abs(ref).max(), np.finfo(ref.dtype).tiny)
      # Round-off scales with the weights, not with each (possibly near-zero) entry: compare
      # relative to the leaf's max (a per-entry rtol would fail on entries of 1e-4 next to 0.4).
      np.testing.assert_allclose(got[..., :w] if unit else got, ref, rtol=0, atol=rtol * scale)
      if unit:
        assert np.all(got[..., w:] == 0), "padded units must stay exactly zero"
    np.testing.assert_allclose(res.losses[i], np.asarray(losses), rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype,bucket", [("float32", False), ("float64", False), ("float64", True)])
def test_sweep_equals_single_config_runs(dtype, bucket):
  """Every config of a vmapped, chunked sweep, padded (bucket=False) or in width groups sharing one
  program (bucket=True), equals the same config trained alone by the single-config trainer
  (``train.fit_loop``: no vmap, no groups, no padding, its own noise and minibatch draws). Both share
  ``train.train_step``; test_the_shared_training_step_equals_an_independent_loop checks that step.
  Measured max |dW|/max|W| before the engine split, both layouts: 2.7e-16 (float64), 1.4e-7
  (float32); asserted 1e-12 and 1e-5, the float32 bound leaving room for Adam amplifying round-off on
  other machines."""
  with jax.enable_x64(dtype == "float64"):
    x = _data(np.dtype(dtype))
    grid = sweep.Grid(seeds=(0, 3), widths=(2, 5), sample_sizes=(10, 120), sigmas=(0.2, 0.5),
                      learning_rates=(1e-2,))
    # bucket=True: one chunk holding both widths; bucket=False: two chunks, each padded to width 5.
    res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=100, batch_size=16,
                          chunk_size=16 if bucket else 8, bucket=bucket, log=None)
    _check_against_single_runs(x, res, 100, 16, 1e-12 if dtype == "float64" else 1e-5)


def _adam_loop(loss, params, k_data, x, n, batch, steps, lr, noise):
  """An independent reference: a Python loop of optax Adam (cosine decay) on jax.grad of ``loss``,
  drawing minibatch and noise by the documented key scheme (step t: split(fold_in(k_data, t)))."""
  opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
  state = opt.init(params)
  for t in range(steps):
    k_idx, k_eps = jax.random.split(jax.random.fold_in(k_data, t))
    xb = x[jax.random.randint(k_idx, (batch,), 0, n)]
    grads = jax.grad(loss)(params, xb, noise(k_eps))
    updates, state = opt.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params


def test_the_shared_training_step_equals_an_independent_loop():
  """What the single-config trainer and the engine share (train_step, minibatch, the key scheme, the
  written-out DAE gradient, the diffusion plug's noise) against a loop written from the documented
  rules alone: raw jax.random draws, jax.grad of Eq. 6 (or of the diffusion loss), optax Adam.
  Float64; the two differ only by autodiff against the written-out gradient, so 1e-9 of max|W| after
  40 steps catches any change of the rule (one minibatch row off moves the weights by O(1e-2))."""
  with jax.enable_x64(True):
    x = jnp.asarray(_data(np.float64))
    d, steps, batch, lr, sigma, lam = x.shape[1], 40, 16, 1e-2, 0.3, 1e-3
    grid = sweep.Grid(seeds=(2,), widths=(4,), sample_sizes=(30,), sigmas=(sigma,), lams=(lam,),
                      learning_rates=(lr,))
    key = jax.random.key(5)
    k_init, k_data = jax.random.split(jax.random.fold_in(key, 2))
    cols = lambda k, p: jnp.stack([jax.random.normal(jax.random.fold_in(k, j), (d,))
                                   for j in range(p)], 1) / np.sqrt(d)
    # the two-layer DAE, tied
    w0 = model.DAEParams(cols(jax.random.fold_in(k_init, 0), 4))
    eq6 = lambda p, xb, eps: (jnp.mean(jnp.sum((model.apply(p, xb + sigma * eps) - xb) ** 2, -1))
                              + 2 * lam * jnp.sum(p.w1**2))
    ref = _adam_loop(eq6, w0, k_data, x, 30, batch, steps, lr,
                     lambda k: jax.random.normal(k, (batch, d)))
    res = sweep.run_sweep(key, x, grid.configs(), steps=steps, batch_size=batch, log=None)
    np.testing.assert_allclose(res.w1[0], ref.w1, rtol=0, atol=1e-9 * np.abs(ref.w1).max())
    # the diffusion plug (σ log-uniform per sample, ε ~ N(0, I))
    hidden = 4
    p0 = diffusion.DiffusionParams(
        w=cols(jax.random.fold_in(k_init, 0), 4),
        a1=jax.random.normal(jax.random.fold_in(k_init, 1), (1, hidden)), b1=jnp.zeros(hidden),
        a2=jnp.zeros((hidden, 4)), b2=jnp.zeros(4), skip=jnp.zeros(()))

    def noise(k):
      k_s, k_e = jax.random.split(k)
      lo, hi = np.log(diffusion.SIGMA_MIN), np.log(diffusion.SIGMA_MAX)
      sig = jnp.exp(jax.random.uniform(k_s, (batch,), jnp.float64, lo, hi))
      return sig, jax.random.normal(k_e, (batch, d))

    def dloss(p, xb, nz):
      sig, eps = nz
      pred = diffusion.denoise(p, xb + sig[:, None] * eps, sig)
      return jnp.mean(jnp.sum((pred - xb) ** 2, -1)) + 2 * lam * jnp.sum(p.w**2)

    ref = _adam_loop(dloss, p0, k_data, x, 30, batch, steps, lr, noise)
    res = sweep.run_sweep(key, x, grid.configs(), steps=steps, batch_size=batch,
                          plug=diffusion.plug(hidden), log=None)
    for got, want in zip(jax.tree.leaves(res.params), jax.tree.leaves(ref)):
      np.testing.assert_allclose(np.asarray(got)[0], want, rtol=0,
                                 atol=1e-9 * max(np.abs(want).max(), 1e-300))


@pytest.mark.parametrize("bucket", [False, True])
def test_the_diffusion_plug_sweep_equals_its_single_config_runs(bucket):
  """The second model plug (the time-conditioned DAE, autodiff gradient, σ drawn per sample) through
  the same engine: every config equals its single run in float64 to 1e-12 of each leaf's max (the
  same bound as the DAE; padded units, bucket=False, stay exactly zero)."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    grid = sweep.Grid(seeds=(0, 3), widths=(2, 5), sample_sizes=(10, 120), lams=(0.0, 1e-3),
                      learning_rates=(1e-2,))
    model = diffusion.plug(hidden=4)
    res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=60, batch_size=16,
                          plug=model, chunk_size=16 if bucket else 8, bucket=bucket, log=None)
    assert res.params.a2.shape == (len(res.configs), 4, 5)
    _check_against_single_runs(x, res, 60, 16, 1e-12, model)


def test_full_batch_sweep_equals_its_single_config_runs():
  """batch_size=None (the full batch, rows beyond a config's n weighted 0) in the engine and in the
  single-config trainer: the same weights in float64 to 1e-12."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    grid = sweep.Grid(seeds=(1,), widths=(3, 4), sample_sizes=(10, 120), learning_rates=(1e-2,))
    res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=50, batch_size=None,
                          log=None)
    _check_against_single_runs(x, res, 50, None, 1e-12)


def test_seed_is_the_same_run_as_train_dae_with_the_folded_key():
  """One key scheme: config seed s of a sweep with key K is train_dae(fold_in(K, s), …) (same init,
  minibatches and noise), so the sweep and the single-config trainer train the same model."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    grid = sweep.Grid(seeds=(2,), widths=(4,), sample_sizes=(120,), sigmas=(0.3,), lams=(1e-3,),
                      learning_rates=(1e-2,))
    res = sweep.run_sweep(jax.random.key(7), x, grid.configs(), steps=40, batch_size=16,
                          log_every=1, log=None)
    ref = train.train_dae(jax.random.fold_in(jax.random.key(7), 2), x, 4, 0.3, 1e-3, 40, 1e-2,
                          batch_size=16)
    np.testing.assert_allclose(res.w1[0], ref.params.w1, rtol=0,
                               atol=1e-12 * np.abs(ref.params.w1).max())
    np.testing.assert_allclose(res.losses[0], ref.losses, rtol=1e-12)


def test_padding_is_refused_for_a_plug_that_does_not_keep_zero_units():
  model = plug.gated()  # zero_units_stay_zero=False
  with pytest.raises(ValueError, match="bucket=False pads width groups"):
    sweep.run_sweep(jax.random.key(0), _data(), sweep.Grid().configs(), steps=10, batch_size=4,
                    plug=model, bucket=False, log=None)


def test_diverging_config_is_isolated():
  x = _data()
  grid = sweep.Grid(seeds=(0,), widths=(4,), sample_sizes=(60,), sigmas=(0.3,),
                    learning_rates=(1e-2, 1e15))
  res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=100, batch_size=16, chunk_size=2, log=None)
  assert res.status[0] == -1 and res.status[1] >= 0
  assert np.all(np.isfinite(res.w1))  # the diverged config keeps its last finite weights
  _check_against_single_runs(x, res, 100, 16, 1e-5)


def test_a_finite_blow_up_is_flagged_and_its_neighbour_still_equals_its_single_run():
  """Adam at lr 1e6 blows the loss up by ~1e25 without a NaN (before: status -1, 'diverged: 0'); the
  config is flagged (status >= 0, weights finite) and the healthy config of the same chunk still
  equals its single run to 1e-12 of max|W| in float64 (so does the flagged one: same guard)."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    grid = sweep.Grid(seeds=(0,), widths=(4,), sample_sizes=(60,), sigmas=(0.3,),
                      learning_rates=(1e-2, 1e6))
    res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=100, batch_size=16, chunk_size=2, log=None)
    assert res.status[0] == -1 and res.status[1] >= 0
    assert np.all(np.isfinite(res.losses)) and np.all(np.isfinite(res.w1))
    assert res.losses[1].max() > 1e6 * res.losses[0, 0]
    _check_against_single_runs(x, res, 100, 16, 1e-12)


def test_estimate_is_the_size_of_the_result_arrays():
  """The estimate's bytes are exactly those of the SweepResult's arrays (weights, loss windows,
  status, configs), tied and untied, and a Grid is counted as its configs."""
  x = _data()
  grid = sweep.Grid(seeds=(0, 1), widths=(2, 5), sample_sizes=(10, 40), learning_rates=(1e-2,))
  for tied in (True, False):
    res = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=20, batch_size=4,
                          plug=plug.dae(tied), log_every=10,
                          log=None)
    est = sweep.estimate(grid.configs(), 8, 20, 4, tied, log_every=10)
    arrays = [res.w1, res.losses, res.status, *res.configs.arrays()] + ([] if tied else [res.w2])
    assert est.bytes == sum(a.nbytes for a in arrays)
    assert est == sweep.estimate(grid, 8, 20, 4, tied, log_every=10)
    assert est.configs == 8 and est.model_steps == 160
    assert est.flops == sum(sweep.useful_flops_per_step(int(w), 8, 4) * 20 for w in res.configs.width)
    assert est.scaled(3).bytes == 3 * est.bytes


def test_a_sweep_too_large_is_refused_before_anything_is_allocated(tmp_path):
  x = _data()
  configs = sweep.Grid(seeds=(0, 1), widths=(2, 5), sample_sizes=(10,)).configs()
  lines = []
  with pytest.raises(ValueError, match=r"the sweep is too large: 4 configs, 832 B of result "
                     r"arrays, .* exceed the limit of 100 B \(max_bytes\)"):
    sweep.run_sweep(jax.random.key(0), x, configs, steps=20, batch_size=4, workdir=str(tmp_path / "w"),
                    log=lines.append, max_bytes=100)
  assert not (tmp_path / "w").exists() and lines == []
  sweep.run_sweep(jax.random.key(0), x, configs, steps=20, batch_size=4, log=lines.append, max_bytes=2000)
  assert lines[0].startswith("sweep: 4 configs, 832 B of result arrays, 80 model-steps")
  assert 0 < sweep.default_max_bytes()


def test_phase_diagram_refuses_a_huge_grid_with_the_estimate_before_its_workdir(tmp_path):
  """--seeds 10000000 tried to allocate ~50 GB; now it stops at once with the estimate and the flags
  to change, and creates no workdir."""
  started = time.time()
  out = subprocess.run([sys.executable, "-m", "sims.phase_diagram", "--seeds=10000000",
                        "--workdir", str(tmp_path / "w")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode != 0
  assert "the sweep is too large: 1,120,000,000 configs" in out.stderr
  assert "lower --seeds (now 10000000)" in out.stderr
  assert not (tmp_path / "w").exists()
  assert time.time() - started < 60


def test_no_recompilation_on_a_second_call():
  x = _data()
  grid = sweep.Grid(seeds=(0, 1), widths=(3,), sample_sizes=(20, 40), learning_rates=(1e-2,))
  kw = dict(steps=30, batch_size=8, chunk_size=4, log=None)
  sweep.run_sweep(jax.random.key(0), x, grid.configs(), **kw)
  trainer = sweep.engine._chunk_trainer(jax.devices())
  before = trainer._cache_size()
  assert before >= 1
  grid2 = sweep.Grid(seeds=(5, 6), widths=(3,), sample_sizes=(30, 50), sigmas=(0.4,),
                     learning_rates=(3e-3,))  # same shapes, other values
  sweep.run_sweep(jax.random.key(0), x, grid2.configs(), **kw)
  assert trainer._cache_size() == before
  # Several widths in one chunk are one program: one new compilation, however many widths.
  grid3 = sweep.Grid(seeds=(0,), widths=(2, 3, 5, 7), sample_sizes=(20,), learning_rates=(1e-2,))
  sweep.run_sweep(jax.random.key(0), x, grid3.configs(), **kw)
  assert trainer._cache_size() == before + 1


def test_sharded_over_four_host_devices_equals_one_device(tmp_path):
  x = _data()
  np.save(tmp_path / "x.npy", x)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "sweep_worker.py"),
                        str(tmp_path / "four.npz"), str(tmp_path / "x.npy")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  four = np.load(tmp_path / "four.npz")
  assert int(four["devices"]) == 4
  grid = sweep.Grid(seeds=(0, 1), widths=(3, 6), sample_sizes=(8, 40), sigmas=(0.3,),
                    learning_rates=(1e-2,))
  one = sweep.run_sweep(jax.random.key(0), x, grid.configs(), steps=60, batch_size=8, chunk_size=8, log_every=10,
                        log=None)
  # Measured identical here, but bitwise equality across partitions is not guaranteed (on the phase
  # smoke grid two devices gave max|dW| = 1.6e-7 of max|W|). Per config, float32 round-off of another
  # reduction order (u = 6e-8 relative per step) over 60 smooth Adam steps stays far below 1e-5 of
  # max|W|, while a wrong shard (another config's weights) is off by O(1).
  diff = np.abs(four["w1"] - one.w1).max(axis=(1, 2))
  assert np.all(diff <= 1e-5 * np.abs(one.w1).max(axis=(1, 2))), diff
  np.testing.assert_array_equal(four["status"], one.status)


def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
  """A real subprocess is SIGKILLed after its first chunk is on disk; the same command then resumes
  and ends with results identical to an uninterrupted run."""
  args = ["--smoke", "--widths=2,4", "--sample_sizes=4,8,16,32", "--chunk_size=1", "--steps=300"]
  a, b, n_before, killed = kill_and_resume(tmp_path, "sims.phase_diagram", args, "chunks", 8)
  for k in ("w1", "status", "final_loss", "train_loss", "test_loss"):
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  # The progress log: every line whole JSON; the resumed run's lines (the last n_chunks) read the
  # chunks finished before the kill from disk and end with every config done.
  lines = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
  last = lines[-lines[-1]["chunks"]:]
  assert [r["chunk"] for r in last] == list(range(len(last)))
  assert sum(r["from_disk"] for r in last) == n_before
  assert last[-1]["configs_done"] == last[-1]["configs"]


def test_workdir_of_another_sweep_is_refused(tmp_path):
  x = _data()
  g1 = sweep.Grid(seeds=(0,), widths=(2,), sample_sizes=(10,))
  sweep.run_sweep(jax.random.key(0), x, g1.configs(), steps=10, batch_size=4, workdir=str(tmp_path), log=None)
  g2 = sweep.Grid(seeds=(1,), widths=(2,), sample_sizes=(10,))
  with pytest.raises(ValueError, match="holds a different sweep"):
    sweep.run_sweep(jax.random.key(0), x, g2.configs(), steps=10, batch_size=4, workdir=str(tmp_path), log=None)


@pytest.mark.parametrize("kwargs,match", [
    (dict(widths=()), "widths must not be empty"),
    (dict(widths=(0,)), "widths must be integers >= 1"),
    (dict(sigmas=(-0.1,)), "sigmas must be finite and > 0"),
    (dict(sample_sizes=(2.5,)), "sample_sizes must be integers >= 1"),
])
def test_bad_grids_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    sweep.Grid(**kwargs)


def test_sample_size_larger_than_the_data_is_refused():
  with pytest.raises(ValueError, match=r"n=500 is larger than the data \(n_max=120\)"):
    sweep.run_sweep(jax.random.key(0), _data(), sweep.Grid(sample_sizes=(500,)).configs(), steps=10, batch_size=4,
                    log=None)


def test_split_cpu_presents_cores_as_devices():
  """split_cpu(3) in a fresh process gives 3 CPU devices; 0 is refused; after JAX ran, JAX's own
  RuntimeError says it is too late (this process has run JAX already)."""
  code = ("from dae_theory import sweep; n = sweep.split_cpu(3); import jax; "
          "print(n, jax.device_count('cpu'))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr
  assert out.stdout.split() == ["3", "3"]
  with pytest.raises(ValueError, match="n must be >= 1"):
    sweep.split_cpu(0)
  jax.numpy.zeros(1).block_until_ready()
  with pytest.raises(RuntimeError, match="before backends are initialized"):
    sweep.split_cpu(2)


# --- The optimizer axis, checkpoints, the constant rate (issue 16) ------------------------------------

def _optimizer_configs():
  """Three optimizers, each with its own learning rate (one Grid per optimizer, concatenated), two
  widths, two sample sizes, two seeds: 24 configs."""
  rates = {"adam": 1e-2, "rmsprop": 3e-3, "sgd_momentum": 2e-2}
  return sweep.Configs.concat([
      sweep.Grid(seeds=(0, 3), widths=(2, 5), sample_sizes=(10, 120), sigmas=(0.3,), lams=(1e-3,),
                 learning_rates=(lr,), optimizers=(name,)).configs() for name, lr in rates.items()])


@pytest.mark.parametrize("bucket,cosine", [(True, True), (False, True), (True, False)])
def test_optimizer_axis_equals_single_runs(bucket, cosine):
  """Configs that carry their own optimizer (Adam, RMSprop, SGD with momentum) in one sweep, grouped
  per (optimizer, width) inside each compiled chunk (bucket=True) or per optimizer padded to the
  chunk's largest width (bucket=False), with cosine decay or a constant rate: each equals its single
  run with that optimizer (train.fit_loop) in float64 to 1e-12 of each leaf's max, the bound of the
  existing sweep tests (the same ops on the same streams: round-off only). Chunks of 16 straddle two
  optimizers, so a chunk holds groups of different optimizers."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    cfg = _optimizer_configs()
    res = sweep.run_sweep(jax.random.key(0), x, cfg, steps=60, batch_size=16, chunk_size=16,
                          bucket=bucket, cosine=cosine, log=None)
    assert {len(np.unique(cfg.optimizer[np.concatenate(g)]))
            for g in sweep.plan_chunks(cfg, 16, bucket)} == {1, 2}
    _check_against_single_runs(x, res, 60, 16, 1e-12, cosine=cosine)
    # the optimizers differ: the same config under Adam and SGD with momentum ends elsewhere
    assert np.abs(res.w1[0] - res.w1[16]).max() > 1e-3


def test_grid_optimizer_axis_is_the_leading_axis():
  grid = sweep.Grid(seeds=(0, 1), widths=(2,), sample_sizes=(4, 8), optimizers=("adam", "sgd"))
  cfg = grid.configs()
  assert grid.shape == (2, 1, 1, 1, 2, 1, 2) and len(cfg) == 8
  assert cfg.optimizer.tolist() == ["adam"] * 4 + ["sgd"] * 4
  assert sweep.Grid().configs().optimizer is None and len(sweep.Grid().shape) == 6
  est = sweep.estimate(cfg, 8, 20, 4, log_every=10)
  assert est == sweep.estimate(grid, 8, 20, 4, log_every=10)
  with pytest.raises(ValueError, match="either every part has an optimizer column or none"):
    sweep.Configs.concat([cfg, sweep.Grid().configs()])


@pytest.mark.parametrize("cosine", [True, False])
def test_checkpoints_equal_a_single_run_stopped_there(cosine):
  """The weights kept at checkpoints 20, 40 and 100 of one 100-step trajectory (segments of gcd = 20
  steps) equal the single run of t steps on the same schedule: cosine decay over 100 steps stopped
  at t (``train_config(steps=t, decay_steps=100)``) or the constant rate (a plain t-step run).
  Float64, 1e-12 of max|W| as above. Each config (one per optimizer) is compared with its single run
  at one intermediate checkpoint, 20 or 40, alternating over configs and shifted between the two
  schedules, so each optimizer is checked at both under one schedule or the other (each reference
  is one more compiled program; all nine pairs once cost 9 compilations per schedule). The last
  checkpoint (100) equals the final weights of the same sweep without checkpoints, asserted below
  for every config, and those equal their single runs for every optimizer and both schedules in
  test_optimizer_axis_equals_single_runs. The final weights, losses and status equal those of the
  sweep without checkpoints to the same bound (the segments run the same step function), and the
  estimate counts the kept weights."""
  with jax.enable_x64(True):
    x = _data(np.float64)
    cfg = _optimizer_configs().take(np.array([0, 13, 23]))  # one config per optimizer
    ck, steps = (20, 40, 100), 100
    res = sweep.run_sweep(jax.random.key(0), x, cfg, steps=steps, batch_size=16, cosine=cosine,
                          checkpoints=ck, log=None)
    plain = sweep.run_sweep(jax.random.key(0), x, cfg, steps=steps, batch_size=16, cosine=cosine,
                            log=None)
    assert res.checkpoints == ck and res.snapshots.w1.shape == (3, 3) + res.w1.shape[1:]
    scale = np.abs(plain.w1).max()
    np.testing.assert_allclose(res.w1, plain.w1, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(res.snapshots.w1[:, -1], plain.w1, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(res.losses, plain.losses, rtol=1e-12)
    np.testing.assert_array_equal(res.status, plain.status)
    for i in range(len(cfg)):
      w = int(cfg.width[i])
      k = (i + int(cosine)) % 2  # checkpoint 20 or 40 (see the docstring)
      t = ck[k]
      ref, _, _ = sweep.train_config(
          jax.random.key(0), x, int(cfg.seed[i]), w, int(cfg.n[i]), float(cfg.sigma[i]),
          float(cfg.lam[i]), float(cfg.learning_rate[i]), steps=t, batch_size=16,
          optimizer=str(cfg.optimizer[i]), cosine=cosine, decay_steps=steps if cosine else None)
      got = res.snapshots.w1[i, k]
      np.testing.assert_allclose(got[:, :w], ref.w1, rtol=0,
                                 atol=1e-12 * np.abs(ref.w1).max(), err_msg=f"config {i}, t={t}")
      assert np.all(got[:, w:] == 0)
    # the trajectory moves between checkpoints (a snapshot is not the final weights by accident)
    assert np.abs(res.snapshots.w1[:, 0] - res.snapshots.w1[:, 2]).max() > 1e-3
    est = sweep.estimate(cfg, 8, steps, 16, checkpoints=3, dtype=np.float64)
    arrays = [res.w1, res.snapshots.w1, res.losses, res.status, *res.configs.arrays()]
    assert est.bytes == sum(a.nbytes for a in arrays)


def test_resume_keeps_checkpoints_and_optimizers(tmp_path):
  """A sweep with the optimizer axis and checkpoints, its chunk files partly deleted (a run stopped
  after its first chunk): the rerun reads the remaining chunk from disk and ends with arrays
  identical, bit for bit, to the uninterrupted run; snapshots included. (The SIGKILL test of the
  sim is tests/test_mechanism_map.py.)"""
  x = _data()
  cfg = _optimizer_configs()
  kw = dict(steps=40, batch_size=8, chunk_size=8, checkpoints=(10, 20, 40), log=None)
  wd = tmp_path / "w"
  full = sweep.run_sweep(jax.random.key(0), x, cfg, workdir=str(wd), **kw)
  chunks = sorted((wd / "chunks").glob("chunk_*.npz"))
  assert len(chunks) == 3
  for c in chunks[1:]:
    c.unlink()
  again = sweep.run_sweep(jax.random.key(0), x, cfg, workdir=str(wd), **kw)
  for a, b in ((full.w1, again.w1), (full.snapshots.w1, again.snapshots.w1),
               (full.losses, again.losses), (full.status, again.status)):
    np.testing.assert_array_equal(a, b)
  lines = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
  assert [r["from_disk"] for r in lines[-3:]] == [True, False, False]
  # another checkpoint list is another sweep: refused, not resumed
  with pytest.raises(ValueError, match="holds a different sweep"):
    sweep.run_sweep(jax.random.key(0), x, cfg, workdir=str(wd), **dict(kw, checkpoints=(20, 40)))


def test_chunks_of_an_older_layout_are_refused_with_the_reason(tmp_path):
  """A workdir from before layout 6: its sweep_spec.json (layout 5) and a chunk file without a layout
  entry are refused with a message that says an older engine wrote them."""
  x = _data()
  cfg = sweep.Grid(seeds=(0,), widths=(2,), sample_sizes=(10,)).configs()
  wd = tmp_path / "w"
  sweep.run_sweep(jax.random.key(0), x, cfg, steps=10, batch_size=4, workdir=str(wd), log=None)
  spec = json.loads((wd / "sweep_spec.json").read_text())
  (wd / "sweep_spec.json").write_text(json.dumps(dict(spec, fingerprint="0" * 16, layout=5)))
  with pytest.raises(ValueError, match=r"older version of the sweep engine \(chunk layout < 6\)"):
    sweep.run_sweep(jax.random.key(0), x, cfg, steps=10, batch_size=4, workdir=str(wd), log=None)
  (wd / "sweep_spec.json").unlink()
  path = next((wd / "chunks").glob("chunk_*.npz"))
  with np.load(path) as npz:
    arrays = {k: npz[k] for k in npz.files if k != "layout"}
  np.savez(path, **arrays)
  with pytest.raises(ValueError, match=r"written by an older version of the sweep engine"):
    sweep.run_sweep(jax.random.key(0), x, cfg, steps=10, batch_size=4, workdir=str(wd), log=None)


@pytest.mark.parametrize("kwargs,match", [
    (dict(checkpoints=(20, 10)), "checkpoints must be increasing integer steps in 1 … steps=40"),
    (dict(checkpoints=(0, 40)), "checkpoints must be increasing"),
    (dict(checkpoints=(10, 50)), "checkpoints must be increasing"),
])
def test_bad_checkpoints_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    sweep.run_sweep(jax.random.key(0), _data(), sweep.Grid().configs(), steps=40, batch_size=4,
                    log=None, **kwargs)


def test_an_unknown_optimizer_in_the_configs_is_named():
  cfg = sweep.Grid(optimizers=("adam", "lion")).configs()
  with pytest.raises(ValueError, match=r"configs.optimizer must hold names of .*got \['lion'\]"):
    sweep.run_sweep(jax.random.key(0), _data(), cfg, steps=10, batch_size=4, log=None)
