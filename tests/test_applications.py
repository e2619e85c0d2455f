"""The detection sim (the duplication-spectrum benchmark, docs/experiments.md §4.1): its within-model rows
on inputs with a known answer, the structure and invariants of a small run of the whole sim, and its
flag validation.

What this file does not assert: that a score detects copies at some multiplicity on the lab's models.
The default run's numbers (runs/detection/table.md) are a finding recorded in the README, not a property
that holds with margin over seeds at a test's size."""

import numpy as np
import pytest

from sims import detection as det_sim

MULTS = (1, 30, 300)


def _synthetic(seed: int, n: int = 120):
  """Three models' group codes and scores: copies of the m = 300 point score 3 + noise and every other
  sample noise (a separating score), copies of the m = 30 point appear in one model only, the m = 1
  point is never copied; one model also has an untracked copy."""
  rng = np.random.default_rng(seed)
  groups, scores = [], []
  for s in range(3):
    g = np.full(n, det_sim.NOVEL)
    g[:10 + 5 * s] = 300
    if s == 0:
      g[40:43] = 30
    g[-1] = det_sim.UNTRACKED
    noise = rng.normal(size=n)
    scores.append({"separating": noise + 10.0 * (g == 300), "constant": np.zeros(n),
                   "noise": rng.normal(size=n)})
    groups.append(g)
  return groups, scores


def test_rows_on_inputs_with_a_known_answer():
  """Known answers: a score that separates the m = 300 copies from the novel samples in every model
  has AUROC and TPR exactly 1 with interval [1, 1]; a constant score ties, AUROC 0.5 exactly; the m = 30
  row has positives in one model only and the m = 1 row none, so both say so instead of a number;
  positives and negatives are counted over the models, untracked copies in neither."""
  groups, scores = _synthetic(0)
  rows = det_sim.evaluate_rows("toy", "copy", groups, scores, MULTS, min_positives=5, n_boot=200, seed=0)
  get = lambda g, s: next(r for r in rows if r["group"] == g and r["score"] == s)
  assert len(rows) == (len(MULTS) + 1) * 3
  top = get(300, "separating")
  assert top["auroc"] == 1.0 and top["auroc_ci"] == [1.0, 1.0] and top["tpr_ci"] == [1.0, 1.0]
  assert top["models"] == 3 and len(top["auroc_per_model"]) == 3
  assert top["n_pos"] == 10 + 15 + 20 and top["pos_per_model"] == [10, 15, 20]
  assert top["n_neg"] == sum(int((g == det_sim.NOVEL).sum()) for g in groups)
  assert top["n_pos"] + top["n_neg"] + 3 + 3 == 3 * 120  # + the m = 30 copies + the untracked ones
  tied = get(300, "constant")
  assert tied["auroc"] == 0.5 and tied["auroc_ci"] == [0.5, 0.5]
  assert 0.5 <= tied["seed_identity_auroc"] <= 1
  for g in (1, 30):
    row = get(g, "noise")
    assert row["auroc"] is None and "too few positives" in row["note"], row
  assert get(30, "noise")["pos_per_model"] == [3, 0, 0]
  anyrow = get(det_sim.ANY, "separating")  # m = 30 and m = 300 copies together
  assert anyrow["n_pos"] == top["n_pos"] + 3 and anyrow["auroc"] is not None
  # lowering min_positives does not make one model an interval over seeds
  rows1 = det_sim.evaluate_rows("toy", "copy", groups, scores, MULTS, min_positives=1, n_boot=50, seed=0)
  assert all(r["auroc"] is None for r in rows1 if r["group"] == 30)


def test_intervals_are_over_models_and_contain_the_estimate():
  """A noise score's per-model AUROCs differ between the models; the row's estimate is their mean and
  lies inside its interval, and the interval is an interval over models (it changes when a model is
  left out)."""
  groups, scores = _synthetic(1)
  rows = det_sim.evaluate_rows("toy", "copy", groups, scores, MULTS, 5, 300, 0)
  r = next(r for r in rows if r["group"] == 300 and r["score"] == "noise")
  assert r["auroc"] == pytest.approx(np.mean(r["auroc_per_model"]), abs=1e-12)
  # a percentile interval of a two-level bootstrap need not contain the estimate (TPR@1% on few
  # negatives is biased upward in resamples): its order and range are asserted
  assert 0 <= r["auroc_ci"][0] <= r["auroc_ci"][1] <= 1 and 0 <= r["tpr_ci"][0] <= r["tpr_ci"][1] <= 1
  two = det_sim.evaluate_rows("toy", "copy", groups[:2], scores[:2], MULTS, 5, 300, 0)
  r2 = next(x for x in two if x["group"] == 300 and x["score"] == "noise")
  assert r2["models"] == 2 and r2["auroc_per_model"] == r["auroc_per_model"][:2]


def test_a_small_run_writes_rows_for_every_multiplicity_label_and_score(tmp_path):
  """One data set, 2 seeds, 300 training steps: whatever the tiny models copy, the record has one row
  per (label, multiplicity or 'any', score); the counts of every seed add up to its samples; a row
  either has a number from >= 2 models with its estimate inside its interval, or says why not."""
  cfg = det_sim.Config(datasets=("mixture",), multiplicities=(1, 1000), width=16, steps=300, seeds=2,
                       samples=80, sigmas=(0.1,), n_boot=20, mixture_d=8, mixture_rank=2,
                       min_positives=1)
  out = det_sim.run(cfg, str(tmp_path), log=None)
  rows = out["rows"]
  n_scores = 6 + 3  # code metrics at one sigma + three baselines
  assert len(rows) == len(det_sim.LABELS) * (len(cfg.multiplicities) + 1) * n_scores
  for lab in det_sim.LABELS:
    for g in (1, 1000, det_sim.ANY):
      assert sum(r["label"] == lab and r["group"] == g for r in rows) == n_scores, (lab, g)
    for c in out["counts"]["mixture"][lab]:
      assert sum(c.values()) == cfg.samples, c
  for r in rows:
    if r["auroc"] is None:
      assert r["note"] and (r["n_pos"] < cfg.min_positives or r["models"] < 2), r
    else:
      assert r["models"] >= 2 and len(r["auroc_per_model"]) == r["models"]
      per = r["auroc_per_model"]
      assert min(per) - 1e-12 <= r["auroc"] <= max(per) + 1e-12  # the mean over models
      assert 0 <= r["auroc_ci"][0] <= r["auroc_ci"][1] <= 1 and 0 <= r["tpr_ci"][0] <= r["tpr_ci"][1] <= 1
  table = (tmp_path / "table.md").read_text()
  assert table.count("| mixture |") == len(rows)
  summary = (tmp_path / "summary.json").read_text()
  assert '"data_cards"' in summary and '"unit": "model seed"' in summary


def test_seeds_rotate_the_multiplicities_over_the_points():
  points = np.array([3, 7, 9])
  mults = (1, 10, 100)
  seen = np.array([det_sim.multiplicity_of(12, points, mults, s)[points] for s in range(3)])
  assert all(sorted(row) == list(mults) for row in seen)      # every model holds every multiplicity
  assert all(sorted(col) == list(mults) for col in seen.T)    # every point gets every multiplicity
  assert det_sim.multiplicity_of(12, points, mults, 0).sum() == 12 - 3 + sum(mults)


@pytest.mark.parametrize("kwargs,message", [
    (dict(datasets=()), "--datasets must be a non-empty list"),
    (dict(datasets=("cifar",)), "--datasets must be a non-empty list"),
    (dict(sigmas=(0.1, 0.0)), "--sigmas must be a non-empty list of values > 0"),
    (dict(multiplicities=(10, 3)), "--multiplicities must be at least 2 increasing integers >= 1"),
    (dict(multiplicities=(0, 3)), "--multiplicities must be at least 2 increasing integers >= 1"),
    (dict(multiplicities=(3,)), "--multiplicities must be at least 2 increasing integers >= 1"),
    (dict(seeds=1), "--seeds must be >= 2"),
    (dict(learning_rate=0.0), "--learning_rate must be > 0"),
    (dict(weight_decay=-1e-4), "--weight_decay must be >= 0"),
    (dict(min_positives=0), "--min_positives must be >= 1"),
])
def test_bad_detection_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    det_sim.Config(**kwargs)


def test_too_many_points_for_an_obtuse_set_names_the_flag():
  """Centred digits hold only 6 pairwise-obtuse points in the greedy scan (margin 0)."""
  cfg = det_sim.Config(multiplicities=tuple(range(1, 9)))
  x, _ = det_sim.load("digits", cfg)
  with pytest.raises(ValueError, match="--multiplicities \\(one pairwise-obtuse point each\\)"):
    det_sim.tracked_points(x, cfg)
