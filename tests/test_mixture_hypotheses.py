"""The data of sims.mixture_dae (Fig. 4 mixture, Fig. 6 hybrid) meet the hypotheses of the theorems
the figures test; the phase diagram's default mixture breaks them and says so; the flags its
docstring names meet them. Data facts only (no training): each number is far from its threshold, so
the assertions hold on any CPU."""

import json

import numpy as np
import pytest

from dae_theory import bounds, constructions, data
from figures import style


def test_fig4_mixture_and_fig6_hybrid_defaults_meet_the_hypotheses():
  """Definition 3.1 with beta < 0, within-cluster cosines > 0 and Theorem D.2's margin gamma > 0 for
  the generalizing data (measured: alpha 0.261 <= spread*max_radius/mean_norm + sampling slack,
  gamma 0.499); the memorization set pairwise obtuse (max cosine -0.24) with p >= n. (The hybrid
  seeds' margins are asserted on the run record by tests/test_mixture_sim.py.)"""
  from sims import mixture_dae

  cfg = mixture_dae.Config()
  x, labels, idx = mixture_dae.mixture_data(cfg)
  card = data.data_card(x, labels)
  assert card["beta"] < 0 and card["within_cos_min"] > 0.5, card
  # alpha against the sample mean: the bound 0.25 is against the population mean; allow 0.05 slack
  assert card["alpha"] < cfg.spread * cfg.max_radius / cfg.mean_norm + 0.05, card["alpha"]
  gam = mixture_dae.theorem_d2_margin(x, labels, lambda: constructions.generalization_weights(
      x, labels, cfg.rank + 1, cfg.sigma, cfg.lam))
  assert gam > 0.2, gam
  u = x[idx] / np.linalg.norm(x[idx], axis=1, keepdims=True)
  assert (u @ u.T)[~np.eye(len(idx), dtype=bool)].max() < 0 and cfg.width >= len(idx)


def test_the_margin_helper_reports_a_failed_hypothesis_as_nan():
  """Acute cluster means (beta >= 0) have no Theorem D.2 margin: NaN, not an exception; the broken
  earlier Fig. 4 data (rank 16, mean norm 2, spread 1) give a negative margin (vacuous guarantee)."""
  from sims import mixture_dae

  x = np.array([[1.0, 0.1], [1.0, -0.1], [0.9, 0.5], [0.8, 0.6]])
  labels = np.array([0, 0, 1, 1])
  assert np.isnan(mixture_dae.theorem_d2_margin(
      x, labels, lambda: constructions.generalization_weights(x, labels, 1, 0.2, 1e-4)))
  old = mixture_dae.Config(clusters=4, rank=16, mean_norm=2.0, spread=1.0, max_radius=0.0,
                           per_cluster=100)
  x, labels, _ = mixture_dae.mixture_data(old)
  card = data.data_card(x, labels)
  assert card["alpha"] > 1 and card["within_cos_min"] < 0, card


def test_phase_diagram_default_breaks_the_hypotheses_and_the_named_flags_meet_them():
  from sims import phase_diagram

  cfg = phase_diagram.Config()
  x, labels, _ = phase_diagram.make_data(cfg)
  hyp = phase_diagram.hypotheses(cfg, x, labels)
  assert hyp["alpha"] > 1 and hyp["within_cos_min"] < 0 and hyp["obtuse_up_to_n"] == 0, hyp
  assert all(g is None or g < 0 for g in hyp["margin_eq8"]), hyp
  good = phase_diagram.Config(mean_norm=4.0, spread=0.5, max_radius=2.0)
  hyp = phase_diagram.hypotheses(good, *phase_diagram.make_data(good)[:2])
  assert hyp["alpha"] < 0.35 and hyp["within_cos_min"] > 0.5 and hyp["beta"] < 0, hyp
  assert all(g > 0.1 for g in hyp["margin_eq8"]), hyp
  obt = phase_diagram.Config(dataset="obtuse", data_size=32, sample_sizes=(4, 8, 16, 32))
  hyp = phase_diagram.hypotheses(obt, *phase_diagram.make_data(obt)[:2])
  assert hyp["obtuse_up_to_n"] == 32 and hyp["alpha"] == 0, hyp
  line = phase_diagram.hypothesis_line(hyp)
  assert "nan" not in line.lower() and "n <= 32" in line, line


def test_the_phase_diagram_caption_and_title_show_the_card_and_the_hypotheses(tmp_path):
  """Drawn from a hand-made record (the smoke sweep itself is run by tests/test_sims.py; the mixture
  sim's cards and Fig. 6 caption are checked on its run record by tests/test_mixture_sim.py)."""
  from figures import phase_diagram as pfig
  from sims import phase_diagram

  cfg = phase_diagram.Config.smoke()
  x, labels, _ = phase_diagram.make_data(cfg)
  hyp = phase_diagram.hypotheses(cfg, x, labels)
  card = {"d": 8, "n": 32, "clusters": 2, "alpha": hyp["alpha"], "beta": hyp["beta"],
          "within_cos_min": hyp["within_cos_min"], "within_cos_max": hyp["within_cos_max"]}
  shape = (1, 2, 2, 1)  # (sigma, n, width, seed)
  arrays = {k: np.full(shape, 0.5) for k, _, _ in pfig.ROWS if k != "gap"}
  arrays.update(test_loss=np.full(shape, 2.0), train_loss=np.ones(shape), widths=np.array(cfg.widths),
                sample_sizes=np.array(cfg.sample_sizes), sigmas=np.array(cfg.sigmas))
  record = {"lines": ["sigma=0.2: ...", phase_diagram.hypothesis_line(hyp)],
            "data_cards": {phase_diagram.card_name(cfg): card}, "hypotheses": hyp}
  _, caption = pfig.draw({"phase": (None, arrays, record)}, str(tmp_path / "f"))
  assert caption.startswith("sigma=") and "hypotheses: Definition 3.1" in caption, caption
  assert "Data card: [phase diagram, mixture data (32 rows" in caption, caption
  assert "Eq. 8 hypotheses" in pfig._hypothesis_title(hyp)


@pytest.mark.parametrize("flag", ["max_radius", "hybrid_spread"])
def test_new_mixture_flags_are_validated(flag):
  from sims import mixture_dae

  with pytest.raises(ValueError, match=f"--{flag} must be"):
    mixture_dae.Config(**{flag: -1.0})
