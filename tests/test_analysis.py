"""The compiled evaluation of a sweep (dae_theory.analysis) against the per-config loop it replaced,
its closed forms against the constructions, its grouping of widths, and the phase diagram's timing
record.

The reference loop below is the former ``analysis.evaluate`` (commit 9eac8b1) verbatim: one jitted
metric call and one call of each construction per config. The compiled version computes the same
formulas in another order (batched products, padded widths, NumPy closed forms), so the two agree to
rounding: the comparisons run in float64, where the difference of two summation orders of a sum of
at most 10³ terms is below 10³ · 2⁻⁵³ ≈ 1e-13 relative and an SVD's eigenvectors move by about
eps · Λ₁/gap (gaps of these data ≥ 1e-2 Λ₁): rtol 1e-9 leaves a margin of 10³ over both while any
wrong formula, mask or key moves a metric by far more (a different noise draw changes the losses at
the 1e-2 level). The thresholded fractions (cosine ≥ 0.95) must be equal exactly unless a cosine lies
within 1e-9 of the threshold, which the test checks rather than assumes.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import analysis, constructions, copies, metrics, model, sweep
from dae_theory.model import DAEParams

RTOL = 1e-9  # float64 rounding of two summation orders, with a 10^3 margin (module docstring)


# --- the former per-config loop (commit 9eac8b1), verbatim ---------------------------------------
@functools.partial(jax.jit, static_argnames=("width",))
def _eval_one(w1, x, n, x_test, sigma, key, *, width):
  params = DAEParams(w1[:, :width])
  n_max, d = x.shape
  weight = (jnp.arange(n_max) < n).astype(x.dtype) / n
  k1, k2 = jax.random.split(key)
  y_tr = x + sigma * jax.random.normal(k1, x.shape, x.dtype)
  y_te = x_test + sigma * jax.random.normal(k2, x_test.shape, x.dtype)
  err_tr = jnp.sum((model.apply(params, y_tr) - x) ** 2, -1)
  err_te = jnp.sum((model.apply(params, y_te) - x_test) ** 2, -1)
  h_tr, h_te = model.representation(params, y_tr), model.representation(params, y_te)
  cos = metrics.cosine_matrix(params.w1.T, x)  # (p, n_max)
  best = jnp.max(jnp.where((jnp.arange(n_max) < n)[None, :], cos, -jnp.inf), 1)
  live = metrics.live_columns(params.w1)
  mem_frac = jnp.sum(live & (best >= copies.COSINE_COPY)) / jnp.maximum(jnp.sum(live), 1)
  stored = jnp.max(jnp.where(live[:, None], cos, -jnp.inf), 0) >= copies.COSINE_COPY  # per sample
  return {
      "stored_fraction": jnp.sum(weight * stored),
      "train_loss": jnp.sum(weight * err_tr), "test_loss": jnp.mean(err_te),
      "memorizing_fraction": mem_frac,
      "std_h_train": jnp.sum(weight * metrics.code_std(h_tr)),
      "std_h_test": jnp.mean(metrics.code_std(h_te)),
      "pr_train": jnp.sum(weight * metrics.participation_ratio(h_tr)),
      "pr_test": jnp.mean(metrics.participation_ratio(h_te)),
  }


def _reference_evaluate(key, result, x, x_test, labels=None):
  x, x_test = jnp.asarray(x), jnp.asarray(x_test)
  cfg = result.configs
  out: dict[str, list] = {}
  for i in range(len(cfg)):
    width, n, sigma, lam = int(cfg.width[i]), int(cfg.n[i]), float(cfg.sigma[i]), float(cfg.lam[i])
    row = _eval_one(jnp.asarray(result.w1[i]), x, n, x_test, jnp.asarray(sigma, x.dtype),
                    jax.random.fold_in(key, i), width=width)
    row = {k: float(v) for k, v in row.items()}
    params = DAEParams(jnp.asarray(result.w1[i, :, :width]))
    try:
      mem = constructions.memorization_weights(x[:n], sigma, lam, require_obtuse=False)
      row["dist_mem"] = float(metrics.gram_distance(params, mem.params))
    except ValueError:
      row["dist_mem"] = float("nan")
    row["dist_gen"] = float("nan")
    if labels is not None:
      lab = np.asarray(labels)[:n]
      m = int(np.max(np.asarray(labels))) + 1
      if width >= m and len(np.unique(lab)) == m:
        alloc = np.repeat(np.arange(m), width // m)
        try:
          gen = constructions.construction_for_allocation(x[:n], lab, alloc, sigma, lam)
          row["dist_gen"] = float(metrics.gram_distance(params, gen.params))
        except ValueError:
          pass
    for k, v in row.items():
      out.setdefault(k, []).append(v)
  return {k: np.array(v) for k, v in out.items()}
# --------------------------------------------------------------------------------------------------


def _mixture(rng, per: int, d: int, shift: float = 0.0):
  """Two modes with opposite means ±2e₁ (pairwise obtuse) and rank-2 spread in e₂, e₃, rows grouped
  by mode (so a prefix of ``per`` rows misses mode 1); ``shift`` · e₄ added to every row makes the
  means acute (β > 0) when large."""
  mean = np.zeros(d)
  mean[0] = 2.0
  z = np.zeros((2 * per, d))
  z[:, 1:3] = rng.standard_normal((2 * per, 2))
  x = z + np.repeat(np.stack([mean, -mean]), per, 0)
  x[:, 3] += shift
  return x, np.repeat(np.arange(2), per)


def _sweep_result(rng, x, configs):
  """A SweepResult of the tied DAE with the engine's layout (``w1 (C, d, p_max)``, units past each
  config's width zero) whose weights the evaluation cannot tell from trained ones: per config, unit j
  is a scaled copy of training sample j (a memorizing column, cosine 1) for even j < n, a small
  random column otherwise (some below the live threshold). No training is needed to test an
  evaluation of weights."""
  c, (n_max, d) = len(configs), x.shape
  p_max = int(np.max(configs.width))
  w1 = np.zeros((c, d, p_max))
  for i in range(c):
    for j in range(int(configs.width[i])):
      if j % 2 == 0 and j < int(configs.n[i]):
        w1[i, :, j] = rng.uniform(0.2, 0.5) * x[j]
      else:
        w1[i, :, j] = rng.uniform(0.01, 0.6) * rng.standard_normal(d) / np.sqrt(d)
  return sweep.SweepResult(configs, DAEParams(w1), np.zeros((c, 1)), np.full(c, -1, np.int32))


@pytest.fixture(scope="module")
def small_sweep():
  """A float64 sweep that reaches every branch: a width below M = 2, a prefix (n = 3) that misses a
  mode, and a λ (0.4) at which nλ ≥ min ‖x_i‖² for n = 12 refuses Eq. 9 (not for n = 3) and the
  usable ranks clip the Eq. 8 widths; with the reference loop's metrics."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    x, labels = _mixture(rng, 6, 6)
    x_test = _mixture(rng, 9, 6)[0]
    grid = sweep.Grid(seeds=(0,), widths=(1, 2, 4), sample_sizes=(3, 12), sigmas=(0.3,),
                      lams=(0.4,))
    res = _sweep_result(rng, x, grid.configs())
    key = jax.random.key(2)
    ref = _reference_evaluate(key, res, x, x_test, labels)
    yield res, x, x_test, labels, key, ref


def _threshold_margin(res, x):
  """Smallest |cos − COSINE_COPY| over the cosines the fractions threshold (live columns × samples)."""
  margin = np.inf
  for i in range(len(res.configs)):
    w = np.asarray(res.w1[i, :, :int(res.configs.width[i])])
    cos = np.asarray(metrics.cosine_matrix(jnp.asarray(w.T), jnp.asarray(x)))
    live = np.asarray(metrics.live_columns(jnp.asarray(w)))
    margin = min(margin, np.min(np.abs(cos[live] - copies.COSINE_COPY)))
  return margin


def test_compiled_evaluation_equals_the_per_config_loop(small_sweep, monkeypatch):
  """Same metrics as the former loop, through one program for widths 1, 2 and 4 padded to 4 (so
  padding the width is checked) in batches of 5 with a padded last batch; one compile, none on a
  second evaluation of a sweep of the same shapes (these float64 shapes occur in no other test)."""
  res, x, x_test, labels, key, ref = small_sweep
  monkeypatch.setattr(analysis, "width_groups", lambda *a, **k: [[1, 2, 4]])
  monkeypatch.setattr(analysis, "batch_size", lambda count, *a, **k: min(count, 5))
  events = []

  def listen(name, secs, **kw):
    if name == "/jax/core/compile/backend_compile_duration":
      events.append(name)

  with jax.enable_x64(True):
    other_key = jax.random.key(5)
  jax.monitoring.register_event_duration_secs_listener(listen)
  try:
    with jax.enable_x64(True):
      timings = {}
      out = analysis.evaluate(key, res, x, x_test, labels, timings=timings)
      compiles = len(events)
      again = analysis.evaluate(other_key, res, x, x_test, labels)
  finally:
    jax.monitoring.unregister_event_duration_listener(listen)
  assert compiles == timings["programs"] == 1 and len(events) == compiles
  assert set(timings) == {"closed_forms_s", "compile_s", "metrics_s", "programs"}
  assert min(timings["closed_forms_s"], timings["compile_s"], timings["metrics_s"]) >= 0
  assert not np.allclose(again["test_loss"], out["test_loss"], rtol=1e-3)  # the key draws the noise
  assert set(out) == set(ref)
  for name in ("dist_mem", "dist_gen"):  # every branch reached: defined and undefined references
    assert np.isnan(ref[name]).any() and np.isfinite(ref[name]).any(), name
  assert ref["stored_fraction"].max() > 0 and ref["memorizing_fraction"].max() > 0
  margin = _threshold_margin(res, x)
  for name, want in ref.items():
    got = out[name]
    assert got.shape == want.shape == (len(res.configs),) and got.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
    if name in ("stored_fraction", "memorizing_fraction") and margin > 1e-9:
      np.testing.assert_array_equal(got, want, err_msg=name)
    else:
      np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", ["obtuse_means_rank_one_mode", "acute_means"])
def test_closed_forms_equal_the_constructions(case, x64):
  """Each shared reference W Wᵀ equals that of the construction the former loop built for the config
  (memorization_weights, construction_for_allocation), and is undefined exactly where it raised:
  acute means refuse Eq. 8, a rank-one mode clips its blocks, a large λ refuses Eq. 9."""
  rng = np.random.default_rng(3)
  x, labels = _mixture(rng, 7, 6, shift=5.0 if case == "acute_means" else 0.0)
  if case != "acute_means":
    x[7:] = x[7] * rng.uniform(0.5, 1.5, (7, 1))  # mode 1: one direction (its blocks are clipped)
  order = rng.permutation(14)  # prefixes mix the modes
  x, labels = x[order], labels[order]
  configs = sweep.Grid(widths=(1, 4, 9), sample_sizes=(5, 14), sigmas=(0.5,),
                       lams=(1e-3, 0.3)).configs()
  forms = analysis.closed_forms(x, labels, configs)
  defined = {"mem": 0, "gen": 0}
  for i in range(len(configs)):
    width, n = int(configs.width[i]), int(configs.n[i])
    sigma, lam = float(configs.sigma[i]), float(configs.lam[i])
    try:
      want = np.asarray(metrics.end_to_end(constructions.memorization_weights(
          x[:n], sigma, lam, require_obtuse=False).params))
    except ValueError:
      want = None
    assert (forms.mem_index[i] < 0) == (want is None), (i, "mem")
    if want is not None:
      defined["mem"] += 1
      np.testing.assert_allclose(forms.mem[forms.mem_index[i]], want, rtol=RTOL, atol=1e-12)
    want = None
    lab = labels[:n]
    if width >= 2 and len(np.unique(lab)) == 2:
      try:
        want = np.asarray(metrics.end_to_end(constructions.construction_for_allocation(
            x[:n], lab, np.repeat(np.arange(2), width // 2), sigma, lam).params))
      except ValueError:
        pass
    assert (forms.gen_index[i] < 0) == (want is None), (i, "gen")
    if want is not None:
      defined["gen"] += 1
      np.testing.assert_allclose(forms.gen[forms.gen_index[i]], want, rtol=RTOL, atol=1e-12)
  assert defined["mem"] > 0
  if case == "acute_means":
    assert defined["gen"] == 0
  else:
    assert 0 < defined["gen"] and defined["mem"] < len(configs)  # λ = 0.3 refuses some Eq. 9
  # shared, not per config: at most one reference per distinct (n, σ, λ) (and allocation)
  assert len(forms.mem) <= 2 * 2 < defined["mem"]
  assert len(forms.gen) < defined["gen"] or defined["gen"] == 0


def _brute_force_groups(widths, counts, cost):
  best, arg = np.inf, None
  k = len(widths)
  for mask in range(2 ** (k - 1)):  # a cut after width j where bit j is set
    cuts = [0] + [j + 1 for j in range(k - 1) if mask >> j & 1] + [k]
    c = sum(cost(widths[a:b], counts[a:b]) for a, b in zip(cuts, cuts[1:]))
    if c < best:
      best, arg = c, [widths[a:b] for a, b in zip(cuts, cuts[1:])]
  return best, arg


@pytest.mark.parametrize("seed", range(4))
def test_width_groups_minimize_compile_plus_padded_cost(seed):
  rng = np.random.default_rng(seed)
  widths = sorted(rng.choice(np.arange(1, 600), 6, replace=False).tolist())
  counts = rng.integers(1, 50, 6).tolist()
  compile_flops = float(rng.choice([1e6, 1e8, 1e10]))

  def cost(ws, cs):
    return compile_flops + sum(cs) * analysis.config_flops(max(ws), 100, 50, 8)

  groups = analysis.width_groups(widths, counts, 100, 50, 8, compile_flops)
  assert [w for g in groups for w in g] == widths
  got = sum(cost(g, counts[widths.index(g[0]):widths.index(g[0]) + len(g)]) for g in groups)
  best, _ = _brute_force_groups(widths, counts, cost)
  assert got == pytest.approx(best, rel=1e-12)
  assert analysis.width_groups(widths, counts, 100, 50, 8, 0.0) == [[w] for w in widths]
  assert analysis.width_groups(widths, counts, 100, 50, 8, 1e30) == [widths]


@pytest.mark.parametrize("count,max_bytes", [(1, 2**28), (224, 2**28), (224, 2**22), (7, 1)])
def test_batch_size_is_within_memory_with_little_padding(count, max_bytes):
  args = (128, 512, 1000, 32)
  per = 4 * (3 * 1512 * 32 + 2 * 1512 * 128 + 128 * 512 + 4 * 32 * 32)
  size = analysis.batch_size(count, *args, max_bytes=max_bytes)
  calls = -(-count // size)
  assert 1 <= size <= count
  assert size * per <= max_bytes or size == 1
  assert calls == -(-count // max(1, min(count, max_bytes // per)))  # no more calls than needed
  assert calls * size - count < calls  # the padding of the last batch is below one per call


def test_evaluate_refuses_bad_data_before_computing(small_sweep):
  res, x, x_test, labels, key, _ = small_sweep
  bad = x.copy()
  bad[2, 1] = np.nan
  with pytest.raises(ValueError, match="non-finite"):
    analysis.evaluate(key, res, bad, x_test, labels)
  with pytest.raises(ValueError, match="x_test has 5 columns but the data dimension of x is d = 6"):
    analysis.evaluate(key, res, x, x_test[:, :5], labels)
  with pytest.raises(ValueError, match="has only 5 rows"):
    analysis.evaluate(key, res, x[:5], x_test, labels[:5])
  with pytest.raises(ValueError, match="labels must have shape"):
    analysis.evaluate(key, res, x, x_test, labels[:-1])


def test_phase_diagram_timing_record_and_line():
  """The run record's timing fields (sims.phase_diagram.run writes them as timing.json and logs the
  line) and the line, of a fresh and of a resumed sweep."""
  from sims import phase_diagram

  parts = {"closed_forms_s": 0.01234, "compile_s": 1.5, "metrics_s": 0.25, "programs": 1}
  t = phase_diagram.timing_record(8.0, 2.0, parts, 0)
  assert t == {"train_time_s": 8.0, "eval_time_s": 2.0, "eval_closed_forms_s": 0.012,
               "eval_compile_s": 1.5, "eval_metrics_s": 0.25, "eval_programs": 1,
               "eval_over_train": 0.25, "chunks_on_disk": 0}
  assert json.loads(json.dumps(t)) == t
  line = phase_diagram.timing_line(t)
  assert line.startswith("timing: training 8.00 s, evaluation 2.00 s") and "= 0.250" in line
  assert "resumed" not in line
  resumed = phase_diagram.timing_line(phase_diagram.timing_record(0.5, 2.0, parts, 3))
  assert "resumed from 3 chunks on disk" in resumed and "not the time to train" in resumed
  assert phase_diagram.timing_record(0.0, 1.0, parts, 8)["eval_over_train"] is None
