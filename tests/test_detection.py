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
