"""The three-lens transition sim: its transition-point rule, flag checks, and the issue's claims on
digits at two sizes."""

import numpy as np
import pytest

from sims import transition


def test_transition_point_interpolates_in_log_n():
  sizes = [8, 16, 32, 64]
  assert transition.transition_point(sizes, [1.0, 1.0, 0.0, 0.0]) == pytest.approx(np.sqrt(16 * 32))
  assert transition.transition_point(sizes, [0.0, 0.25, 0.75, 1.0]) == pytest.approx(
      np.exp(np.log(16) + 0.5 * np.log(2)))
  assert np.isnan(transition.transition_point(sizes, [0.3, 0.1, 0.5, 0.3]))


@pytest.mark.parametrize("kwargs,message", [
    (dict(sizes=(32, 8)), "--sizes must be increasing"),
    (dict(sizes=(8, 1000)), "at most 719"),
    (dict(datasets=("faces",)), "--datasets must be a non-empty list"),
    (dict(psnr_sigmas=()), "--psnr_sigmas must be non-empty"),
])
def test_bad_transition_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    transition.Config(**kwargs)


def test_lenses_move_the_expected_way_on_digits(tmp_path):
  """N = 8 vs 512 on digits (the default run's numbers are in the README): RMSE to the Wiener filter
  falls, the disjoint-subset sample cosine rises, the nearest-training cosine and the memorized
  fraction fall; the linearity score does not rise (README, Known discrepancy 15)."""
  cfg = transition.Config(datasets=("digits",), sizes=(8, 512), n_jacobian=10)
  out = transition.run(cfg, str(tmp_path))
  g = lambda k: out[f"digits/{k}"]
  assert g("rmse_gaussian")[1] < g("rmse_gaussian")[0]
  assert g("pair_cosine_mean")[1] > g("pair_cosine_mean")[0]
  assert g("nn_cosine_mean")[1] < g("nn_cosine_mean")[0]
  assert g("memorized_fraction")[0] > 0.3 and g("memorized_fraction")[1] <= 0.05
  # Known discrepancy 15: the linearity score does not rise with N here (0.995 -> 0.982 measured).
  assert g("ls_small")[1] < g("ls_small")[0]
