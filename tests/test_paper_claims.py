"""Issue 6's acceptance claims on the image and mixture sims at (near-)default settings."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
  """The image sim at default settings except one diffusion seed and 100 samples (about 40 s)."""
  from sims import image_dae

  cfg = image_dae.Config(seeds=1, n_samples=100)
  return cfg, image_dae.run(cfg, str(tmp_path_factory.mktemp("digits")))


def test_digits_memorizing_dae_copies_and_generalizing_dae_does_not(digits_run):
  """Issue 6 acceptance on digits (measured at this setting: memorized fraction 0.93 vs 0.00; live
  memorizing columns 0.999-1.000, generalizing columns at most 0.70). One trained model per kind, so
  the floors leave room for another CPU's rounding to move that model: 0.8 is 5 binomial standard
  errors of 100 samples below the measured 0.93, and 0.1 as far above 0.00, while a model that does not
  copy (or copies everything) still fails."""
  cfg, out = digits_run
  assert out["mem_fraction"][0] >= 0.8, out["mem_fraction"]
  assert out["gen_fraction"][0] <= 0.1, out["gen_fraction"]
  assert out["mem_col_cos"][out["mem_col_live"]].min() >= 0.95
  assert out["gen_col_cos"][out["gen_col_live"]].max() < 0.85  # "well below" 0.95


def test_digits_scale_aware_copy_label_and_sample_quality_are_recorded(digits_run):
  """Issue 13: the scale-aware copy label (d1/d2 < 1/3 and relative error < 0.1) is stored beside the
  cosine label, and the sample-quality medians are finite. No order between the two fractions is
  assumed (at the default run the scale-aware label calls 0.07-0.10 of the memorizing model's samples
  copies against 0.92 by cosine, but the labels need not nest). The generalizing model copies nothing
  by either label."""
  _, out = digits_run
  for name in ("mem", "gen"):
    frac = out[f"{name}_copy_fraction"]
    assert frac.shape == (1,) and 0 <= frac[0] <= 1
    for k in ("sample_nn_dist_median", "sample_confidence_median", "outside_fraction"):
      assert np.all(np.isfinite(out[f"{name}_{k}"])), k
    assert np.isfinite(out[f"{name}_heldout_nn_dist_median"])
  assert out["gen_copy_fraction"][0] <= 0.1
  assert np.isfinite(out["heldout_confidence_median"])


def test_std_h_separates_memorized_from_generalized_on_digits(digits_run):
  """Measured AUROC 0.80 for std(h) (1.00 for the participation ratio), one model per kind. 0.65 fails a
  score that does not separate (0.5; the standard error of an AUROC on 500 vs 500 points is about
  0.02) while leaving room for another CPU's rounding to move the trained models."""
  _, out = digits_run
  assert out["auroc_std"] > 0.65 and out["auroc_pr"] > 0.9, (out["auroc_std"], out["auroc_pr"])
  # Known discrepancy 14: on digits the scale-free participation ratio separates better than std(h).
  assert out["auroc_pr"] > out["auroc_std"]
