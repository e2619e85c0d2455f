"""Issue 6's acceptance claims on the image sim at (near-)default settings, with issue 13's
replication: the plain DAEs of Fig. 3/4 are 5 (memorizing, generalizing) pairs trained with one shared
recipe, and their claims are asserted as rates over those model seeds, not on one model."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
  """The image sim at default settings except one diffusion seed and 100 samples (the plain DAEs at
  their default: 5 model seeds, shared recipe)."""
  from sims import image_dae

  cfg = image_dae.Config(seeds=1, n_samples=100)
  return cfg, image_dae.run(cfg, str(tmp_path_factory.mktemp("digits")))


def test_digits_memorizing_diffusion_dae_copies_and_generalizing_one_does_not(digits_run):
  """Issue 6 acceptance on digits by the cosine label (measured at this setting: 0.92 vs 0.00 at the
  default run's seeds). One diffusion model per kind here, so the floors leave room for another CPU's
  rounding to move that model: 0.8 is 5 binomial standard errors of 100 samples below 0.92 (s.e.
  0.027), and 0.1 as far above 0.00, while a model that does not copy (or copies everything) fails."""
  _, out = digits_run
  assert out["mem_fraction"][0] >= 0.8, out["mem_fraction"]
  assert out["gen_fraction"][0] <= 0.1, out["gen_fraction"]


def test_digits_columns_store_images_only_for_the_memorizing_model_over_seeds(digits_run):
  """Fig. 3 under one shared recipe (λ = 0.16, Adam, lr 1e-3): in the default run, in 5 of 5 model
  seeds every memorizing live column has best cosine 1.000 to a memorized image and every memorized
  image has a live column, while the generalizing model's highest best cosine is 0.885-0.903. A seed is
  a chaotic training outcome, so the claims are rates: at least 4 of the 5 seeds (a claim that held in
  at most 3 would fail)."""
  cfg, out = digits_run
  s = cfg.plain_seeds
  assert s >= 5
  stores = (out["mem_live_cos_min"] >= 0.95) & (out["mem_images_stored"] == cfg.n_memorize)
  assert stores.sum() >= s - 1, (out["mem_live_cos_min"], out["mem_images_stored"])
  assert (out["gen_live_cos_max"] < 0.95).sum() >= s - 1, out["gen_live_cos_max"]
  # the shared recipe must be what the data cards say was trained
  cards = out["data_cards"]
  for field in ("lam", "optimizer", "learning_rate", "steps", "seeds", "p"):
    assert cards["plain memorizing"][field] == cards["plain generalizing"][field], field


def test_digits_scale_aware_copy_label_and_sample_quality_are_recorded(digits_run):
  """Issue 13: the scale-aware copy label (d1/d2 < 1/3 and relative error < 0.1) is stored beside the
  cosine label, and the sample-quality medians are finite. No order between the two fractions is
  assumed (at the default run the scale-aware label calls 0.07-0.105 of the memorizing model's samples
  copies against 0.91-0.92 by cosine, but the labels need not nest). The generalizing model copies
  nothing by either label."""
  _, out = digits_run
  for name in ("mem", "gen"):
    frac = out[f"{name}_copy_fraction"]
    assert frac.shape == (1,) and 0 <= frac[0] <= 1
    for k in ("sample_nn_dist_median", "sample_confidence_median", "outside_fraction"):
      assert np.all(np.isfinite(out[f"{name}_{k}"])), k
    assert np.isfinite(out[f"{name}_heldout_nn_dist_median"])
  assert out["gen_copy_fraction"][0] <= 0.1
  assert np.isfinite(out["heldout_confidence_median"])


def test_std_h_and_the_participation_ratio_separate_over_model_seeds(digits_run):
  """Fig. 4 with 5 model seeds (default run: per-seed AUROC 0.960-0.970 for std(h), 0.958-0.998 for
  the participation ratio; means 0.964 [0.959, 0.969] and 0.983 [0.969, 0.993] over seeds). Rates
  over seeds again: each score above 0.8 in at least 4 of 5 seeds (0.5 = no separation; the s.e. of
  one AUROC on 500 vs 500 points is about 0.02, so 0.8 is far below the measured values and far above
  chance), and the interval over seeds must hold the mean (1e-12: the bootstrap means of identical
per-seed values equal it up to rounding).

  Known discrepancy 14 re-measured: with one shared λ the participation ratio's lead over std(h) is
  small (paired interval over seeds [0.004, 0.029] in the default run; it was 0.20 with the reference's
  per-kind recipes, where the generalizing model's weaker λ inflates its code energy). The test pins
  the small gap loosely: |PR − std(h)| < 0.1 on the means."""
  cfg, out = digits_run
  s = cfg.plain_seeds
  for score in ("std", "pr"):
    per = out[f"auroc_{score}_per_seed"]
    assert per.shape == (s,)
    assert (per > 0.8).sum() >= s - 1, (score, per)
    # the estimate is the mean over the seeds (an exact invariant); a percentile interval need not
    # contain it, so only its order and range are asserted
    lo, hi = out[f"auroc_{score}_ci"]
    assert per.min() - 1e-12 <= out[f"auroc_{score}"] <= per.max() + 1e-12, (score, per)
    assert 0 <= lo <= hi <= 1, (score, lo, hi)
  assert abs(out["auroc_pr"] - out["auroc_std"]) < 0.1, (out["auroc_pr"], out["auroc_std"])
