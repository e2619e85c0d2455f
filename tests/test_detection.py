"""Tests of dae_theory.detection against brute-force ROC computations, with a user's plain callable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import detection


def _brute_auroc(labels, scores):
  """P(score of a random positive > score of a random negative) + 0.5 P(tie), by enumeration."""
  pos, neg = scores[labels == 1], scores[labels == 0]
  diff = pos[:, None] - neg[None, :]
  return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def _brute_tpr(labels, scores, fpr):
  """Best TPR over all thresholds "score >= t" whose FPR is <= fpr."""
  best = 0.0
  for t in np.r_[np.unique(scores), np.inf]:
    pred = scores >= t
    if np.mean(pred[labels == 0]) <= fpr:
      best = max(best, float(np.mean(pred[labels == 1])))
  return best


def test_auroc_and_tpr_match_brute_force():
  rng = np.random.default_rng(0)
  for _ in range(5):
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + 1.2 * labels
    scores[:20] = np.round(scores[:20])  # some ties
    assert detection.auroc(labels, scores) == pytest.approx(_brute_auroc(labels, scores), abs=1e-12)
    for fpr in (0.01, 0.1):
      assert detection.tpr_at_fpr(labels, scores, fpr) == pytest.approx(
          _brute_tpr(labels, scores, fpr), abs=1e-12)


def test_bootstrap_interval_covers_the_estimate_and_shrinks_with_data():
  rng = np.random.default_rng(1)
  widths = []
  for n in (100, 1600):
    labels = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    scores = rng.normal(size=n) + labels
    det = detection.evaluate(labels, scores, n_boot=300)
    assert det.auroc_ci[0] <= det.auroc <= det.auroc_ci[1]
    assert det.tpr_ci[0] <= det.tpr <= det.tpr_ci[1]
    widths.append(det.auroc_ci[1] - det.auroc_ci[0])
  # The interval width scales like 1/sqrt(n): 16x the data, about 4x narrower (allow 2.5x-6.5x).
  assert 2.5 < widths[0] / widths[1] < 6.5, widths


def test_scores_of_a_plain_callable_that_is_not_a_lab_model():
  """A user's NumPy function: one-hot codes for points near stored templates, flat codes elsewhere."""
  templates = np.eye(4, 8) * 3.0

  def rep(y):
    y = np.asarray(y)
    logits = 4.0 * y @ templates.T
    soft = np.exp(logits - logits.max(1, keepdims=True))
    return soft / soft.sum(1, keepdims=True)

  memorized = templates  # exactly the stored points
  novel = np.random.default_rng(0).normal(size=(4, 8)) * 0.1
  s = detection.code_scores(jax.random.key(0), rep, np.r_[memorized, novel], 0.05, draws=4)
  assert set(s) == set(detection.SCORES)
  labels = np.r_[np.ones(4), np.zeros(4)].astype(int)
  for name, v in s.items():
    assert v.shape == (8,)
    assert detection.auroc(labels, v) == 1.0, name


def test_std_score_is_the_population_std_of_the_code():
  rep = lambda y: jnp.abs(y)
  x = jnp.arange(12.0).reshape(2, 6)
  s = detection.code_scores(jax.random.key(0), rep, x, 1e-12, names=("std",))
  np.testing.assert_allclose(s["std"], np.std(np.abs(np.asarray(x)), axis=1), rtol=1e-5)


@pytest.mark.parametrize("labels,scores,message", [
    (np.ones(5, int), np.arange(5.0), "one class only"),
    (np.array([0, 1, 1]), np.arange(4.0), "same length"),
    (np.array([0, 2]), np.arange(2.0), "0 \\(novel\\) or 1"),
    (np.array([0, 1]), np.array([0.0, np.nan]), "not finite"),
])
def test_bad_labels_are_named(labels, scores, message):
  with pytest.raises(ValueError, match=message):
    detection.evaluate(labels, scores)


def test_bad_score_inputs_are_named():
  rep = lambda y: y
  with pytest.raises(ValueError, match="sigma must be > 0"):
    detection.code_scores(jax.random.key(0), rep, np.ones((2, 3)), 0.0)
  with pytest.raises(ValueError, match="samples must have shape"):
    detection.code_scores(jax.random.key(0), rep, np.ones(3), 0.1)
  with pytest.raises(ValueError, match="rep must map"):
    detection.code_scores(jax.random.key(0), lambda y: y.sum(1), np.ones((2, 3)), 0.1)
  with pytest.raises(ValueError, match="unknown scores"):
    detection.code_scores(jax.random.key(0), rep, np.ones((2, 3)), 0.1, names=("foo",))


def test_baselines_against_direct_computations():
  rng = np.random.default_rng(3)
  x_train = rng.normal(size=(7, 5))
  samples = rng.normal(size=(4, 5))
  brute = -np.array([min(np.linalg.norm(s - x) for x in x_train) for s in samples])
  np.testing.assert_allclose(detection.nearest_distance(samples, x_train), brute, rtol=1e-5)
  # A linear denoiser D(y) = A y: Jacobian A everywhere, error computed by hand.
  a = rng.normal(size=(5, 5)) * np.r_[1.0, 1.0, 0.0, 0.0, 0.0][:, None]  # rank 2
  den = lambda y, sig: y @ jnp.asarray(a, y.dtype).T
  key = jax.random.key(0)
  y = samples + 0.1 * np.asarray(jax.random.normal(key, samples.shape))
  err = -np.mean((y @ a.T - samples) ** 2, 1)
  np.testing.assert_allclose(detection.denoising_error(key, den, samples, 0.1), err, rtol=1e-4)
  sv = np.linalg.svd(a, compute_uv=False)
  np.testing.assert_allclose(detection.jacobian_rank(key, den, samples, 0.1),
                             -(sv.sum() ** 2 / (sv**2).sum()), rtol=1e-4)


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_boot=0), r"n_boot must be an integer >= 1, got 0"),
    (dict(n_boot=2.5), r"n_boot must be an integer >= 1, got 2.5"),
    (dict(fpr=-0.1), r"fpr must be a false-positive rate in \[0, 1\], got -0.1"),
    (dict(fpr=float("nan")), r"fpr must be a false-positive rate in \[0, 1\], got nan"),
    (dict(seed=-1), r"seed must be an integer >= 0, got -1"),
])
def test_bad_evaluate_arguments_are_named(kwargs, message):
  """Before: n_boot=0 gave NumPy's IndexError from an empty percentile, fpr < 0 a max() of an empty
  array, seed=-1 NumPy's own message."""
  labels = np.r_[np.ones(5), np.zeros(5)].astype(int)
  with pytest.raises(ValueError, match=message):
    detection.evaluate(labels, np.arange(10.0), **kwargs)


def test_other_bad_arguments_are_named():
  rep = lambda y: y
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="non-empty"):
    detection.auroc([], [])
  with pytest.raises(ValueError, match=r"fpr must be a false-positive rate"):
    detection.tpr_at_fpr(np.array([0, 1]), np.array([0.0, 1.0]), 1.5)
  with pytest.raises(ValueError, match="draws must be an integer >= 1, got 1.5"):
    detection.code_scores(key, rep, np.ones((2, 3)), 0.1, draws=1.5)
  with pytest.raises(ValueError, match=r"samples must have shape \(n, d\) with n, d >= 1"):
    detection.code_scores(key, rep, np.ones((0, 3)), 0.1)
  with pytest.raises(ValueError, match="x_train has d = 5 columns but the samples have d = 3"):
    detection.nearest_distance(np.ones((2, 3)), np.ones((4, 5)))
  # A single score name is one name (not its letters), and integer samples are scored as floats.
  s = detection.code_scores(key, rep, np.ones((2, 3), int), 0.1, names="std")
  assert set(s) == {"std"} and s["std"].dtype == np.float32


# --- Within-model detection with intervals over model seeds (hierarchical_bootstrap & co.) ---------

import functools  # noqa: E402

from scipy.stats import binom, norm  # noqa: E402


def _model(n_pos, n_neg, pos_scores, neg_scores):
  return (np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)], np.r_[pos_scores, neg_scores].astype(float))


PERFECT = _model(3, 5, [5.0, 6.0, 7.0], [0.0, 1.0, 2.0, 3.0, 4.0])      # AUROC 1, TPR@1% 1
TIED = _model(3, 5, np.zeros(3), np.zeros(5))                             # AUROC 0.5, TPR@1% 0
REVERSED = _model(2, 2, [0.0, 1.0], [2.0, 3.0])                           # AUROC 0
THREE_QUARTERS = _model(2, 2, [1.0, 3.0], [0.0, 2.0])                     # 3 of 4 pairs won: 0.75


def test_point_estimate_is_the_mean_of_known_per_model_values():
  """Known answer: per-model AUROCs 1, 0.5, 0 and 0.75 (by pair counting), so the estimate is
  exactly 2.25 / 4 = 0.5625 (sums of quarters are exact in floating point), inside its interval."""
  res = detection.hierarchical_bootstrap(0, [PERFECT, TIED, REVERSED, THREE_QUARTERS], n_boot=500)
  assert res.per_model.tolist() == [1.0, 0.5, 0.0, 0.75]
  assert res.estimate == 0.5625 and res.n_models == 4 and res.n_boot == 500
  assert res.ci[0] <= res.estimate <= res.ci[1] and res.ci[0] < res.ci[1]
  assert res.boot.shape == (500,) and res.skipped.tolist() == [0, 0, 0, 0]
  # The interval is the percentile interval of the resample values at the level, and se their std.
  np.testing.assert_allclose(res.ci, np.percentile(res.boot, [2.5, 97.5]), rtol=0, atol=1e-15)
  half = detection.hierarchical_bootstrap(0, [PERFECT, TIED, REVERSED, THREE_QUARTERS], n_boot=500,
                                          level=0.5)
  np.testing.assert_array_equal(half.boot, res.boot)
  np.testing.assert_allclose(half.ci, np.percentile(res.boot, [25, 75]), rtol=0, atol=1e-15)
  assert res.se == pytest.approx(np.std(res.boot), rel=1e-12)


@pytest.mark.parametrize("statistic,low,step", [
    (detection.auroc, 0.5, 0.125),                                  # 0.5 + K/8
    (functools.partial(detection.tpr_at_fpr, fpr=0.01), 0.0, 0.25),  # K/4
])
def test_the_model_level_resampling_has_its_exact_distribution(statistic, low, step):
  """Two perfectly separating and two tied models: every stratified inner draw of a separating model
  still separates (AUROC 1, TPR 1) and every draw of a tied one is still tied (0.5, TPR 0), so a
  resample's value is low + step·K with K ~ Binomial(4, 1/2) separating models drawn. The frequencies
  must match that pmf within 4 binomial standard errors of 4000 resamples, and the 95% percentile
  interval is exactly (low, low + 4 step) (P(K = 0) = 1/16 > 2.5%)."""
  n_boot = 4000
  res = detection.hierarchical_bootstrap(1, [PERFECT, PERFECT, TIED, TIED], statistic, n_boot=n_boot)
  k = np.round((res.boot - low) / step).astype(int)
  np.testing.assert_allclose(res.boot, low + step * k, atol=1e-12)
  freq = np.bincount(k, minlength=5) / n_boot
  pmf = binom.pmf(np.arange(5), 4, 0.5)
  assert np.all(np.abs(freq - pmf) <= 4 * np.sqrt(pmf * (1 - pmf) / n_boot)), (freq, pmf)
  assert res.ci == (low, low + 4 * step) and res.estimate == low + 2 * step


@pytest.mark.parametrize("stratify", [True, False])
def test_vectorized_statistics_equal_calling_them_on_each_resample(stratify):
  """The fast path (weighted ROC over resample counts) against a plain callable, which is called on
  each resampled (labels, scores): same seed, same draws, so equal up to float rounding (1e-12)."""
  rng = np.random.default_rng(2)
  models = []
  for n, rate in ((40, 0.3), (25, 0.2), (60, 0.5)):
    y = (rng.random(n) < rate).astype(int)
    y[:2] = (0, 1)
    s = rng.normal(size=n) + y
    s[: n // 3] = np.round(s[: n // 3])  # ties
    models.append((y, s))
  for fast, slow in [(detection.auroc, lambda y, s: detection.auroc(y, s)),
                     (detection.tpr_at_fpr, lambda y, s: detection.tpr_at_fpr(y, s)),
                     (functools.partial(detection.tpr_at_fpr, fpr=0.1),
                      lambda y, s: detection.tpr_at_fpr(y, s, 0.1))]:
    a = detection.hierarchical_bootstrap(3, models, fast, n_boot=60, stratify=stratify)
    b = detection.hierarchical_bootstrap(3, models, slow, n_boot=60, stratify=stratify)
    np.testing.assert_allclose(a.boot, b.boot, rtol=0, atol=1e-12)
    assert a.estimate == b.estimate and a.n_boot == b.n_boot and a.skipped.tolist() == b.skipped.tolist()


def _samples_only_bootstrap(rng, models, n_boot):
  """Independent reference: models fixed, each model's samples resampled within class, the mean of
  the pair-counting AUROCs (``_brute_auroc``)."""
  out = []
  for _ in range(n_boot):
    vals = []
    for y, s in models:
      pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
      idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
      vals.append(_brute_auroc(y[idx], s[idx]))
    out.append(np.mean(vals))
  return np.array(out)


def test_identical_models_leave_only_the_within_model_width():
  """Five copies of one model: resampling models changes nothing, so the hierarchical interval must
  be as wide as resampling samples only (an independent loop with pair-counting AUROCs). The width of a
  95% percentile interval from B resamples has a Monte-Carlo relative error of about 3% at B = 2000
  resp. 1500 (quantile standard errors of a near-normal distribution), so 15% is > 3.5 of their combined
  standard errors. Measured: width 0.0720 vs 0.0723, standard error 0.0183 vs 0.0185."""
  rng = np.random.default_rng(5)
  y = np.r_[np.ones(40, int), np.zeros(160, int)]
  model = (y, rng.normal(size=200) + y)
  res = detection.hierarchical_bootstrap(0, [model] * 5, n_boot=2000)
  ref = _samples_only_bootstrap(np.random.default_rng(1), [model] * 5, 1500)
  width, ref_width = res.ci[1] - res.ci[0], np.subtract(*np.percentile(ref, [97.5, 2.5]))
  assert abs(width / ref_width - 1) < 0.15, (width, ref_width)
  assert abs(res.se / ref.std() - 1) < 0.15, (res.se, ref.std())


def test_different_models_widen_the_interval_beyond_the_pooled_samples_bootstrap():
  """Five models whose AUROCs range from 0.46 to 1.0: the between-model spread dominates, so the
  hierarchical interval must be wider than `evaluate`'s (stratified bootstrap of the pooled samples,
  which sees sample noise only). Measured: width 0.333 vs 0.079, ratio 4.2; asserted > 2."""
  rng = np.random.default_rng(5)
  y = np.r_[np.ones(40, int), np.zeros(160, int)]
  models = [(y, rng.normal(size=200) + shift * y) for shift in (0.2, 0.8, 1.5, 2.5, 4.0)]
  res = detection.hierarchical_bootstrap(0, models, n_boot=2000)
  pooled = detection.evaluate(np.tile(y, 5), np.concatenate([s for _, s in models]), n_boot=500)
  assert (res.ci[1] - res.ci[0]) > 2 * (pooled.auroc_ci[1] - pooled.auroc_ci[0]), (res.ci, pooled)
  assert np.ptp(res.per_model) > 0.4


def test_the_interval_covers_the_true_mean_auroc():
  """300 simulated experiments of 5 models (the benchmark's minimum), 100 samples each (30
  memorized): novel scores N(0, 1), memorized N(δ_m, 1) with δ_m ~ N(1.2, 0.5²), so model m's true
  AUROC is Φ(δ_m/√2) and the true mean over models is E Φ(δ/√2) = Φ(1.2/√(2 + 0.5²)) = Φ(0.8) (closed
  form). The 95% interval must cover it in >= 85% of the experiments, not 95%: with 5 models the
  percentile bootstrap of a mean uses the normal quantile and the (M − 1)/M plug-in variance where a
  t_4 quantile would be right (for a pure between-model mean that alone gives ~85%; the doubly counted
  within-model noise pushes it up), and 300 experiments carry a binomial standard error of ~1.8%.
  Measured: 0.890 (267 of 300); over 3000 experiments of other seeds also 0.890. With the model level
  removed (samples resampled inside fixed models) it is 0.58: that interval misses the seed spread."""
  rng = np.random.default_rng(0)
  truth = norm.cdf(1.2 / np.sqrt(2 + 0.5**2))
  y = np.r_[np.ones(30, int), np.zeros(70, int)]
  covered = 0
  for e in range(300):
    models = [(y, rng.normal(size=100) + rng.normal(1.2, 0.5) * y) for _ in range(5)]
    res = detection.hierarchical_bootstrap(e, models, n_boot=400)
    covered += res.ci[0] <= truth <= res.ci[1]
  assert covered / 300 >= 0.85, covered


def test_one_class_draws_are_skipped_and_counted_without_stratification():
  """Model 0 has 1 memorized sample of 10 (a draw misses it with probability p = 0.9¹⁰) and
  separates perfectly when it has it (AUROC 1); model 1 is tied (0.5), 50 + 50 samples. A model slot
  of a resample is then 1 with probability a = (1 − p)/2, 0.5 with b = 1/2 and skipped with s = p/2,
  so a resample is 1 with a² + 2as, 0.75 with 2ab, 0.5 with b² + 2bs and dropped with s² (enumerated
  below). Frequencies, dropped resamples and skipped draws (Binomial(2·n_boot, s)) must match within 4
  standard errors."""
  n_boot = 4000
  model0 = _model(1, 9, [10.0], np.arange(9.0))
  model1 = _model(50, 50, np.zeros(50), np.zeros(50))  # one-class with probability 2⁻⁹⁹: never
  res = detection.hierarchical_bootstrap(4, [model0, model1], n_boot=n_boot, stratify=False)
  p = 0.9**10
  a, b, s = (1 - p) / 2, 0.5, p / 2
  probs = {1.0: a * a + 2 * a * s, 0.75: 2 * a * b, 0.5: b * b + 2 * b * s}
  drop = s * s
  se = lambda q: 4 * np.sqrt(q * (1 - q) / n_boot)
  assert abs((n_boot - res.n_boot) / n_boot - drop) <= se(drop)
  for value, q in probs.items():
    assert abs(np.mean(res.boot == value) * res.n_boot / n_boot - q) <= se(q), (value, q)
  assert res.skipped[1] == 0
  assert abs(res.skipped[0] - 2 * n_boot * s) <= 4 * np.sqrt(2 * n_boot * s * (1 - s)), res.skipped
  # Stratified draws keep model 0's one memorized sample: nothing skipped, nothing dropped.
  strat = detection.hierarchical_bootstrap(4, [model0, model1], n_boot=500)
  assert strat.skipped.tolist() == [0, 0] and strat.n_boot == 500


def test_keys_and_seeds_give_reproducible_resamples():
  models = [PERFECT, TIED, THREE_QUARTERS]
  run = lambda k: detection.hierarchical_bootstrap(k, models, n_boot=200).boot
  np.testing.assert_array_equal(run(jax.random.key(7)), run(jax.random.key(7)))
  np.testing.assert_array_equal(run(jax.random.key(7)), run(jax.random.PRNGKey(7)))  # same key data
  np.testing.assert_array_equal(run(3), run(np.int64(3)))
  assert not np.array_equal(run(jax.random.key(7)), run(jax.random.key(8)))


def test_within_model_evaluation_uses_paired_resamples():
  """Each score's entry equals hierarchical_bootstrap of that score; a monotone transform of a score
  gets the same resamples, hence bit-identical AUROC and TPR results (ROC statistics are rank-only)."""
  rng = np.random.default_rng(6)
  labels = [np.r_[np.ones(k, int), np.zeros(50 - k, int)] for k in (10, 15, 20)]
  raw = [rng.normal(size=50) + 1.5 * y for y in labels]
  scores = {"raw": raw, "exp": [np.exp(s) for s in raw], "noise": [rng.normal(size=50) for _ in labels]}
  out = detection.within_model_evaluation(0, labels, scores, fpr=0.05, n_boot=300)
  assert list(out) == ["raw", "exp", "noise"]
  ref = detection.hierarchical_bootstrap(0, list(zip(labels, raw)), detection.auroc, n_boot=300)
  np.testing.assert_array_equal(out["raw"].auroc.boot, ref.boot)
  np.testing.assert_array_equal(out["raw"].auroc.boot, out["exp"].auroc.boot)
  np.testing.assert_array_equal(out["raw"].tpr.boot, out["exp"].tpr.boot)
  assert out["raw"].tpr.estimate == pytest.approx(
      np.mean([detection.tpr_at_fpr(y, s, 0.05) for y, s in zip(labels, raw)]), abs=1e-15)
  assert out["raw"].n_pos.tolist() == [10, 15, 20] and out["raw"].n_neg.tolist() == [40, 35, 30]
  assert out["raw"].auroc.estimate > 0.8 and abs(out["noise"].auroc.estimate - 0.5) < 0.15


def test_pooled_confound_is_the_best_auroc_of_model_identity():
  """Brute force: every score that is constant per model (each of 4 models gets a level in 0..3, all
  256 weak orders), its AUROC on the pooled samples by pair counting; the best one equals
  pooled_confound, as does the score "copy rate of the sample's model" through scikit-learn."""
  import itertools

  counts = [(45, 5), (3, 57), (10, 30), (1, 9)]  # (memorized, novel) per model
  labels = [np.r_[np.ones(p, int), np.zeros(n, int)] for p, n in counts]
  pooled = np.concatenate(labels)
  constant = lambda levels: np.concatenate([np.full(y.size, float(v)) for y, v in zip(labels, levels)])
  best = max(_brute_auroc(pooled, constant(lv)) for lv in itertools.product(range(4), repeat=4))
  got = detection.pooled_confound(labels)
  assert got == pytest.approx(best, abs=1e-12)
  rate_score = np.concatenate([np.full(y.size, y.mean()) for y in labels])
  assert got == pytest.approx(detection.auroc(pooled, rate_score), abs=1e-12)
  # The lab's pooled setting: a memorizing model copying 90% against a generalizing one copying none.
  two = [np.r_[np.ones(450, int), np.zeros(50, int)], np.zeros(500, int)]
  assert detection.pooled_confound(two) == pytest.approx(525 / 550, abs=1e-12)
  assert detection.pooled_confound([np.r_[1, 0], np.r_[1, 1, 0, 0]]) == 0.5  # equal copy rates


@pytest.mark.parametrize("per_model,kwargs,message", [
    ([PERFECT], {}, r"per_model must hold at least 2 models .*got 1"),
    ([], {}, r"per_model must hold at least 2 models .*got 0"),
    (PERFECT[0], {}, r"per_model\[0\] must be a \(labels, scores\) pair"),
    ("ab", {}, "per_model must be a list of"),
    ([PERFECT, (np.r_[0, 1, 1], np.arange(4.0))], {}, r"per_model\[1\]: .*same length"),
    ([PERFECT, TIED, (np.ones(4, int), np.arange(4.0))], {},
     r"per_model\[2\]: labels hold one class only .*Every resample of this model would hold one class"),
    ([PERFECT, (np.r_[0, 1], np.r_[0.0, np.nan])], {}, r"per_model\[1\]: 1 scores are not finite"),
    ([PERFECT, TIED], dict(n_boot=0), "n_boot must be an integer >= 1, got 0"),
    ([PERFECT, TIED], dict(level=1.0), r"level must be a coverage probability in \(0, 1\), got 1.0"),
    ([PERFECT, TIED], dict(stratify="yes"), "stratify must be True or False, got 'yes'"),
    ([PERFECT, TIED], dict(statistic=0.5), "statistic must be a callable"),
    ([PERFECT, TIED], dict(statistic=lambda y, s: np.nan),
     r"statistic must be finite on every model; on per_model\[0\] it is nan"),
    ([PERFECT, TIED], dict(statistic=functools.partial(detection.tpr_at_fpr, fpr=2.0)),
     r"statistic failed on per_model\[0\]: fpr must be a false-positive rate"),
])
def test_bad_hierarchical_arguments_are_named(per_model, kwargs, message):
  with pytest.raises(ValueError, match=message):
    detection.hierarchical_bootstrap(0, per_model, **kwargs)


@pytest.mark.parametrize("key", [-1, 1.5, "0", True, jax.random.split(jax.random.key(0), 2)])
def test_bad_keys_are_named(key):
  with pytest.raises(ValueError, match="key_or_seed must be an integer seed >= 0 or a"):
    detection.hierarchical_bootstrap(key, [PERFECT, TIED])


def test_every_resample_dropped_is_named():
  """Two models of one memorized and one novel sample, unstratified, one resample: both slots are
  one-class with probability 1/4 per seed; over 40 seeds some must raise (P(none) = 0.75⁴⁰ ≈ 1e-5)
  and the others return a one-resample result."""
  tiny = [_model(1, 1, [1.0], [0.0])] * 2
  raised = 0
  for seed in range(40):
    try:
      res = detection.hierarchical_bootstrap(seed, tiny, n_boot=1, stratify=False)
      assert res.n_boot == 1 and res.boot.tolist() == [1.0]
    except ValueError as e:
      assert "every one of the n_boot = 1 resamples drew only one-class models" in str(e)
      raised += 1
  assert 0 < raised < 40


def test_bad_within_model_and_confound_arguments_are_named():
  labels = [PERFECT[0], TIED[0]]
  with pytest.raises(ValueError, match=r"scores\['std'\] must hold one score array per model \(2"):
    detection.within_model_evaluation(0, labels, {"std": [PERFECT[1]]})
  with pytest.raises(ValueError, match=r"scores\['std'\]: per_model\[1\]: .*same length"):
    detection.within_model_evaluation(0, labels, {"std": [PERFECT[1], np.zeros(3)]})
  with pytest.raises(ValueError, match="scores must be a non-empty dict"):
    detection.within_model_evaluation(0, labels, {})
  with pytest.raises(ValueError, match="fpr must be a false-positive rate"):
    detection.within_model_evaluation(0, labels, {"std": [PERFECT[1], TIED[1]]}, fpr=-1)
  with pytest.raises(ValueError, match="per_model_labels must hold at least 2 models, got 1"):
    detection.pooled_confound([PERFECT[0]])
  with pytest.raises(ValueError, match=r"per_model_labels\[1\] must be 0 \(novel\) or 1"):
    detection.pooled_confound([PERFECT[0], np.r_[0, 2]])
  with pytest.raises(ValueError, match=r"per_model_labels\[0\] must be 1-D and non-empty"):
    detection.pooled_confound([np.zeros(0), PERFECT[0]])
  with pytest.raises(ValueError, match="the pooled labels hold one class only"):
    detection.pooled_confound([np.zeros(3), np.zeros(2)])


def test_two_level_bootstrap_known_answers():
  """The acceptance cases of issue 13 C, each with an exact answer. (1) Every model separates
  perfectly (different sizes and class counts): every stratified resample of every model still
  separates, so the estimate is 1 and the interval exactly [1, 1], for AUROC and TPR@1%FPR alike.
  (2) Every model gives both classes the same score multiset (identical distributions): each model's
  AUROC is exactly 0.5, the estimate is 0.5 and, positives and negatives being exchangeable in every
  resample, the resample distribution is symmetric about 0.5, so the interval covers it with room on
  both sides. (3) Per-model AUROCs 1, 1, 0.5, 0.5 (no sample noise): the between-model spread alone
  gives a wide interval (exactly [0.5, 1], see the Binomial test above), while resampling the samples
  of the fixed models gives a zero-width one; tests above compare the two with sample noise."""
  perfect = [_model(p, n, 100.0 + np.arange(p), np.arange(n)) for p, n in ((3, 5), (10, 40), (1, 7))]
  for stat in (detection.auroc, functools.partial(detection.tpr_at_fpr, fpr=0.01)):
    res = detection.hierarchical_bootstrap(0, perfect, stat, n_boot=300)
    assert res.estimate == 1.0 and res.ci == (1.0, 1.0), res.ci
  rng = np.random.default_rng(8)
  same = []
  for n in (20, 30, 50):
    v = rng.normal(size=n)
    same.append(_model(n, n, v, v))  # positives and negatives share one score multiset
  res = detection.hierarchical_bootstrap(1, same, n_boot=2000)
  # exactly 0.5 up to the rounding of scikit-learn's trapezoidal area (1e-12)
  np.testing.assert_allclose(res.per_model, 0.5, rtol=0, atol=1e-12)
  assert res.estimate == pytest.approx(0.5, abs=1e-12) and res.ci[0] < 0.5 < res.ci[1]
  # symmetric about 0.5: the two tails' distances agree to Monte-Carlo accuracy (20% of the width)
  assert abs((0.5 - res.ci[0]) - (res.ci[1] - 0.5)) < 0.2 * (res.ci[1] - res.ci[0]), res.ci
  spread = detection.hierarchical_bootstrap(2, [PERFECT, PERFECT, TIED, TIED], n_boot=2000)
  assert spread.ci == (0.5, 1.0)
  # without between-model spread the same samples give zero-width intervals: models of one kind only
  assert detection.hierarchical_bootstrap(3, [PERFECT, PERFECT], n_boot=500).ci == (1.0, 1.0)
  tied = detection.hierarchical_bootstrap(4, [TIED, TIED], n_boot=500).ci
  np.testing.assert_allclose(tied, (0.5, 0.5), rtol=0, atol=1e-12)


def test_within_model_evaluation_equals_one_bootstrap_per_score_and_statistic():
  """within_model_evaluation draws one resample plan for all scores and both statistics; it must give
  bit-identical results to separate hierarchical_bootstrap calls (same key) for every score, ties
  included, and for the TPR at a non-default FPR."""
  rng = np.random.default_rng(9)
  labels = [(rng.random(n) < r).astype(int) for n, r in ((80, 0.2), (60, 0.3), (120, 0.1))]
  for y in labels:
    y[:2] = (0, 1)
  scores = {"a": [rng.normal(size=y.size) + y for y in labels],
            "ties": [np.round(rng.normal(size=y.size) + 2 * y) for y in labels]}
  out = detection.within_model_evaluation(4, labels, scores, fpr=0.05, n_boot=150, level=0.9)
  for name, per in scores.items():
    pairs = list(zip(labels, per))
    for got, stat in ((out[name].auroc, detection.auroc),
                      (out[name].tpr, functools.partial(detection.tpr_at_fpr, fpr=0.05))):
      ref = detection.hierarchical_bootstrap(4, pairs, stat, n_boot=150, level=0.9)
      np.testing.assert_array_equal(got.boot, ref.boot)
      np.testing.assert_array_equal(got.per_model, ref.per_model)
      assert (got.estimate, got.ci, got.se, got.n_boot) == (ref.estimate, ref.ci, ref.se, ref.n_boot)
