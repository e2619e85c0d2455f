"""Acceptance claims on the mixture sim (Fig. 4 mixture panel, Fig. 6 hybrid columns), on data that
satisfy the theorems' hypotheses (checked here too; tests/test_mixture_hypotheses.py checks the data
alone)."""

import json

import jax
import numpy as np

from dae_theory import metrics, train


def test_mixture_hybrid_columns_reach_the_construction_in_a_count_of_seeds(tmp_path):
  """Default mixture run with three hybrid seeds. Measured on the default (5 seeds, this machine): every
  seed reproduces the Cor. 3.4 column counts, W W^T within 1.0-1.1% of the construction (README,
  Known discrepancies 13); before the data met Theorem D.2's margin, one seed of five stopped elsewhere.

  Which seeds reach the construction is chaotic (another CPU's rounding can move a seed into another
  basin), so the claim is a count: >= 1 of 3 seeds reaches it (at a rate >= 0.8 the chance of 0 of 3 is
  <= 0.8%); the gram distance bound 0.05 is 4-5x the measured 1.0-1.1% (the jitter of training at a
  cosine-decayed rate), far below the 0.75 of a seed that stopped elsewhere. The hypotheses are data
  facts (no training), asserted exactly: every seed's margin gamma > 0."""
  from sims import mixture_dae

  out = mixture_dae.run(mixture_dae.Config(seeds=3), str(tmp_path))
  counts = out["hybrid_counts"]
  exact = np.all(counts == out["hybrid_construction_counts"], 1) & (out["hybrid_gram_distance"] < 0.05)
  assert exact.sum() >= 1, (counts, out["hybrid_gram_distance"])
  assert np.all(out["hybrid_margin"] > 0) and np.all(out["hybrid_within_cos_min"] > 0)
  assert out["mixture_margin"] > 0 and out["mixture_within_cos"][0] > 0 and out["mem_set_max_cos"] < 0
  # Fig. 4: the participation ratio reads the spiky vs balanced code. Mean over 3 model seeds,
  # measured 0.880 (per seed 0.737-0.996; a memorizing model that splits its columns, Known
  # discrepancy 3, scores lowest): asserted above chance with room for that spread; the estimate is
  # the mean of the per-seed values, and the interval over model seeds is ordered and within [0, 1]
  assert out["auroc_pr"] > 0.6 and out["auroc_pr_per_seed"].shape == (3,), out["auroc_pr_per_seed"]
  for score in ("std", "pr"):
    lo, hi = out[f"auroc_{score}_ci"]
    per = out[f"auroc_{score}_per_seed"]
    assert per.min() - 1e-12 <= out[f"auroc_{score}"] <= per.max() + 1e-12, (score, per)
    assert 0 <= lo <= hi <= 1, (score, lo, hi)
  # the run record carries the data cards (no NaN strings: undefined numbers are None) and the
  # hypotheses; the Fig. 6 caption prints the hybrid card and the margins
  from figures import fig6_hybrid, style

  text = (tmp_path / "summary.json").read_text()
  assert '"nan"' not in text.lower()
  summary = json.loads(text)
  assert set(summary["data_cards"]) == {"Fig. 4 mixture, memorizing model",
                                        "Fig. 4 mixture, generalizing model", "Fig. 6 hybrid, seed 0"}
  for name, card in summary["data_cards"].items():
    assert style.card_text(card, name).startswith(f"[{name}: d = 32, "), name
  assert summary["hypotheses"]["fig6_seeds_with_positive_margin"] == 3
  _, caption = fig6_hybrid.draw({"mixture": style.load_run(str(tmp_path), "sims.mixture_dae")},
                                str(tmp_path / "fig"))
  assert "[Fig. 6 hybrid, seed 0: d = 32" in caption and "3 of 3 seeds > 0" in caption, caption


def test_memorizing_model_stores_every_sample_in_a_count_of_seeds():
  """Cor. 3.2 on Fig. 4's memorization set (5 pairwise-obtuse centred mixture samples, p = 15):
  every sample gets a column at cosine >= 0.95. Over 4 model seeds (fresh init keys, the sim's data)
  measured: all 4 store all 5 samples (best cosines >= 0.98). Asserted: >= 3 of 4 seeds (a training
  outcome is a rate; at a rate >= 0.9 the chance of <= 2 of 4 is <= 5.2%)."""
  from sims import mixture_dae

  cfg = mixture_dae.Config()
  centred, _, idx = mixture_dae.mixture_data(cfg)
  x_mem = centred[idx]
  stored = 0
  for seed in range(4):
    res = train.train_dae(jax.random.key(1000 + seed), x_mem, cfg.width, cfg.sigma, cfg.lam,
                          cfg.steps, cfg.learning_rate)
    best = np.asarray(metrics.cosine_matrix(x_mem, res.params.w1.T)).max(1)
    stored += int(best.min() >= 0.95)
  assert stored >= 3, stored
