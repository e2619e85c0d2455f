"""The detection sim on the lab's own models: detection of duplicated training points in a hybrid
diffusion DAE, and its flag validation."""

import pytest

from sims import detection as det_sim


def test_hybrid_models_duplicated_points_are_detected_by_std_h(tmp_path):
  """Digits only, one sigma, 1000 hybrid samples. Measured at this setting: the copies are all of
  duplicated points, and std(h) separates them from novel samples with AUROC 0.97 (0.973 [0.96, 0.98]
  in the default run, README). 0.9 leaves room for the smaller sample while failing a detector that
  does not work."""
  cfg = det_sim.Config(datasets=("digits",), sigmas=(0.1,), n_samples=100, hybrid_samples=1000,
                       n_boot=50)
  out = det_sim.run(cfg, str(tmp_path))
  copies = out["digits_hybrid_copies_of_duplicated"]
  # One model: >= 90% rather than all, so that one borderline sample on another CPU does not flip it.
  assert copies.size >= 20 and copies.mean() >= 0.9, copies
  row = next(r for r in out["rows"] if r["setting"] == "hybrid" and r["score"] == "std σ=0.1")
  assert row["auroc"] > 0.9, row
  assert (tmp_path / "table.md").read_text().count("| digits |") == len(out["rows"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(datasets=()), "--datasets must be a non-empty list"),
    (dict(datasets=("cifar",)), "--datasets must be a non-empty list"),
    (dict(sigmas=(0.1, 0.0)), "--sigmas must be a non-empty list of values > 0"),
    (dict(threshold=0.0), "--threshold must be in"),
])
def test_bad_detection_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    det_sim.Config(**kwargs)
