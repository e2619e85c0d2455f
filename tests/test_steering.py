"""Steering metrics that do not saturate (dae_theory.steering: transition_metrics, on_manifold,
pixel_interpolation), against hand computations, NumPy's own interpolation and brute-force distances.

Tolerances: every expected value is a few float64 operations on the same inputs, so 1e-12 relative
(a few hundred ulps) covers any reordering; exact equality only where no arithmetic happens.
"""

import numpy as np
import pytest

from dae_theory import images
from dae_theory import steering as st

RTOL = 1e-12  # float64, a handful of operations per value (module docstring)
LEVELS = 11
A = np.linspace(0.0, 1.0, LEVELS)  # Δa = 0.1
DA = A[1] - A[0]


def _jump_and_ramp():
  jump = (np.arange(LEVELS) >= 5).astype(float)  # 0 up to a_4 = 0.4, 1 from a_5 = 0.5
  ramp = A.copy()  # P = a: an even ramp from 0 at a_0 to 1 at a_max
  return np.stack([jump, ramp], 1)


def test_a_single_jump_and_an_even_ramp_get_the_extreme_values():
  """Jump: the crossings sit at 0.1 and 0.9 of its one grid step, width 0.8 Δa (the grid's
  resolution, the smallest width linear interpolation can give), slope 1/Δa, jump share levels − 1.
  Ramp: width 0.8 (a_max − a_0), slope 1/(a_max − a_0), jump share 1."""
  m = st.transition_metrics(A, _jump_and_ramp())
  np.testing.assert_allclose(m["a_10"], [0.4 + 0.1 * DA, 0.1], rtol=RTOL)
  np.testing.assert_allclose(m["a_90"], [0.4 + 0.9 * DA, 0.9], rtol=RTOL)
  np.testing.assert_allclose(m["width_10_90"], [0.8 * DA, 0.8 * (A[-1] - A[0])], rtol=1e-10)
  np.testing.assert_allclose(m["max_slope"], [1 / DA, 1 / (A[-1] - A[0])], rtol=RTOL)
  np.testing.assert_allclose(m["jump_share_even"], [LEVELS - 1, 1.0], rtol=RTOL)
  np.testing.assert_array_equal(m["crossed_10"], [True, True])
  np.testing.assert_array_equal(m["crossed_90"], [True, True])
  np.testing.assert_array_equal(m["levels_kept"], [LEVELS, LEVELS])


def test_the_jump_share_of_outputs_is_path_metrics_times_levels_minus_one():
  """With x given, jump_share_even is path_metrics' jump share (an independent implementation of the
  step norms) times levels − 1: levels − 1 for a single jump in x, 1 for even motion."""
  even = np.linspace(0, 1, LEVELS)[:, None, None] * np.ones((1, 1, 3))
  step = (np.arange(LEVELS) >= 5)[:, None, None] * np.ones((1, 1, 3))
  rng = np.random.default_rng(0)
  wander = np.cumsum(rng.normal(size=(LEVELS, 1, 3)), 0)
  x = np.concatenate([even, step, wander], 1)
  prob = np.full((LEVELS, 3), 0.5)  # the probabilities do not enter the jump share of x
  m = st.transition_metrics(A, prob, x=x)
  ref = st.path_metrics(x, prob)["jump_share"] * (LEVELS - 1)
  np.testing.assert_allclose(m["jump_share_even"], ref, rtol=RTOL)
  np.testing.assert_allclose(m["jump_share_even"][:2], [1.0, LEVELS - 1], rtol=RTOL)


def test_crossings_by_hand_on_three_levels():
  """a = (0, 1, 3). Path 1, P = (0, 0.5, 1): a_10 = 0 + 0.1/0.5 · 1 = 0.2, a_90 = 1 + 0.4/0.5 · 2 =
  2.6, slopes 0.5 and 0.25, steps 0.5 and 0.5 (even). Path 2, P = (0.05, 0.95, 0.2) on a = (0, 2, 3):
  see below."""
  m = st.transition_metrics([0.0, 1.0, 3.0], np.array([[0.0], [0.5], [1.0]]))
  np.testing.assert_allclose([m["a_10"][0], m["a_90"][0], m["width_10_90"][0]], [0.2, 2.6, 2.4],
                             rtol=RTOL)
  np.testing.assert_allclose([m["max_slope"][0], m["jump_share_even"][0]], [0.5, 1.0], rtol=RTOL)
  # A path that overshoots and falls back: a_10 = 0.05/0.9 · 2, a_90 = 0.85/0.9 · 2 (first crossings
  # only), slopes 0.45 and −0.75, steps |ΔP| = 0.9 and 0.75: jump share 0.9/1.65, times 2.
  m = st.transition_metrics([0.0, 2.0, 3.0], np.array([[0.05], [0.95], [0.2]]))
  np.testing.assert_allclose(m["a_10"], [0.05 / 0.9 * 2], rtol=RTOL)
  np.testing.assert_allclose(m["a_90"], [0.85 / 0.9 * 2], rtol=RTOL)
  np.testing.assert_allclose(m["width_10_90"], [0.8 / 0.9 * 2], rtol=1e-10)
  np.testing.assert_allclose(m["max_slope"], [0.45], rtol=RTOL)
  np.testing.assert_allclose(m["jump_share_even"], [0.9 / 1.65 * 2], rtol=RTOL)


def test_crossings_equal_numpys_interpolation_on_random_monotone_paths():
  """For a strictly increasing P from below 0.1 to above 0.9, the first crossing of c is the inverse
  linear interpolant, np.interp(c, P, a) (NumPy's own code); the width is >= 0.8 / max_slope."""
  rng = np.random.default_rng(1)
  a = np.sort(rng.uniform(0, 5, size=9))
  raw = np.cumsum(rng.uniform(0.01, 1.0, size=(9, 50)), 0)
  prob = 0.02 + 0.96 * (raw - raw[0]) / (raw[-1] - raw[0])  # strictly increasing, 0.02 → 0.98
  m = st.transition_metrics(a, prob)
  ref10 = [np.interp(0.1, prob[:, j], a) for j in range(50)]
  ref90 = [np.interp(0.9, prob[:, j], a) for j in range(50)]
  np.testing.assert_allclose(m["a_10"], ref10, rtol=1e-10)  # 1e-10: interp's own rounding, a ~ 5
  np.testing.assert_allclose(m["a_90"], ref90, rtol=1e-10)
  assert np.all(m["width_10_90"] >= 0.8 / m["max_slope"] * (1 - 1e-12))
  slopes = np.diff(prob, axis=0) / np.diff(a)[:, None]  # brute force over the steps
  np.testing.assert_allclose(m["max_slope"], slopes.max(0), rtol=RTOL)


def test_paths_that_never_cross_give_nan_and_say_which_level():
  """Flat at 0.05: neither level. Up to 0.5: 0.1 only. Starting at 0.2 (the 0.1 crossing lies left of
  the grid): 0.9 only. Width NaN unless both; a flat P does not move (jump share NaN)."""
  prob = np.stack([np.full(LEVELS, 0.05), np.linspace(0, 0.5, LEVELS), np.linspace(0.2, 1, LEVELS)],
                  1)
  m = st.transition_metrics(A, prob)
  np.testing.assert_array_equal(m["crossed_10"], [False, True, False])
  np.testing.assert_array_equal(m["crossed_90"], [False, False, True])
  assert np.isnan(m["a_10"][[0, 2]]).all() and np.isnan(m["a_90"][[0, 1]]).all()
  assert np.isnan(m["width_10_90"]).all()
  np.testing.assert_allclose(m["a_10"][1], 0.1 / 0.5, rtol=RTOL)  # P = 0.5 a
  np.testing.assert_allclose(m["a_90"][2], (0.9 - 0.2) / 0.8, rtol=RTOL)  # P = 0.2 + 0.8 a
  assert np.isnan(m["jump_share_even"][0]) and m["max_slope"][0] == 0.0


def test_truncation_at_the_first_level_off_the_manifold():
  """Metrics with a manifold flag equal the metrics of the kept prefix computed directly; entries after
  the first False are not read (NaN allowed there); a path off from level 0 keeps nothing."""
  prob = _jump_and_ramp()
  prob = np.concatenate([prob, prob[:, :1]], 1)  # a third path: the jump again
  on = np.ones_like(prob, dtype=bool)
  on[7:, 0] = False  # the jump leaves at level 7 (after its rise)
  on[4, 1] = False  # the ramp leaves at level 4: only 0 … 3 (P <= 0.3) are kept
  on[6, 1] = False  # a later False does not matter
  on[0, 2] = False
  prob[8:, 0] = np.nan
  m = st.transition_metrics(A, prob, manifold=on)
  np.testing.assert_array_equal(m["levels_kept"], [7, 4, 0])
  for j, k in ((0, 7), (1, 4)):
    ref = st.transition_metrics(A[:k], prob[:k, j:j + 1])
    for name in ("a_10", "a_90", "width_10_90", "max_slope", "jump_share_even"):
      np.testing.assert_array_equal(m[name][j], ref[name][0], err_msg=name)
  np.testing.assert_allclose(m["jump_share_even"][0], 6, rtol=RTOL)  # one jump in 6 kept steps
  assert not m["crossed_90"][1] and m["crossed_10"][1]
  assert all(np.isnan(m[n][2]) for n in ("a_10", "width_10_90", "max_slope", "jump_share_even"))


@pytest.fixture(scope="module")
def digits():
  split = images.digits()
  mean = split.train.mean(0)
  return (np.asarray(split.train - mean, np.float64), np.asarray(split.test - mean, np.float64))


def test_on_manifold_keeps_real_data_and_refuses_blown_up_and_far_points(digits):
  """Centred digits; threshold from the first 180 test digits. On: a training digit (distance 0,
  norm ratio in [0.70, 1.40]) and the other 179 test digits at about the 99% rate. Off: a training
  digit scaled by 3.7 (norm ratio 3.7 > 2), a random direction at the median norm (norm ratio 1, but
  farther from every digit than 99% of real unseen digits) and a diverged (NaN) output."""
  train, test = digits
  cal, fresh = test[:180], test[180:]
  med = np.median(np.linalg.norm(train, axis=1))
  z = np.random.default_rng(0).normal(size=64)
  far = med * z / np.linalg.norm(z)
  x = np.stack([train[0], fresh[0], 3.7 * train[0], far, np.full(64, np.nan)])
  rep = st.on_manifold(x[:, None, :], train, cal)  # (levels, paths = 1, d)
  assert rep.on.shape == (5, 1)
  np.testing.assert_array_equal(rep.on[:, 0], [True, True, False, False, False])
  np.testing.assert_allclose(rep.norm_ratio[2, 0] / rep.norm_ratio[0, 0], 3.7, rtol=RTOL)
  np.testing.assert_allclose(rep.norm_ratio[3, 0], 1.0, rtol=RTOL)  # only the distance refuses it
  assert rep.nearest_distance[3, 0] > rep.distance_threshold
  assert rep.nearest_distance[4, 0] == np.inf and rep.nearest[4, 0] == -1
  # Real unseen digits pass at about the quantile: the empirical 99% quantile of 180 distances covers a
  # fresh one with probability ~0.985 (a Beta(179, 2) coverage, sd ~0.009), so >= 95% of 179 passes
  # except with negligible probability (the split is fixed, so the test is deterministic).
  assert st.on_manifold(fresh, train, cal).on.mean() >= 0.95


def test_on_manifold_quantities_equal_brute_force(digits):
  """Norm ratio, nearest distance and index, and the threshold, against direct NumPy computations
  (all pairwise distances, np.quantile of the held-out minima, np.median of the norms)."""
  train, test = digits
  train, cal = train[:300], test[:100]
  rng = np.random.default_rng(2)
  x = train[rng.integers(0, 300, size=(4, 6))] * rng.uniform(0.4, 1.8, size=(4, 6, 1)) \
      + rng.uniform(0, 0.6, size=(4, 6, 1)) * rng.normal(size=(4, 6, 64))
  rep = st.on_manifold(x, train, cal, norm_lo=0.6, norm_hi=1.5, quantile=0.9)
  dist = np.linalg.norm(x[..., None, :] - train, axis=-1)  # (4, 6, 300)
  med = np.median(np.linalg.norm(train, axis=1))
  thr = np.quantile(np.linalg.norm(cal[:, None] - train, axis=-1).min(1), 0.9)
  np.testing.assert_allclose(rep.nearest_distance, dist.min(-1), rtol=RTOL)
  np.testing.assert_array_equal(rep.nearest, dist.argmin(-1))
  ratio = np.linalg.norm(x, axis=-1) / med
  np.testing.assert_allclose(rep.norm_ratio, ratio, rtol=RTOL)
  np.testing.assert_allclose([rep.distance_threshold, rep.median_norm], [thr, med], rtol=RTOL)
  in_band, near = (ratio >= 0.6) & (ratio <= 1.5), dist.min(-1) <= thr
  np.testing.assert_array_equal(rep.on, in_band & near)
  # Each criterion alone refuses some outputs the other accepts, so the test needs both of them.
  assert rep.on.any() and (in_band & ~near).any() and (near & ~in_band).any()


def test_pixel_interpolation_is_the_straight_line_in_a_over_a_max():
  """x(a) = (1 − a/a_max) x_s + (a/a_max) x_t: the endpoints are the images (a grid from 0), a
  shared target broadcasts, and on a grid starting above 0 the first level is already part way."""
  rng = np.random.default_rng(3)
  xs, xt = rng.normal(size=(4, 5)), rng.normal(size=5)
  grid = np.linspace(0, 2.0, 5)
  path = st.pixel_interpolation(xs, xt, grid)
  assert path.shape == (5, 4, 5)
  np.testing.assert_array_equal(path[0], xs)
  np.testing.assert_allclose(path[-1], np.broadcast_to(xt, (4, 5)), rtol=RTOL, atol=1e-15)
  np.testing.assert_allclose(path[1], 0.75 * xs + 0.25 * xt, rtol=RTOL)
  path = st.pixel_interpolation(xs[0], xt, [1.0, 4.0])
  np.testing.assert_allclose(path[:, 0], [0.75 * xs[0] + 0.25 * xt, xt], rtol=RTOL, atol=1e-15)
  # Scored like a steering run: even motion in x, so its jump share is that of an even path.
  m = st.transition_metrics(grid, np.full((5, 4), 0.5), x=st.pixel_interpolation(xs, xt, grid))
  np.testing.assert_allclose(m["jump_share_even"], 1.0, rtol=1e-10)


@pytest.mark.parametrize("call,message", [
    (lambda: st.transition_metrics([0.0], [[0.5]]), "a must be a 1-D grid of at least 2 levels"),
    (lambda: st.transition_metrics([0.0, 0.0], [[0.5], [0.5]]), r"a must be strictly increasing, but "
                                                                r"a\[0\] = 0 >= a\[1\] = 0"),
    (lambda: st.transition_metrics([0.0, np.inf], [[0.5], [0.5]]), "a has 1 non-finite"),
    (lambda: st.transition_metrics([0.0, 1.0], [0.5, 0.5]), r"prob must have shape \(levels, paths\)"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [1.2]]),
     r"prob must lie in \[0, 1\] at every kept level, but prob\[1, 0\] = 1.2"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [np.nan]]), r"prob\[1, 0\] = nan"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [0.5]], manifold=np.ones((2, 1))),
     "manifold must be a bool array of shape"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [0.5]], manifold=np.ones((2, 1), bool),
                                   guard="cut"), "guard must be 'stop' or 'on', got 'cut'"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [0.5]], x=np.ones((2, 3))),
     r"x must have shape \(levels, paths, d\)"),
    (lambda: st.transition_metrics([0.0, 1.0], [[0.5], [0.5]], x=np.full((2, 1, 3), np.nan)),
     r"x must be finite at every kept level, but x\[0, 0\]"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.ones((4, 3)), np.zeros((2, 3)), norm_lo=2.0,
                            norm_hi=1.0), "need 0 <= norm_lo < norm_hi, got norm_lo = 2.0"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.ones((4, 3)), np.zeros((2, 3)), quantile=1.5),
     r"quantile must lie in \(0, 1\], got 1.5"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.ones((4, 3)), np.zeros((2, 3)), quantile=np.nan),
     "quantile must be a finite number"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.ones((4, 3)), np.zeros((2, 4))),
     "x_heldout has 4 columns but the data dimension of x_train is d = 3"),
    (lambda: st.on_manifold(np.ones((2, 4)), np.ones((4, 3)), np.zeros((2, 3))),
     r"x must have shape \(..., d\) with d = 3"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.zeros((4, 3)), np.ones((2, 3))),
     "x_train has median row norm 0"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.eye(3), np.eye(3)),
     "x_heldout's 0.99 quantile of nearest-training distances is 0"),
    (lambda: st.on_manifold(np.ones((2, 3)), np.array([[np.nan, 1, 1]]), np.ones((2, 3))),
     "x_train has 1 non-finite entries"),
    (lambda: st.pixel_interpolation(np.ones((2, 3)), np.ones((3, 3)), [0.0, 1.0]),
     "x_source has 2 rows and x_target 3"),
    (lambda: st.pixel_interpolation(np.ones((2, 3)), np.ones(4), [0.0, 1.0]),
     "x_target has 4 columns but the data dimension of x_source is d = 3"),
    (lambda: st.pixel_interpolation(np.ones(3), np.ones(3), [-1.0, 1.0]),
     r"a_grid must start at >= 0 .* a_grid\[0\] = -1"),
    (lambda: st.pixel_interpolation(np.ones(3), np.ones(3), [1.0, 0.5]),
     "a_grid must be strictly increasing"),
])
def test_bad_input_is_named(call, message):
  with pytest.raises(ValueError, match=message):
    call()


def test_random_monotone_paths_lie_between_the_jump_and_the_ramp():
  """Any path rising from P = 0 at a_0 to P = 1 at a_max on the uniform grid A: its max slope lies in
  [1/(a_max − a_0), 1/Δa] (the ramp's and the jump's: the mean slope is 1/(a_max − a_0) and no step
  rises by more than 1), its jump share in [1, L − 1] (ramp, jump), its width >= 0.8 Δa (the jump's;
  width >= 0.8 / max slope). The ramp is not the widest path: one that lingers at P = 0.1 is wider,
  so the test claims no upper bound on the width."""
  rng = np.random.default_rng(4)
  raw = np.cumsum(rng.exponential(size=(LEVELS - 1, 200)) ** 3, 0)  # heavy tails: jumpy and even
  prob = np.vstack([np.zeros((1, 200)), raw / raw[-1]])
  m = st.transition_metrics(A, prob)
  ref = st.transition_metrics(A, _jump_and_ramp())  # [jump, ramp]
  tol = 1e-12  # relative, float64 (module docstring)
  assert np.all(m["max_slope"] >= ref["max_slope"][1] * (1 - tol))
  assert np.all(m["max_slope"] <= ref["max_slope"][0] * (1 + tol))
  assert np.all(m["jump_share_even"] >= ref["jump_share_even"][1] * (1 - tol))
  assert np.all(m["jump_share_even"] <= ref["jump_share_even"][0] * (1 + tol))
  ok = np.isfinite(m["width_10_90"])
  assert ok.mean() > 0.9  # nearly every path crosses 0.1 from below (P_0 = 0 < 0.1)
  assert np.all(m["width_10_90"][ok] >= ref["width_10_90"][0] * (1 - 1e-10))
  # the sample holds paths near both extremes, so the bounds are not vacuous
  assert m["jump_share_even"].max() > 0.8 * (LEVELS - 1) and m["jump_share_even"].min() < 3


def test_guard_on_keeps_the_on_manifold_levels_in_order():
  """guard="on" equals the metrics of the on-manifold levels computed directly on that sub-grid; a
  path that starts off the manifold keeps nothing when stopped and its on levels when guarded."""
  prob = _jump_and_ramp()
  on = np.ones_like(prob, dtype=bool)
  on[:2, 0] = False  # the jump starts off the manifold (like a scaled copy) and is steered onto it
  on[[3, 7, 8], 1] = False  # the ramp leaves twice
  prob[[3, 7], 1] = np.nan  # not read
  m = st.transition_metrics(A, prob, manifold=on, guard="on")
  np.testing.assert_array_equal(m["levels_kept"], [LEVELS - 2, LEVELS - 3])
  for j in range(2):  # crossings: interpolation between consecutive kept levels, as on a sub-grid
    rows = np.flatnonzero(on[:, j])
    ref = st.transition_metrics(A[rows], prob[rows, j:j + 1])
    for name in ("a_10", "a_90", "width_10_90", "reached_90"):
      np.testing.assert_array_equal(m[name][j], ref[name][0], err_msg=name)
  # The jump (kept levels 2 … 10, contiguous) is the sub-grid path in every metric: one jump in 8 steps.
  np.testing.assert_allclose(m["jump_share_even"][0], 8, rtol=RTOL)
  np.testing.assert_allclose(m["max_slope"][0], 1 / DA, rtol=RTOL)
  # The even ramp with gaps: only its steps between adjacent kept levels (0-1, 1-2, 4-5, 5-6, 9-10)
  # count, all of ΔP = Δa = 0.1, so it still moves evenly (jump share 1) at slope 1; the sub-grid
  # steps across the gaps (2→4, 6→9) would have made it look jumpy (largest 0.3 of 1.0 in 7 steps:
  # 2.1).
  np.testing.assert_allclose([m["jump_share_even"][1], m["max_slope"][1]], [1.0, 1.0], rtol=1e-12)
  np.testing.assert_allclose(ref["jump_share_even"][0], 2.1, rtol=1e-12)
  stopped = st.transition_metrics(A, prob, manifold=on)  # guard="stop" is the default
  np.testing.assert_array_equal(stopped["levels_kept"], [0, 3])
  assert not stopped["reached_90"][0] and m["reached_90"][0]


def test_reached_counts_a_path_that_starts_above_the_level():
  """A path at P = 1 throughout has no 0.9 crossing (it starts above) but has reached 0.9; a path
  that stays at 0.5 has neither."""
  prob = np.stack([np.ones(LEVELS), np.full(LEVELS, 0.5)], 1)
  m = st.transition_metrics(A, prob)
  np.testing.assert_array_equal(m["crossed_90"], [False, False])
  np.testing.assert_array_equal(m["reached_90"], [True, False])


def test_the_steering_window_leaves_the_model_exact_outside_it():
  """With window (lo, hi) the steered denoiser equals the model's own denoiser exactly at σ outside
  [lo, hi] and the unwindowed steered one exactly inside (the term is multiplied by 0 or 1, both
  exact in floating point); at both edges σ = lo and σ = hi it steers."""
  import jax
  import jax.numpy as jnp

  from dae_theory import diffusion

  params = diffusion.init_params(jax.random.key(0), 6, 4)
  params = params._replace(a2=0.3 * jax.random.normal(jax.random.key(1), params.a2.shape),
                           skip=jnp.asarray(0.2, jnp.float32))
  y = jax.random.normal(jax.random.key(2), (6, 6))
  sigma = jnp.asarray([0.05, 0.5, 0.9, 2.0, 2.5, 0.49], jnp.float32)
  inside = np.array([False, True, True, True, False, False])
  v = jnp.abs(jax.random.normal(jax.random.key(3), (4,)))
  windowed = np.asarray(st.steered_diffusion_denoiser(params, v, 1.7, window=(0.5, 2.0))(y, sigma))
  steered = np.asarray(st.steered_diffusion_denoiser(params, v, 1.7)(y, sigma))
  plain = np.asarray(diffusion.denoise(params, y, sigma))
  np.testing.assert_array_equal(windowed[inside], steered[inside])
  np.testing.assert_array_equal(windowed[~inside], plain[~inside])
  assert np.all(np.abs(steered - plain).max(1) > 0)  # the steering term is not zero


@pytest.mark.parametrize("window,message", [
    ((0.5,), "window must be a pair"),
    ((2.0, 0.5), r"0 <= sigma_lo < sigma_hi \(finite\), got \(2.0, 0.5\)"),
    ((-0.1, 1.0), "0 <= sigma_lo < sigma_hi"),
    ((0.1, np.inf), "0 <= sigma_lo < sigma_hi"),
])
def test_bad_windows_are_named(window, message):
  with pytest.raises(ValueError, match=message):
    st.window_bounds(window)


def test_seed_bootstrap_counts_each_model_once():
  """Seeds with constant values 0 and 1: the mean is 0.5 and the resample means take 0, 0.5, 1 with
  probabilities 1/4, 1/2, 1/4, so the 95% interval is [0, 1] (P(no 0 among 1000 resamples) = 0.75¹⁰⁰⁰).
  A seed's value is the mean of its finite paths: [0, NaN, NaN] and [1, 1, 1] give 0.5, not the pooled
  0.25 · 0 + 0.75 · 1; an all-NaN seed is left out; no value at all gives NaN."""
  iv = st.seed_bootstrap(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), n_boot=1000)
  assert (iv.mean, iv.lo, iv.hi, iv.seeds_used, iv.paths_used) == (0.5, 0.0, 1.0, 2, 6)
  iv = st.seed_bootstrap(np.array([[0.0, np.nan, np.nan], [1.0, 1.0, 1.0]]))
  assert iv.mean == 0.5 and iv.paths_used == 4
  iv = st.seed_bootstrap(np.array([[np.nan, np.nan], [1.0, 3.0]]))
  assert (iv.mean, iv.seeds_used, iv.lo, iv.hi) == (2.0, 1, 1.0, 3.0)
  assert np.isnan(st.seed_bootstrap(np.full((2, 3), np.nan)).mean)


def test_seed_bootstrap_interval_is_driven_by_the_seeds():
  """Five seeds whose path values are their seed offset plus small noise: the interval spans the seeds'
  spread (it is wider than the within-seed one by about the ratio of the spreads) and contains the
  mean. Monte Carlo coverage over 200 replicate experiments with a known mean of 0: the percentile
  interval of 5 seeds under-covers (t-quantile and (S−1)/S ignored), so the rate is checked in
  [0.7, 1] rather than at 0.95 (binomial s.e. of 200 draws at 0.85: 0.025)."""
  rng = np.random.default_rng(5)
  vals = rng.normal(size=(5, 1)) + 0.01 * rng.normal(size=(5, 40))
  iv = st.seed_bootstrap(vals, n_boot=2000, seed=1)
  assert iv.lo <= iv.mean <= iv.hi
  assert iv.hi - iv.lo > 20 * 0.01 * 2 * 1.96 / np.sqrt(200)  # far wider than the paths alone give
  hits = 0
  for r in range(200):
    v = rng.normal(size=(5, 1)) + rng.normal(size=(5, 10))
    b = st.seed_bootstrap(v, n_boot=400, seed=r)
    hits += b.lo <= 0.0 <= b.hi
  assert 0.7 <= hits / 200 <= 1.0, hits


@pytest.mark.parametrize("values,kwargs,message", [
    (np.ones(3), {}, r"values must have shape \(seeds, paths\)"),
    (np.ones((0, 3)), {}, r"values must have shape \(seeds, paths\) with both >= 1"),
    (np.array([[1.0, np.inf]]), {}, "values must be finite or NaN"),
    (np.ones((2, 2)), dict(n_boot=0), "n_boot must be an integer >= 1"),
    (np.ones((2, 2)), dict(level=1.0), r"level must lie in \(0, 1\)"),
])
def test_seed_bootstrap_bad_input_is_named(values, kwargs, message):
  with pytest.raises(ValueError, match=message):
    st.seed_bootstrap(values, **kwargs)
