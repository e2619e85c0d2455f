"""Certified quantities are never silently wrong (issue 14, item 4, and item 3's bad-data cases).

Two kinds of tests:

- **Refusals.** Every input outside a formula's hypotheses (σ ≤ 0 where a bound divides by σ, nλ ≥
  ‖x‖², negative λ, NaN/inf anywhere, bad labels or unit blocks, a zero row, acute data, a width
  above a cluster's numerical rank, 1-D / empty / transposed / float16 x, non-integer widths) raises
  a ``ValueError`` whose message names the argument and the rule; a legitimate "no" computed in
  float32 (the Hessian certificate) warns that round-off may hide it.
- **Pins.** The formulas that mutation testing showed under-tested are pinned to independent
  computations: the cross-talk bound's ``eps`` and ``bound`` to a NumPy float64 evaluation of docs/theory.md §4
  (Cauchy–Schwarz factor 2, ‖W₂‖²_op squared), the Hessian certificate at data scale 1e-3 (its
  zero-mode threshold must be relative), and the paper's margin γ to a hand computation (the /2 of
  its β-term; s is the square root of the shrinkage).

Everything is small (d ≤ 8, n ≤ 40) so the file runs in seconds.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from dae_theory import bounds, checks, constructions, data, loss, masks, metrics, model

SIGMA, LAM = 0.2, 1e-4


def _mixture(seed=0, clusters=3, per_cluster=10, d=6, rank=1, mean_norm=4.0, spread=0.5):
  return data.gaussian_mixture(jax.random.key(seed), clusters, per_cluster, d, rank, mean_norm,
                               spread)[0]


@pytest.fixture(scope="module")
def case():
  """A small float64 mixture (3 clusters of 10 in d = 6, covariance rank 1) and its Eq. 8 construction
  with p_k = 2 (the Gram rank of each cluster: mean + one spread direction)."""
  with jax.enable_x64(True):
    ds = _mixture()
    con = constructions.generalization_weights(ds.x, ds.labels, 2, SIGMA, LAM)
  return ds, con


@pytest.fixture(scope="module")
def mem():
  with jax.enable_x64(True):
    return data.obtuse_samples(jax.random.key(1), 5, 8, (1.0, 2.0))


# ----------------------------------------------------------------------------------------------
# σ ≤ 0 where a formula divides by σ
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, -0.3])
def test_crosstalk_bound_refuses_nonpositive_sigma(x64, case, sigma):
  """At σ = 0 the formula returned a bound of 0 whatever the cross-talk (issue: 0 vs a true gap 8.13)."""
  ds, con = case
  with pytest.raises(ValueError, match=r"sigma must be > 0 \(the bound's margins t_j divide by "
                                       r"sigma\*\|\|w_j\|\|; at sigma = 0 it would read 0"):
    loss.crosstalk_bound(con.params, ds.x, ds.labels, con.unit_block, sigma)


@pytest.mark.parametrize("fn", ["flip_probabilities", "normalized_margins"])
@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_flip_probabilities_and_margins_refuse_nonpositive_sigma(x64, case, fn, sigma):
  """They returned probabilities 0 and margins +inf at σ = 0."""
  ds, con = case
  with pytest.raises(ValueError, match=r"sigma must be > 0 \(the margins are in units of the noise "
                                       r"std.*every flip probability would read 0"):
    getattr(masks, fn)(con.params, ds.x, ds.labels, con.unit_block, sigma)


# ----------------------------------------------------------------------------------------------
# λ: nλ ≥ ‖x‖², negative, NaN / inf; NaN / inf σ
# ----------------------------------------------------------------------------------------------


def test_memorization_loss_refuses_decay_above_a_sample_norm(x64, mem):
  """It returned a negative loss (-14.4) where the construction itself is refused: now both refuse."""
  lam = 1.0  # n lambda = 5 > ||x_i||^2 <= 4
  with pytest.raises(ValueError, match=r"Cor. 3.2 \(Eq. 9\) needs n\*lambda < min_i \|\|x_i\|\|\^2, "
                                       r"but n\*lambda = 5 >= \|\|x_\d\|\|\^2"):
    bounds.memorization_loss(mem.x, SIGMA, lam)
  with pytest.raises(ValueError, match=r"n\*lambda < min_i"):
    constructions.memorization_weights(mem.x, SIGMA, lam)


def _calls_with_lam(ds, con, mem, lam):
  return {
      "memorization_weights": lambda: constructions.memorization_weights(mem.x, SIGMA, lam),
      "generalization_weights": lambda: constructions.generalization_weights(ds.x, ds.labels, 2,
                                                                             SIGMA, lam),
      "hybrid_weights": lambda: constructions.hybrid_weights(ds.x, ds.labels, 2, SIGMA, lam),
      "memorization_loss": lambda: bounds.memorization_loss(mem.x, SIGMA, lam),
      "decomposed_loss": lambda: loss.decomposed_loss(con.params, ds.x, ds.labels, con.unit_block,
                                                      SIGMA, lam),
      "hessian_certificate": lambda: bounds.hessian_certificate(con.params, ds.x, ds.labels,
                                                                con.unit_block, SIGMA, lam),
      "dae_loss_mc": lambda: loss.dae_loss_mc(jax.random.key(0), con.params, ds.x, SIGMA, lam, 10),
      "linear_ae_minimizer": lambda: constructions.linear_ae_minimizer(ds.x, 2, SIGMA, lam),
  }


_LAM_CALLS = ["memorization_weights", "generalization_weights", "hybrid_weights",
              "memorization_loss", "decomposed_loss", "hessian_certificate", "dae_loss_mc",
              "linear_ae_minimizer"]


@pytest.mark.parametrize("fn", _LAM_CALLS)
def test_negative_lambda_is_refused_everywhere(x64, case, mem, fn):
  """A negative λ was accepted (shrinkage up to 9.1: the penalty rewards large weights)."""
  ds, con = case
  with pytest.raises(ValueError, match=r"(lam|lam_prime) must be >= 0 \(.*\), got -0.01"):
    _calls_with_lam(ds, con, mem, -0.01)[fn]()


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("which", ["sigma", "lam"])
def test_nan_or_inf_sigma_and_lambda_are_refused(x64, case, mem, value, which):
  """NaN σ or λ gave all-NaN weights."""
  ds, con = case
  s, lam = (value, LAM) if which == "sigma" else (SIGMA, value)
  calls = [
      lambda: constructions.memorization_weights(mem.x, s, lam),
      lambda: constructions.generalization_weights(ds.x, ds.labels, 2, s, lam),
      lambda: loss.decomposed_loss(con.params, ds.x, ds.labels, con.unit_block, s, lam),
      lambda: bounds.memorization_loss(mem.x, s, lam),
  ]
  for call in calls:
    with pytest.raises(ValueError, match=rf"{which} must be a finite number >= 0 .*got {value}"):
      call()
  if which == "sigma":
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0"):
      loss.crosstalk_bound(con.params, ds.x, ds.labels, con.unit_block, s)


# ----------------------------------------------------------------------------------------------
# Data: NaN / inf, integer, float16, 1-D, empty, transposed, zero row
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_refused(x64, case, mem, bad):
  """NaN in x gave alpha = beta = NaN and NaN weights."""
  ds, con = case
  x_bad = np.asarray(ds.x).copy()
  x_bad[3, 2] = bad
  m_bad = np.asarray(mem.x).copy()
  m_bad[1, 0] = bad
  msg = r"x has 1 non-finite entries \(NaN or inf\), the first at row \d, column \d"
  calls = [
      lambda: constructions.memorization_weights(m_bad, SIGMA, LAM),
      lambda: constructions.generalization_weights(x_bad, ds.labels, 2, SIGMA, LAM),
      lambda: data.separability(x_bad, ds.labels),
      lambda: loss.crosstalk_bound(con.params, x_bad, ds.labels, con.unit_block, SIGMA),
      lambda: bounds.memorization_loss(m_bad, SIGMA, LAM),
      lambda: masks.stability_radius(con.params, x_bad),
  ]
  for call in calls:
    with pytest.raises(ValueError, match=msg):
      call()


def test_non_finite_weights_are_refused(x64, case):
  ds, con = case
  bad = model.DAEParams(con.params.w1.at[0, 0].set(jnp.nan))
  with pytest.raises(ValueError, match=r"params.w1 has 1 non-finite entries .*no bound can be certified"):
    loss.crosstalk_bound(bad, ds.x, ds.labels, con.unit_block, SIGMA)


def test_integer_data_is_cast_to_float_explicitly(x64):
  """Integer x used to give all-zero *integer* weights; it is now cast to the default float dtype
  (float64 here, under x64) and gives exactly the weights of the same data passed as floats."""
  x_int = np.array([[3, 0, 0], [-1, 2, 0], [-1, -1, 2]])  # pairwise cosines -0.45, -0.41, -0.18 < 0
  got = constructions.memorization_weights(x_int, SIGMA, 1e-3)
  ref = constructions.memorization_weights(x_int.astype(np.float64), SIGMA, 1e-3)
  assert got.params.w1.dtype == jnp.float64
  np.testing.assert_array_equal(np.asarray(got.params.w1), np.asarray(ref.params.w1))
  assert float(jnp.min(jnp.linalg.norm(got.params.w1, axis=0))) > 0.9  # not all-zero
  assert checks.check_data(np.ones((2, 2), np.int32)).dtype == jnp.float64


def test_float16_data_is_refused(x64, case, mem):
  ds, _ = case
  with pytest.raises(ValueError, match=r"x has dtype float16: the theory core computes in float32 "
                                       r"or float64 .*Pass x.astype\(np.float32\)"):
    constructions.memorization_weights(np.asarray(mem.x, np.float16), SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x has dtype float16"):
    constructions.generalization_weights(jnp.asarray(ds.x, jnp.float16), ds.labels, 2, SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x has dtype bfloat16"):
    data.separability(jnp.asarray(ds.x, jnp.bfloat16), ds.labels)


def test_one_dimensional_and_empty_data_are_refused(x64):
  """They gave unpacking / reduction / index errors."""
  with pytest.raises(ValueError, match=r"x must have shape \(n, d\) with one sample per row, got "
                                       r"shape \(3,\) \(one sample\? pass x\[None\]"):
    constructions.memorization_weights(np.array([1.0, 2.0, 3.0]), SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x is empty: shape \(0, 3\)"):
    constructions.memorization_weights(np.zeros((0, 3)), SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x is empty: shape \(0, 3\)"):
    constructions.generalization_weights(np.zeros((0, 3)), np.zeros(0, int), 1, SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x is empty"):
    data.separability(np.zeros((0, 3)), np.zeros(0, int))


def test_transposed_data_is_recognised(x64, case, mem):
  """x given as (d, n): named as transposed wherever the shapes tell (labels' length, W1's d, or
  more samples than pairwise-obtuse points can exist)."""
  ds, con = case
  with pytest.raises(ValueError, match=r"x has shape \(6, 30\) and labels has 30 entries: x looks "
                                       r"transposed, pass one sample per row, shape \(n, d\) = \(30, 6\)"):
    constructions.generalization_weights(ds.x.T, ds.labels, 2, SIGMA, LAM)
  with pytest.raises(ValueError, match=r"x has shape \(6, 30\) but the data dimension of params.w1 "
                                       r"is d = 6: x looks transposed"):
    loss.crosstalk_bound(con.params, ds.x.T, ds.labels, con.unit_block, SIGMA)
  with pytest.raises(ValueError, match=r"x has 5 columns but the data dimension of params.w1 is d = 6"):
    loss.crosstalk_bound(con.params, ds.x[:, :5], ds.labels, con.unit_block, SIGMA)
  with pytest.raises(ValueError, match=r"8 pairwise-obtuse samples cannot exist in d = 5 .*pass x.T"):
    constructions.memorization_weights(mem.x.T, SIGMA, 0.0)


def test_stability_radius_refuses_a_zero_row(x64, case):
  """δ* was NaN: it divides by ‖x_i‖."""
  ds, con = case
  with pytest.raises(ValueError, match=r"x has 1 all-zero row\(s\), e.g. row\(s\) \[4\]; the "
                                       r"stability radius divides by \|\|x_i\|\|"):
    masks.stability_radius(con.params, ds.x.at[4].set(0.0))
  with pytest.raises(ValueError, match=r"all-zero row"):
    masks.balanced_slack(con.params, ds.x.at[4].set(0.0), ds.labels, con.unit_block)


# ----------------------------------------------------------------------------------------------
# Labels and unit blocks
# ----------------------------------------------------------------------------------------------


def _bad_labels(labels, kind):
  lab = np.asarray(labels)
  if kind == "gap":  # {0, 1, 2} -> {0, 2, 5}
    return np.array([0, 2, 5])[lab]
  if kind == "negative":
    return np.where(np.arange(len(lab)) == 0, -1, lab)
  if kind == "float":
    return lab.astype(np.float64)
  raise AssertionError(kind)


_LABEL_MSG = {
    "gap": r"labels must take every value 0 … M-1 \(contiguous cluster ids, each present\); got "
           r"values \[0, 2, 5\], so cluster\(s\) \[1, 3, 4\] have no sample",
    "negative": r"labels must be cluster ids >= 0 \(0 … M-1\), got -1 at sample 0; a negative label "
                r"would silently drop the sample",
    "float": r"labels must be integers \(cluster ids 0 … M-1\), got dtype float64",
}
_LABEL_FNS = ["crosstalk_bound", "decomposed_loss", "surrogate_per_sample", "activation_pattern",
              "signed_margins", "balanced_slack", "block_masks", "generalization_weights",
              "separability", "learned_allocation"]


def _label_call(fn, ds, con, labels):
  p, x, ub = con.params, ds.x, con.unit_block
  return {
      "crosstalk_bound": lambda: loss.crosstalk_bound(p, x, labels, ub, SIGMA),
      "decomposed_loss": lambda: loss.decomposed_loss(p, x, labels, ub, SIGMA, LAM),
      "surrogate_per_sample": lambda: loss.surrogate_per_sample(p, x, labels, ub, SIGMA),
      "activation_pattern": lambda: masks.activation_pattern(p, x, labels, ub),
      "signed_margins": lambda: masks.signed_margins(p, x, labels, ub),
      "balanced_slack": lambda: masks.balanced_slack(p, x, labels, ub),
      "block_masks": lambda: loss.block_masks(labels, ub),
      "generalization_weights": lambda: constructions.generalization_weights(x, labels, 2, SIGMA,
                                                                             LAM),
      "separability": lambda: data.separability(x, labels),
      "learned_allocation": lambda: metrics.learned_allocation(p, x, labels),
  }[fn]


@pytest.mark.parametrize("fn", _LABEL_FNS)
@pytest.mark.parametrize("kind", ["gap", "negative", "float"])
def test_bad_labels_are_refused(x64, case, fn, kind):
  """Labels {0, 2, 5} were accepted by crosstalk_bound; a label -1 dropped the sample out of the
  decomposed loss and reported it as agreeing."""
  ds, con = case
  ub = con.unit_block
  if kind == "gap":  # keep the unit blocks consistent with the relabelled clusters
    con = con._replace(unit_block=np.array([0, 2, 5])[ub])
  with pytest.raises(ValueError, match=_LABEL_MSG[kind]):
    _label_call(fn, ds, con, _bad_labels(ds.labels, kind))()


@pytest.mark.parametrize("fn", ["crosstalk_bound", "decomposed_loss", "activation_pattern",
                                "block_masks"])
def test_float_unit_block_is_refused(x64, case, fn):
  """A float unit_block was silently 'unassigned' (no unit matched any cluster)."""
  ds, con = case
  con = con._replace(unit_block=con.unit_block.astype(np.float64))
  with pytest.raises(ValueError, match=r"unit_block must be integers \(the cluster of each unit, "
                                       r"-1 = none\), got dtype float64"):
    _label_call(fn, ds, con, ds.labels)()


# ----------------------------------------------------------------------------------------------
# Widths, ids and other integer arguments
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("widths,msg", [
    (2.5, r"widths must be an int \(one width for every cluster\) or a sequence of ints, got 2.5"),
    ([1, 2.0, 1], r"widths\[1\] must be an integer >= 0 \(a number of units\), got 2.0 \(float\)"),
    ([1, -1, 1], r"widths\[1\] must be an integer >= 0 \(a number of units\), got -1"),
    ([1, True, 1], r"widths\[1\] must be an integer >= 0 .*got True \(bool\)"),
])
def test_non_integer_widths_are_refused(x64, case, widths, msg):
  """A float width raised a raw TypeError, or was truncated by int() (2.7 -> 2)."""
  ds, _ = case
  with pytest.raises(ValueError, match=msg):
    constructions.generalization_weights(ds.x, ds.labels, widths, SIGMA, LAM)


def test_non_integer_memorization_width_is_refused(x64, mem):
  with pytest.raises(ValueError, match=r"width must be an integer >= 0 \(a number of units\), got 7.5"):
    constructions.memorization_weights(mem.x, SIGMA, LAM, width=7.5)


@pytest.mark.parametrize("widths,msg", [
    ([-1, 2, 2], r"widths\[0\] must be an integer >= 0 \(a number of units\), got -1"),
    ([1.5, 2, 2], r"widths\[0\] must be an integer >= 0 .*got 1.5 \(float\)"),
    ([7, 2, 2], r"widths\[0\] = 7 exceeds the dimension d = 6"),
])
def test_cor33_limits_refuses_bad_widths(x64, widths, msg):
  """A width of -1 was accepted (it silently kept all but the last eigenvalue)."""
  mix = data.gaussian_mixture_params(jax.random.key(0), 3, 6, 1, 3.0, 0.5)
  with pytest.raises(ValueError, match=msg):
    bounds.cor33_limits(mix, widths, 0.3)
  with pytest.raises(ValueError, match=r"sigma must be > 0"):
    bounds.cor33_limits(mix, [1, 1, 1], 0.0)


def test_hybrid_duplicated_out_of_range_is_refused(x64, case):
  """duplicated=[7] on 3 clusters gave an IndexError."""
  ds, _ = case
  with pytest.raises(ValueError, match=r"duplicated must list cluster ids in 0 … 2 \(labels have "
                                       r"M = 3 clusters\), got \[7\]"):
    constructions.hybrid_weights(ds.x, ds.labels, 2, SIGMA, LAM, duplicated=[7])
  with pytest.raises(ValueError, match=r"duplicated\[0\] must be an integer >= 0 \(a cluster id\)"):
    constructions.hybrid_weights(ds.x, ds.labels, 2, SIGMA, LAM, duplicated=[0.0])


def test_hybrid_with_only_duplicated_clusters(x64):
  """Every cluster duplicated (no mode): widths is empty; this gave min() of an empty sequence."""
  x = np.repeat(np.array([[2.0, 0.0], [-1.0, 1.5]]), 3, axis=0)
  con = constructions.hybrid_weights(x, np.repeat([0, 1], 3), [], SIGMA, LAM)
  np.testing.assert_array_equal(con.unit_block, [0, 1])


def test_width_above_the_numerical_rank_is_refused_at_zero_decay(x64, case):
  """At λ = 0 a width above a cluster's rank got an arbitrary null direction (eigenvalue ~1e-30 and a
  basis that the SVD leaves free); it is refused, and the allocation helper clips to the usable rank."""
  ds, _ = case
  with pytest.raises(ValueError, match=r"cluster 0: Eq. 8: width p = 3 exceeds the numerical rank 2 "
                                       r"of the Gram matrix \(n=10 samples in d=6\).*arbitrary vector "
                                       r"of the null space"):
    constructions.generalization_weights(ds.x, ds.labels, 3, SIGMA, 0.0)
  con = constructions.construction_for_allocation(ds.x, ds.labels, np.repeat([0, 1, 2], 3), SIGMA,
                                                  0.0)
  np.testing.assert_array_equal(np.bincount(con.unit_block), [2, 2, 2])
  assert constructions.usable_rank(ds.x[:10], 30, 0.0) == 2


def test_width_above_the_numerical_rank_is_refused_in_float32(case):
  """The tolerance uses the data dtype's eps: rank-2 data rounded to float32 are full rank at the 1e-7
  level, and that level is still recognised as round-off."""
  ds, _ = case
  x32 = np.asarray(ds.x, np.float32)
  with pytest.raises(ValueError, match=r"exceeds the numerical rank 2 .*round-off for float32 data"):
    constructions.generalization_weights(x32, ds.labels, 3, SIGMA, 0.0)


# ----------------------------------------------------------------------------------------------
# Bounds: distance bound, paper margin
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps_total,m0,msg", [
    (-0.1, 1.0, r"eps_total must be >= 0 \(a sum of cross-talk bounds on \|L - L_dec\|\), got -0.1"),
    (np.nan, 1.0, r"eps_total must be a finite number >= 0"),
    (0.1, 0.0, r"m0 must be > 0 \(strong convexity modulo symmetry\), got 0.0"),
    (0.1, np.nan, r"m0 must be a finite number > 0"),
])
def test_distance_bound_refuses_negative_eps_and_bad_m0(eps_total, m0, msg):
  """A negative ε returned NaN."""
  with pytest.raises(ValueError, match=msg):
    bounds.distance_bound(eps_total, m0)


def test_paper_margin_refuses_acute_data(x64, case):
  """Acute data (β ≥ 0) returned a large positive γ through abs(beta)."""
  ds, con = case
  with pytest.raises(ValueError, match=r"paper_margin needs pairwise-obtuse cluster means \(beta < 0,"
                                       r" Definition 3.1; the hypothesis of Theorem D.2\), got beta = "
                                       r"0.9\d* >= 0"):
    bounds.paper_margin(ds.x + 10.0, ds.labels, con)


# ----------------------------------------------------------------------------------------------
# Hessian certificate: float32 warning, relative threshold
# ----------------------------------------------------------------------------------------------


def _saddle(x, labels, sigma, lam):
  """Keep each cluster's 2nd eigenvector instead of the 1st: zero gradient, a negative eigenvalue."""
  n, cols = x.shape[0], []
  for k in range(int(np.max(labels)) + 1):
    xk = x[np.asarray(labels) == k]
    u, lam_eig = constructions.top_eigenpairs(xk, 2)
    s = (lam_eig[1] - n * lam) / (lam_eig[1] + xk.shape[0] * sigma**2)
    cols.append(u[:, 1:2] * jnp.sqrt(s))
  return model.DAEParams(jnp.concatenate(cols, 1))


def _two_clusters(case, dtype):
  ds, _ = case
  keep = np.asarray(ds.labels) < 2
  return np.asarray(ds.x, dtype)[keep], np.asarray(ds.labels)[keep]


def test_hessian_certificate_warns_when_float32_says_no(case):
  """float32 round-off (~1e-7 × max) sits above rel_tol = 1e-8: a 'not certified' computed in float32
  is warned as possibly round-off, with the float64 remedy. At the construction (certified in float64,
  see test_bounds) float32 either certifies or warns; at a saddle it must say no, and warn."""
  x, labels = _two_clusters(case, np.float32)
  con = constructions.generalization_weights(x, labels, 2, SIGMA, LAM)
  assert con.params.w1.dtype == jnp.float32
  with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    cert = bounds.hessian_certificate(con.params, x, labels, con.unit_block, SIGMA, LAM)
  warned = [w for w in rec if "float32 round-off" in str(w.message)]
  assert cert.certified or warned, (cert.n_zero, cert.expected_zero, cert.min_eigenvalue)
  params = _saddle(jnp.asarray(x), labels, SIGMA, LAM)
  with pytest.warns(UserWarning, match=r"hessian_certificate: not certified in float32 .*float32 "
                                       r"round-off .*may hide the certificate: rerun with float64 "
                                       r"inputs under jax.enable_x64\(True\)"):
    cert = bounds.hessian_certificate(params, x, labels, np.array([0, 1]), SIGMA, LAM)
  assert not cert.certified


def test_hessian_certificate_no_warning_for_a_float64_saddle(x64, case):
  """In float64 a 'no' is a legitimate answer: no warning."""
  x, labels = _two_clusters(case, np.float64)
  params = _saddle(jnp.asarray(x), labels, SIGMA, LAM)
  with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    cert = bounds.hessian_certificate(params, x, labels, np.array([0, 1]), SIGMA, LAM)
  assert not cert.certified and cert.min_eigenvalue < -cert.threshold
  assert not [w for w in rec if "hessian_certificate" in str(w.message)]


def test_hessian_certificate_is_scale_invariant_at_data_scale_1e3(x64):
  """x → c·x, σ → c·σ, λ → c²·λ leaves the construction unchanged and multiplies the decomposed loss,
  hence its Hessian, by c² exactly. At c = 1e-3 every eigenvalue is below 2e-5 and the smallest positive
  one near 3e-9 (measured 3.15e-9; spread 0.05 makes it small: it scales with the spread²), so the zero-mode threshold
  must be relative to the spectrum: an absolute one counts positive modes as zero."""
  ds = _mixture(clusters=2, per_cluster=20, d=4, mean_norm=2.0, spread=0.05)
  sigma, lam, c = 0.05, 1e-4, 1e-3
  ref_con = constructions.generalization_weights(ds.x, ds.labels, 2, sigma, lam)
  ref = bounds.hessian_certificate(ref_con.params, ds.x, ds.labels, ref_con.unit_block, sigma, lam)
  x = ds.x * c
  con = constructions.generalization_weights(x, ds.labels, 2, c * sigma, c**2 * lam)
  np.testing.assert_allclose(con.params.w1, ref_con.params.w1, rtol=1e-9, atol=1e-12)
  cert = bounds.hessian_certificate(con.params, x, ds.labels, con.unit_block, c * sigma, c**2 * lam)
  assert ref.certified and cert.certified, (cert.n_zero, cert.expected_zero, cert.m0)
  assert cert.n_zero == ref.n_zero == cert.expected_zero == 2  # one rotation per block of 2
  # The whole spectrum scales by c^2 (identity up to float64 round-off; the zero modes excluded).
  nonzero = np.abs(ref.eigenvalues) > ref.threshold
  np.testing.assert_allclose(cert.eigenvalues[nonzero], c**2 * ref.eigenvalues[nonzero], rtol=1e-8)
  np.testing.assert_allclose(cert.m0, c**2 * ref.m0, rtol=1e-8)
  assert np.abs(cert.eigenvalues).max() < 1e-4  # the scale at which an absolute threshold breaks


# ----------------------------------------------------------------------------------------------
# Pins: cross-talk bound against NumPy, paper margin against a hand computation
# ----------------------------------------------------------------------------------------------


def _numpy_crosstalk(w1, w2, x, labels, unit_block, sigma):
  """docs/theory.md §4 evaluated independently in float64 NumPy / SciPy, one sample and one unit at a time:
  ε_i = ‖W₂‖²_op Σ_j s_j² G(t_j), ℓ̂_i = ‖A_k x_i − x_i‖² + σ²‖A_k‖²_F, bound = mean(2√(ℓ̂ε) + ε)."""
  n, p = x.shape[0], w1.shape[1]
  op = np.linalg.svd(w2, compute_uv=False)[0]
  eps, sur = np.zeros(n), np.zeros(n)
  for i in range(n):
    k = labels[i]
    for j in range(p):
      s = sigma * np.linalg.norm(w1[:, j])
      if s == 0:
        continue
      m = float(x[i] @ w1[:, j])
      t = m / s if unit_block[j] == k else -m / s
      g = (1 + t**2) * stats.norm.cdf(-t) - t * stats.norm.pdf(t)
      eps[i] += s**2 * g
    eps[i] *= op**2
    a = w2 @ np.diag((unit_block == k).astype(float)) @ w1.T
    sur[i] = np.sum((a @ x[i] - x[i]) ** 2) + sigma**2 * np.sum(a**2)
  return eps, sur, float(np.mean(2 * np.sqrt(sur * eps) + eps)), op


def test_crosstalk_bound_is_pinned_to_an_independent_numpy_evaluation(x64):
  """eps and bound equal the NumPy evaluation to rtol 1e-10 (float64; G(t) loses about log10(t⁴/2)
  digits to cancellation in both, far from 1e-10 for the t here). Untied random weights with ‖W₂‖_op ≈ 2.6 (so ‖W₂‖_op and ‖W₂‖²_op differ),
  one zero unit and one unassigned unit; σ large enough that the Cauchy–Schwarz term 2√(ℓ̂ε) is a large
  part of the bound (so its factor 2 matters)."""
  rng = np.random.default_rng(0)
  n, d, p = 12, 5, 6
  x = rng.normal(size=(n, d)) + 1.0
  labels = np.arange(n) % 3
  unit_block = np.array([0, 0, 1, 2, 2, -1])
  w1 = rng.normal(size=(d, p)) / np.sqrt(d)
  w1[:, 4] = 0.0  # a dead unit: contributes nothing
  w2 = 2.5 * rng.normal(size=(d, p)) / np.sqrt(d)
  sigma = 0.7
  params = model.DAEParams(jnp.asarray(w1), jnp.asarray(w2))
  cb = loss.crosstalk_bound(params, jnp.asarray(x), labels, unit_block, sigma)
  eps, sur, bound, op = _numpy_crosstalk(w1, w2, x, labels, unit_block, sigma)
  assert op > 1.5  # so that ||W2||_op and ||W2||_op^2 differ
  assert np.mean(2 * np.sqrt(sur * eps)) > 0.3 * bound  # the Cauchy-Schwarz term matters here
  np.testing.assert_allclose(cb.eps, eps, rtol=1e-10)
  np.testing.assert_allclose(cb.surrogate, sur, rtol=1e-10)
  np.testing.assert_allclose(cb.bound, bound, rtol=1e-10)

def test_crosstalk_bound_of_a_construction_is_pinned_to_numpy(x64, case):
  """Tied weights (the Eq. 8 construction) at a σ where the margins are small (t_min < 3)."""
  ds, con = case
  sigma = 1.5
  cb = loss.crosstalk_bound(con.params, ds.x, ds.labels, con.unit_block, sigma)
  assert float(cb.t_min) < 3
  w = np.asarray(con.params.w1)
  eps, sur, bound, _ = _numpy_crosstalk(w, w, np.asarray(ds.x), np.asarray(ds.labels),
                                        con.unit_block, sigma)
  np.testing.assert_allclose(cb.surrogate, sur, rtol=1e-10)
  np.testing.assert_allclose(cb.eps, eps, rtol=1e-10)
  np.testing.assert_allclose(cb.bound, bound, rtol=1e-10)


def test_paper_margin_is_pinned_to_a_hand_computation(x64):
  """Two duplicated clusters in d = 2: x = (2, 0) twice and (-1/2, √3/2) twice (norms 2 and 1, cosine
  β = -1/2, α = 0), p_k = 1, n = 4, σ = 1/2, λ = 1/10. Eq. 8 with Λ_k = n_k‖x_k‖²:

      shrinkage s₀ = (8 - 0.4)/(8 + 2·0.25) = 76/85,   s₁ = (2 - 0.4)/(2 + 0.5) = 16/25,
      s_max = √(76/85), s_min = 4/5   (square roots of the shrinkage, not the shrinkage),
      cluster 0: 2 · min{4/5 · 1/1 - 0, s_max · (1/2)/2} = s_max/2,
      cluster 1: 1 · min{4/5, s_max/4} = s_max/4,
      γ = √(76/85)/4 = 0.23639...

  (the β-term is active, so dropping its /2 doubles γ; using the shrinkage for s gives 19/85)."""
  x = np.array([[2.0, 0.0], [2.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, np.sqrt(3) / 2]])
  labels = np.array([0, 0, 1, 1])
  con = constructions.generalization_weights(x, labels, 1, 0.5, 0.1)
  np.testing.assert_allclose(con.shrinkage, [76 / 85, 16 / 25], rtol=1e-12)
  pm = bounds.paper_margin(x, labels, con)
  np.testing.assert_allclose(pm.beta, -0.5, rtol=1e-12)
  assert pm.alpha == 0.0
  np.testing.assert_allclose([pm.s_min, pm.s_max], [0.8, np.sqrt(76 / 85)], rtol=1e-12)
  np.testing.assert_allclose(pm.per_cluster, [np.sqrt(76 / 85) / 2, np.sqrt(76 / 85) / 4],
                             rtol=1e-12)
  np.testing.assert_allclose(pm.gamma, np.sqrt(76 / 85) / 4, rtol=1e-12)


def test_paper_margin_first_term_is_pinned_to_numpy(x64):
  """A spread-out mixture where the first term s_min √(1-α²)/√p_k - s_max α is active, against α, β
  and the shrinkage from an independent float64 NumPy eigendecomposition."""
  ds = _mixture(seed=2, per_cluster=15, spread=0.5)
  sigma, lam = 0.5, 1e-4
  con = constructions.generalization_weights(ds.x, ds.labels, 2, sigma, lam)
  pm = bounds.paper_margin(ds.x, ds.labels, con)
  x, labels, n = np.asarray(ds.x), np.asarray(ds.labels), ds.x.shape[0]
  means = np.stack([x[labels == k].mean(0) for k in range(3)])
  norms = np.linalg.norm(means, axis=1)
  alpha = max(np.linalg.norm(x[i] - means[labels[i]]) / norms[labels[i]] for i in range(n))
  cos = (means / norms[:, None]) @ (means / norms[:, None]).T
  beta = cos[~np.eye(3, dtype=bool)].max()
  shrink = []
  for k in range(3):
    xk = x[labels == k]
    ev = np.sort(np.linalg.eigvalsh(xk.T @ xk))[::-1][:2]
    shrink += list((ev - n * lam) / (ev + len(xk) * sigma**2))
  s_min, s_max = np.sqrt(min(shrink)), np.sqrt(max(shrink))
  first = s_min * np.sqrt(1 - alpha**2) / np.sqrt(2) - s_max * alpha
  expect = norms * min(first, s_max * abs(beta) / 2)
  assert first < s_max * abs(beta) / 2  # the first term is the active one here
  np.testing.assert_allclose(pm.per_cluster, expect, rtol=1e-10)
  np.testing.assert_allclose(pm.gamma, expect.min(), rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# Checks are skipped under tracing (hot paths unchanged)
# ----------------------------------------------------------------------------------------------


def test_checks_skip_traced_arguments(x64, case):
  """Functions used both eagerly and under jit/grad still trace: σ traced in normalized_margins, the
  params traced by grad in decomposed_loss."""
  ds, con = case
  f = jax.jit(lambda s: masks.normalized_margins(con.params, ds.x, ds.labels, con.unit_block, s))
  np.testing.assert_allclose(f(0.5), masks.normalized_margins(con.params, ds.x, ds.labels,
                                                              con.unit_block, 0.5), rtol=1e-12)
  g = jax.grad(lambda p: loss.decomposed_loss(p, ds.x, ds.labels, con.unit_block, SIGMA, LAM))
  assert np.all(np.isfinite(np.asarray(g(con.params).w1)))
