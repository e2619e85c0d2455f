r"""Train a memorizing and a generalizing DAE from random init and compare each with its closed form.

Memorizing: pairwise-obtuse samples (Cor. 3.2), width p = 1.5 n. Generalizing: a 3-mode Gaussian
mixture with Gram rank 2 per mode (Cor. 3.3), width p = 6 ≪ n = 600. For each model the run reports
the distance to its construction modulo symmetry (W Wᵀ, and columns matched by the Hungarian
algorithm), how well each training sample is stored in a column, and the spikiness of the code of
noisy training points (the paper's std(h), the participation ratio, and the participation ratio of the
code grouped by stored sample, which is blind to column splitting).

Launch (``make demo`` runs this)::

  python -m sims.theory_demo --workdir runs/theory_demo            # default, ~30 s on 2 CPU cores
  python -m sims.theory_demo --workdir /tmp/demo --smoke           # seconds

Writes ``config.json``, ``meta.json``, ``results.npz`` (arrays with axes in meta.json) and
``summary.json``; prints a markdown table.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import constructions, data, io, metrics, model, train
from sims._flags import require


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of the demo (each field is a flag of the same name); validated on construction."""

  seed: int = 0
  steps: int = 3000
  learning_rate: float = 1e-2
  lam: float = 1e-4
  # memorization regime (Cor. 3.2)
  mem_n: int = 8
  mem_d: int = 32
  mem_width: int = 12
  mem_sigma: float = 0.1
  # generalization regime (Cor. 3.3)
  gen_clusters: int = 3
  gen_per_cluster: int = 200
  gen_d: int = 16
  gen_rank: int = 1
  gen_width: int = 6
  gen_sigma: float = 0.2

  def __post_init__(self):
    require(self, ("steps", "mem_n", "mem_d", "mem_width", "gen_clusters", "gen_per_cluster",
                   "gen_d", "gen_rank", "gen_width"), ">= 1", lambda v: v >= 1)
    require(self, ("learning_rate", "mem_sigma", "gen_sigma"), "> 0", lambda v: v > 0)
    require(self, ("lam",), ">= 0", lambda v: v >= 0)
    if self.mem_width < self.mem_n:
      raise ValueError(f"--mem_width={self.mem_width} must be >= --mem_n={self.mem_n} (Cor. 3.2 needs "
                       f"p >= n).")
    if self.mem_n > self.mem_d + 1:
      raise ValueError(f"--mem_n={self.mem_n} pairwise-obtuse samples need --mem_d >= "
                       f"{self.mem_n - 1}, got {self.mem_d}.")
    if self.gen_d < self.gen_clusters + self.gen_rank:
      raise ValueError(f"--gen_d={self.gen_d} must be >= gen_clusters + gen_rank = "
                       f"{self.gen_clusters + self.gen_rank}.")

  @classmethod
  def smoke(cls) -> "Config":
    """A tiny configuration that runs end to end in seconds."""
    return cls(steps=300, mem_n=4, mem_d=8, mem_width=6, gen_per_cluster=40, gen_d=8)


def _code_summary(params, x, y, owner, groups) -> dict:
  h = model.representation(params, y)
  return {
      "std_h": float(jnp.mean(metrics.code_std(h))),
      "participation_ratio": float(jnp.mean(metrics.participation_ratio(h))),
      "grouped_participation_ratio": float(jnp.mean(
          metrics.participation_ratio(metrics.grouped_code(h, owner, groups)))),
      "active_units": float(jnp.mean(metrics.active_count(h))),
  }


def _compare(key, name, params, con, x, labels, sigma) -> tuple[dict, dict]:
  """Distances to the construction and code statistics of the trained and the constructed net."""
  y = x + sigma * jax.random.normal(key, x.shape, x.dtype)
  cos = np.asarray(metrics.cosine_matrix(x, params.w1.T))  # (n, p)
  labels = np.asarray(labels)
  m = int(labels.max()) + 1
  # Units grouped by the sample (memorizing) or the cluster (generalizing) they serve.
  # Units grouped by the sample they store (memorizing). For the generalizing net grouping is not
  # meaningful (units store no sample): the grouped ratio is reported as NaN there.
  if name == "memorizing":
    owner, groups = cos.argmax(0), x.shape[0]
  else:
    owner, groups = np.full(params.width, -1), m
  row = {
      "model": name, "width": int(params.width), "n": int(x.shape[0]), "sigma": sigma,
      "gram_distance": float(metrics.gram_distance(params, con.params)),
      "matched_column_distance": metrics.matched_column_distance(params.w1, con.params.w1)[0],
      "min_best_sample_cosine": float(cos.max(1).min()),
      "max_column_sample_cosine": float(cos.max()),
  }
  row.update({f"trained_{k}": v for k, v in _code_summary(params, x, y, owner, groups).items()})
  row.update({f"construction_{k}": v
              for k, v in _code_summary(con.params, x, y, con.unit_block, groups).items()})
  if name != "memorizing":
    row["trained_grouped_participation_ratio"] = float("nan")
    row["construction_grouped_participation_ratio"] = float("nan")
  arrays = {"w1": np.asarray(params.w1), "w1_construction": np.asarray(con.params.w1),
            "h_noisy": np.asarray(model.representation(params, y))}
  return row, arrays


def run(cfg: Config, workdir: str) -> list[dict]:
  """Train both models, compare with the constructions, write the run record; return the rows."""
  started = time.time()
  key = jax.random.key(cfg.seed)
  mem = data.obtuse_samples(jax.random.fold_in(key, 0), cfg.mem_n, cfg.mem_d, (1.0, 2.0))
  res_m = train.train_dae(jax.random.fold_in(key, 1), mem.x, cfg.mem_width, cfg.mem_sigma, cfg.lam,
                          cfg.steps, cfg.learning_rate)
  con_m = constructions.memorization_weights(mem.x, cfg.mem_sigma, cfg.lam, width=cfg.mem_width)
  row_m, arr_m = _compare(jax.random.fold_in(key, 2), "memorizing", res_m.params, con_m, mem.x,
                          mem.labels, cfg.mem_sigma)

  gen, _ = data.gaussian_mixture(jax.random.fold_in(key, 3), cfg.gen_clusters, cfg.gen_per_cluster,
                                 cfg.gen_d, cfg.gen_rank)
  res_g = train.train_dae(jax.random.fold_in(key, 4), gen.x, cfg.gen_width, cfg.gen_sigma, cfg.lam,
                          cfg.steps, cfg.learning_rate)
  alloc = metrics.learned_allocation(res_g.params, gen.x, gen.labels)
  con_g = constructions.construction_for_allocation(gen.x, gen.labels, alloc, cfg.gen_sigma, cfg.lam)
  row_g, arr_g = _compare(jax.random.fold_in(key, 5), "generalizing", res_g.params, con_g, gen.x,
                          gen.labels, cfg.gen_sigma)
  row_g["allocation"] = [int(np.sum(alloc == k)) for k in range(cfg.gen_clusters)]

  rows = [row_m, row_g]
  results = {f"mem_{k}": v for k, v in arr_m.items()}
  results.update({f"gen_{k}": v for k, v in arr_g.items()})
  results.update(mem_losses=np.asarray(res_m.losses), gen_losses=np.asarray(res_g.losses),
                 gen_allocation=alloc)
  axes = {"mem_w1": ["d", "unit"], "mem_w1_construction": ["d", "unit"],
          "mem_h_noisy": ["sample", "unit"], "gen_w1": ["d", "unit"],
          "gen_w1_construction": ["d", "unit"], "gen_h_noisy": ["sample", "unit"],
          "mem_losses": ["step"], "gen_losses": ["step"], "gen_allocation": ["unit"]}
  io.write_run(workdir, cfg, results, started, axes, extra={"summary.json": rows})
  return rows


def format_table(rows: list[dict]) -> str:
  """Markdown table of the demo's rows."""
  cols = [("model", "model", "{}"), ("width", "p", "{}"), ("n", "n", "{}"),
          ("gram_distance", "‖WWᵀ−W*W*ᵀ‖/‖W*W*ᵀ‖", "{:.4f}"),
          ("min_best_sample_cosine", "min_i max_j cos(x_i, w_j)", "{:.3f}"),
          ("trained_std_h", "std(h)", "{:.3f}"),
          ("trained_participation_ratio", "PR(h)", "{:.2f}"),
          ("trained_grouped_participation_ratio", "PR(grouped h)", "{:.2f}"),
          ("trained_active_units", "active units", "{:.2f}"),
          ("construction_participation_ratio", "PR(h) of construction", "{:.2f}")]
  lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
  for r in rows:
    cells = ["n/a" if isinstance(r[k], float) and np.isnan(r[k]) else fmt.format(r[k])
             for k, _, fmt in cols]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


if __name__ == "__main__":
  from sims import _flags

  def _main(cfg: Config, workdir: str) -> None:
    rows = run(cfg, workdir)
    print(format_table(rows))
    gen = rows[1]
    print(f"\nGeneralizing net: units per cluster chosen by training = {gen['allocation']}; "
          f"the construction compared with is built for that allocation.")
    print(f"Run record in {workdir}/ (config.json, meta.json, results.npz, summary.json).")

  _flags.main_with_config(Config, "runs/theory_demo", _main)
