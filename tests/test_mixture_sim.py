"""Issue 6's acceptance claims on the mixture sim (Fig. 4 mixture panel, Fig. 6 hybrid columns)."""

import numpy as np


def test_mixture_std_h_and_hybrid_columns(tmp_path):
  """Default mixture run with three hybrid seeds. Measured: std(h) AUROC 0.98; seeds 0 and 1 reproduce
  the Cor. 3.4 column counts with W W^T within 1.3-1.9% of the construction, seed 2 does not (two
  duplicated points share columns at cosine 0.70: README, Known discrepancies 13).

  Which seeds reach the construction is chaotic (another CPU's rounding can move a seed into another
  basin), so the claim is a count: >= 1 of 3 seeds reaches it (the structure is found by training). The
  discrepancy (not every seed does) is a measured rate, reported in the README, not pinned to a seed."""
  from sims import mixture_dae

  out = mixture_dae.run(mixture_dae.Config(seeds=3), str(tmp_path))
  assert out["auroc_std"] > 0.9, out["auroc_std"]
  assert out["mem_stored"].min() >= 0.95, out["mem_stored"]
  counts = out["hybrid_counts"]
  exact = np.all(counts == out["hybrid_construction_counts"], 1) & (out["hybrid_gram_distance"] < 0.05)
  assert exact.sum() >= 1, (counts, out["hybrid_gram_distance"])
