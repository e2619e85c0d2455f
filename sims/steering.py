r"""Representation steering (Eq. 11, docs/theory.md §10) in memorizing and generalizing diffusion DAEs on digits,
with numbers for how smooth it is.

Models: the time-conditioned DAE (docs/theory.md §9) on centred digits, memorizing (``n_memorize`` pairwise
obtuse images, as in ``sims.image_dae``) and generalizing (all training digits), ``seeds`` of each.
Target set: the training digits of class ``target_class`` (default −1: the class of the first memorized
image, so that both models can produce the target). v = mean of the un-modulated code relu(Wᵀx) over the
target set. The steered denoiser x̂₀(y, σ) = W((relu(Wᵀy) + a·v) ⊙ exp(MLP(log σ))) + s·y replaces the
denoiser at every step of the VE sampler, from the same initial and injected noise for every a (so a
path x(a) changes only through a). a = a_rel · mean‖h(x)‖/‖v‖ over the model's training data, for
``a_rel`` on a grid of ``levels`` values in [0, ``a_max``].

Per path x(a) (one initial noise):

* **target probability** p(a): a scikit-learn logistic-regression classifier (fitted on the raw training
  digits) gives P(target class | x(a) + mean);
* **jump share** J = max_k ‖x(a_{k+1}) − x(a_k)‖ / Σ_k ‖x(a_{k+1}) − x(a_k)‖: 1/(levels − 1) when the
  path moves evenly, 1 when it moves in a single jump (the brittle, threshold-like response);
* **monotonicity** ρ: Spearman correlation between a and p(a) (1 = the target grows steadily);
* **reached**: p(a_max) > 0.5.

Each is averaged over ``paths`` paths and ``seeds`` models, with a 95% bootstrap interval over models
(resampling seeds, then paths).

  python -m sims.steering --workdir runs/steering        # about 1 min on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import diffusion, images, io, steering
from sims._common import diffusion_model, memorization_set
from sims._flags import require


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  n_memorize: int = 5
  obtuse_margin: float = 0.05
  target_class: int = dataclasses.field(default=-1, metadata={
      "help": "digit class to steer towards (-1: the class of the first memorized image)"})
  width: int = 64
  steps: int = 20_000
  mem_lr: float = 1e-2
  gen_lr: float = 1e-3
  seeds: int = 3
  paths: int = 32
  levels: int = 41
  a_max: float = dataclasses.field(default=0.4, metadata={
      "help": "largest a_rel (by 0.4 every path has reached the target; beyond, x(a) only grows)"})
  n_boot: int = 1000
  seed: int = 0

  def __post_init__(self):
    require(self, ("width", "steps", "seeds", "paths", "n_boot"), ">= 1", lambda v: v >= 1)
    require(self, ("levels", "n_memorize"), ">= 2", lambda v: v >= 2)
    require(self, ("mem_lr", "gen_lr", "a_max"), "> 0", lambda v: v > 0)
    require(self, ("obtuse_margin",), ">= 0", lambda v: v >= 0)
    require(self, ("target_class",), "-1 or a digit 0-9", lambda v: -1 <= v <= 9)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(steps=300, width=16, seeds=1, paths=4, levels=5, n_boot=20)


@functools.partial(jax.jit, static_argnames="n")
def _steer_paths(key, params, v, a_grid, n):
  d = params.w.shape[0]
  return jax.vmap(lambda a: diffusion.sample(key, steering.steered_diffusion_denoiser(params, v, a), n, d, clamp=None)
                  )(a_grid)  # (levels, n, d)


def _boot_ci(per_seed_paths: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
  """95% interval of the mean over a ``(seeds, paths)`` array, resampling seeds then paths."""
  rng = np.random.default_rng(seed)
  s, p = per_seed_paths.shape
  means = []
  for _ in range(n_boot):
    rows = per_seed_paths[rng.integers(0, s, s)]
    means.append(np.nanmean(np.take_along_axis(rows, rng.integers(0, p, (s, p)), 1)))
  return tuple(float(q) for q in np.nanpercentile(means, [2.5, 97.5]))


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train, steer and score, write the run record to ``workdir`` (with ``summary.json``: the
  :func:`summary` lines), return the results. ``log`` is accepted for the sims' shared signature
  (this sim logs no progress)."""
  from sklearn.linear_model import LogisticRegression

  started = time.time()
  split = images.digits(seed=cfg.seed)
  mean = split.train.mean(0)
  centred = split.train - mean
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  target = int(split.train_labels[mem_idx[0]]) if cfg.target_class < 0 else cfg.target_class
  clf = LogisticRegression(max_iter=2000).fit(split.train, split.train_labels)
  x_target = jnp.asarray(centred[split.train_labels == target])
  a_rel = np.linspace(0.0, cfg.a_max, cfg.levels)
  out: dict = {"a_rel": a_rel, "target_class": target, "mem_idx": mem_idx, "mean": mean,
               "classifier_test_accuracy": float(clf.score(split.test, split.test_labels))}
  for kind, x, lr in (("mem", centred[mem_idx], cfg.mem_lr), ("gen", centred, cfg.gen_lr)):
    x = jnp.asarray(x)
    per = {k: [] for k in ("jump_share", "monotonicity", "reached")}
    probs, strips = [], []
    for s in range(cfg.seeds):
      key = jax.random.fold_in(jax.random.key(cfg.seed), 100 * (kind == "gen") + s)
      params, _ = diffusion_model(jax.random.fold_in(key, 0), x, cfg.width, cfg.steps, lr)
      v = steering.mean_representation(lambda y: diffusion.representation(params, y), x_target)
      scale = float(jnp.mean(jnp.linalg.norm(diffusion.representation(params, x), axis=1))
                    / jnp.linalg.norm(v))
      paths = np.asarray(_steer_paths(jax.random.fold_in(key, 1), params, v,
                                      jnp.asarray(a_rel * scale, x.dtype), cfg.paths))
      prob = clf.predict_proba((paths + mean).reshape(-1, paths.shape[-1]))[:, list(clf.classes_)
                                                                            .index(target)]
      prob = prob.reshape(paths.shape[:2])
      for k, val in steering.path_metrics(paths, prob).items():
        per[k].append(val)
      probs.append(prob)
      strips.append(paths[:, :4])
    for k, vals in per.items():
      arr = np.stack(vals)  # (seeds, paths)
      out[f"{kind}_{k}"] = arr
      out[f"{kind}_{k}_mean"] = float(np.nanmean(arr))
      out[f"{kind}_{k}_ci"] = np.array(_boot_ci(arr, cfg.n_boot, cfg.seed))
    out[f"{kind}_prob"] = np.stack(probs)  # (seeds, levels, paths)
    out[f"{kind}_strips"] = np.stack(strips)  # (seeds, levels, 4, d)
  io.write_run(workdir, cfg, out, started, axes={"mem_jump_share": ["seed", "path"],
                                                 "mem_prob": ["seed", "a", "path"],
                                                 "mem_strips": ["seed", "a", "path", "pixel"]},
               extra={"summary.json": {"lines": summary(out, cfg)}})
  return out


def summary(out: dict, cfg: Config) -> list[str]:
  lines = [f"target class {out['target_class']} (classifier test accuracy "
           f"{out['classifier_test_accuracy']:.3f}); uniform path: jump share {1 / (cfg.levels - 1):.3f}"]
  for kind, name in (("gen", "generalizing"), ("mem", "memorizing")):
    parts = []
    for k in ("jump_share", "monotonicity", "reached"):
      lo, hi = out[f"{kind}_{k}_ci"]
      parts.append(f"{k} {out[f'{kind}_{k}_mean']:.3f} [{lo:.3f}, {hi:.3f}]")
    lines.append(f"{name}: " + ", ".join(parts))
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/steering", run, summary)
