r"""Does the diffusion DAEs' training recipe decide which model memorizes? (docs/experiments.md §1)

The sims compare a memorizing diffusion DAE (``n_memorize`` pairwise-obtuse centred digits) with a
generalizing one (all training digits) trained by one shared recipe (``sims._common``: Adam with cosine
decay, learning rate ``DIFFUSION_LR``, weight decay ``DIFFUSION_WD`` as λ = d·wd/4 of Eq. 6,
docs/theory.md §12.6). Earlier versions trained the two kinds at different learning rates (1e-2 vs 1e-3),
a confound. This run trains both kinds at every (learning rate, weight decay) of a grid, ``seeds``
models each, and reports per cell and kind the copy fraction of ``n_samples`` samples by the
scale-aware label (:func:`dae_theory.copies.is_copy`) and by cosine ≥ 0.95, the median norm ratio
‖sample‖/‖nearest training image‖, and the fraction of pixels outside [−1, 1]. If the recipe does not
move the copy fractions, the shared value is not what makes one model memorize.

  python -m sims.recipe --workdir runs/recipe        # about 3 min on 2 CPU cores (not part of make demo)
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, images, io
from sims._common import diffusion_card, diffusion_model, generate, memorization_set
from sims._flags import require


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  learning_rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
  weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-2)
  n_memorize: int = 5
  obtuse_margin: float = 0.05
  width: int = 64
  steps: int = 20_000
  seeds: int = 2
  n_samples: int = 200
  seed: int = 0

  def __post_init__(self):
    if not self.learning_rates or min(self.learning_rates) <= 0:
      raise ValueError(f"--learning_rates must be a non-empty list of values > 0, got "
                       f"{list(self.learning_rates)}.")
    if not self.weight_decays or min(self.weight_decays) < 0:
      raise ValueError(f"--weight_decays must be a non-empty list of values >= 0, got "
                       f"{list(self.weight_decays)}.")
    require(self, ("width", "steps", "seeds", "n_samples"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("obtuse_margin",), ">= 0", lambda v: v >= 0)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(learning_rates=(3e-3,), weight_decays=(0.0, 1e-4), steps=200, width=16, seeds=1,
               n_samples=20)


def _measure(samples: np.ndarray, train: np.ndarray, mean: np.ndarray) -> dict:
  fin = np.isfinite(samples).all(1)
  rep = copies.copy_report(samples[fin], train)
  return {"copy": float(np.sum(rep.is_copy) / len(samples)),
          "cosine": float(np.sum(rep.cosine >= copies.COSINE_COPY) / len(samples)),
          "norm_ratio_median": float(np.median(rep.norm_ratio)) if fin.any() else np.nan,
          "outside": float(np.mean(np.abs(samples[fin] + mean) > 1.0)) if fin.any() else np.nan,
          "nonfinite": int((~fin).sum())}


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train every cell, write the run record (``summary.json``: the table lines, the per-cell numbers and
  the data cards), return the arrays ``{kind}_{field}`` of shape (learning rates, weight decays, seeds)."""
  started = time.time()
  split = images.digits(seed=cfg.seed)
  mean = split.train.mean(0)
  centred = (split.train - mean).astype(np.float32)
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  sets = {"mem": centred[mem_idx], "gen": centred}
  fields = ("copy", "cosine", "norm_ratio_median", "outside", "nonfinite")
  shape = (len(cfg.learning_rates), len(cfg.weight_decays), cfg.seeds)
  out = {f"{k}_{f}": np.zeros(shape) for k in sets for f in fields}
  out["d"] = np.asarray(centred.shape[1])
  key = jax.random.key(cfg.seed)
  for i, lr in enumerate(cfg.learning_rates):
    for j, wd in enumerate(cfg.weight_decays):
      for s in range(cfg.seeds):
        for ki, (kind, x) in enumerate(sets.items()):
          k = jax.random.fold_in(jax.random.fold_in(key, s), ki)  # same model keys in every cell
          _, den = diffusion_model(jax.random.fold_in(k, 0), jnp.asarray(x), cfg.width, cfg.steps,
                                   learning_rate=lr, weight_decay=wd)
          smp = np.asarray(generate(jax.random.fold_in(k, 1), den, cfg.n_samples, x.shape[1]))
          for f, v in _measure(smp, x, mean).items():
            out[f"{kind}_{f}"][i, j, s] = v
      if log:
        log(f"lr {lr:g}, wd {wd:g}: copy fraction mem {out['mem_copy'][i, j].mean():.3f}, "
            f"gen {out['gen_copy'][i, j].mean():.3f}")
  lines = summary(out, cfg)
  # the learning rate and λ are the grid's axes, not one value: None in the card (the table has them)
  cards = {kind: {**diffusion_card(x, cfg.width, cfg.steps, cfg.seeds), "learning_rate": None,
                  "lam": None} for kind, x in sets.items()}
  io.write_run(workdir, cfg, out, started,
               axes={k: ["learning_rate", "weight_decay", "seed"] for k in out if k != "d"},
               extra={"summary.json": {"lines": lines, "data_cards": cards}})
  return out


def summary(out: dict, cfg: Config) -> list[str]:
  """A markdown table: per (lr, wd) and kind, the mean over seeds of each measurement."""
  lines = ["| lr | wd (λ = d·wd/4) | kind | copies (scale-aware) | cosine ≥ 0.95 | norm ratio (median) "
           "| pixels outside [−1, 1] |", "|---|---|---|---|---|---|---|"]
  for i, lr in enumerate(cfg.learning_rates):
    for j, wd in enumerate(cfg.weight_decays):
      for kind in ("mem", "gen"):
        g = lambda f: out[f"{kind}_{f}"][i, j]
        lines.append(f"| {lr:g} | {wd:g} ({int(out['d']) * wd / 4:g}) | {kind} | {g('copy').mean():.3f} "
                     f"[{g('copy').min():.3f}, {g('copy').max():.3f}] | {g('cosine').mean():.3f} | "
                     f"{g('norm_ratio_median').mean():.2f} | {g('outside').mean():.3f} |")
  span = lambda k: (out[k].mean(-1).min(), out[k].mean(-1).max())
  lines.append(f"Across the grid (mean over {cfg.seeds} model seeds per cell): memorizing copy fraction "
               f"{span('mem_copy')[0]:.3f}–{span('mem_copy')[1]:.3f}, cosine fraction "
               f"{span('mem_cosine')[0]:.3f}–{span('mem_cosine')[1]:.3f}; generalizing copy fraction "
               f"{span('gen_copy')[0]:.3f}–{span('gen_copy')[1]:.3f}.")
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/recipe", run, lambda out, cfg: summary(out, cfg))
