r"""Representation steering (Eq. 11, docs/theory.md §10.2) in memorizing and generalizing diffusion DAEs
on digits, measured where it does not saturate (docs/experiments.md §4.2).

Models: the time-conditioned DAE (docs/theory.md §9) on centred digits, memorizing (``n_memorize``
pairwise-obtuse images, as in ``sims.image_dae``) and generalizing (all training digits), ``seeds``
model seeds of each, both with the shared recipe of ``sims._common`` (one ``learning_rate`` and one
``weight_decay``, λ = d·wd/4).

Two target classes, both run:

* **stored** (``target_class``; −1 = the class of the first memorized image): a class the memorizing
  model holds an image of;
* **not stored** (``other_class``; −1 = the smallest class with no memorized image).

v = mean of the un-modulated code relu(Wᵀx) over the training digits of the class;
a = a_rel · mean‖h(x)‖/‖v‖ over the model's own training data, a_rel on ``levels`` values in
[0, ``a_max``]. The steered denoiser W((relu(Wᵀy) + a·1[σ ∈ Ω]·v) ⊙ exp(MLP(log σ))) + s·y
(:func:`dae_theory.steering.steered_diffusion_denoiser`) replaces the denoiser inside the **steering
window** Ω = [``sigma_lo``, ``sigma_hi``] only; the sampler's other levels use the model itself. Every a
starts from the same initial and injected noise (a path x(a) changes only through a), and both targets
use the same noise (their a = 0 samples are the same).

Default window [0.5, 2]: the first 18 of the sampler's 60 levels (σ from σ_max = 2 down to 0.5), where
the class of a digit is laid out; the remaining 42 levels finish the image with the unsteered model.
Steering at every level adds a·W(v ⊙ m(σ)) to the output of the last steps themselves, so the output
norm grows fast in a; inside the window it grows too (the bias-free denoiser is positively homogeneous
at fixed σ, so it carries a large early displacement to the end instead of pulling it back), but more
slowly. The run records, for seed 0 and the stored class at a_max, the norm ratio of the same paths
steered in the window and at every level (``<kind>_norm_ratio_at_amax_window`` and
``..._everywhere``, a summary line); the manifold guard below catches what the window does not.
``a_max`` = 2 (41 levels, Δa_rel = 0.05): with this window the generalizing model's mean P(target)
first reaches 0.9 near a_rel ≈ 1 (the summary line "first reaches 0.9 at a_rel"; about 0.2 when
steering at every level, in a pilot), so the grid holds the whole rise, resolved in about 20 steps,
with room after it.

Per path, on the classifier's P(target) (a scikit-learn logistic regression fitted on the raw training
digits) and the outputs x(a) (:func:`dae_theory.steering.transition_metrics`):

* **width** a_90 − a_10 over which P rises from 0.1 to 0.9 (paths that cross both from below; the
  fraction of paths that reach P >= 0.9 at all, ``reached``, is reported beside it);
* **max slope** max ΔP/Δa_rel between consecutive levels;
* **jump share vs even** J·(K − 1): 1 for a path of equal steps ‖x(a_{k+1}) − x(a_k)‖, K − 1 for one
  jump (the guarded ``_g`` metrics count only the S steps between adjacent on-manifold levels and
  report J·S; see :func:`dae_theory.steering.transition_metrics`).

**Manifold guard** (:func:`dae_theory.steering.on_manifold`, defaults: norm ratio to the training
digits' median norm in [0.5, 2] and nearest-training distance at most the 99% quantile of real held-out
digits'). The *guarded* metrics (suffix ``_g``) use only the levels where a path is on the manifold
(``transition_metrics(guard="on")``), in order. They are computed on the on-manifold part rather than
on paths stopped at their first off level because about half of the **unsteered** samples already
fail the guard (the memorizing model's are scaled copies at about half the data norm, the generalizing
model's lie farther from the training digits than real held-out digits do), and a memorizing path
that starts as a scaled copy is steered up onto the manifold before it blows up; stopping there would
drop those paths whole. The stopped variant (``_s``, ``guard="stop"``) and the unguarded metrics of
all levels (``_u``) are in the record too, with the fraction of path points off the manifold.

**Pixel baseline** (:func:`dae_theory.steering.pixel_interpolation`): from the generalizing model's
a = 0 samples (the same sources as its steering paths, per seed) to the centred mean of the target
class, t = a/a_max, scored with the same classifier, guard and metrics. Its jump share is 1 by
construction (even motion); its width is in the same grid units as a_rel.

Intervals: 95%, over model seeds (resampling seeds, then paths within each;
:func:`dae_theory.steering.seed_bootstrap`); a seed's value is the mean over its paths that have one.

  python -m sims.steering --workdir runs/steering        # about 1 min on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, diffusion, images, io, steering
from sims._common import (DIFFUSION_LR, DIFFUSION_WD, diffusion_card, diffusion_model,
                          memorization_set)
from sims._flags import require

KINDS = ("mem", "gen", "pixel")
KIND_NAMES = {"mem": "memorizing", "gen": "generalizing", "pixel": "pixel interpolation"}
TARGETS = ("stored", "other")
# Per-path metrics, in the order of the summary; each with the suffix "_g" (guarded: the on-manifold
# levels only), "_s" (stopped at the first off-manifold level) or "_u" (unguarded: all levels).
METRICS = ("width", "max_slope", "jump_share", "reached")
STRIP_PATHS = 2


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  n_memorize: int = 5
  obtuse_margin: float = 0.05
  target_class: int = dataclasses.field(default=-1, metadata={
      "help": "stored target class (-1: the class of the first memorized image)"})
  other_class: int = dataclasses.field(default=-1, metadata={
      "help": "target class the memorizing model does not store (-1: the smallest such class)"})
  width: int = 64
  steps: int = 10_000
  learning_rate: float = DIFFUSION_LR
  weight_decay: float = DIFFUSION_WD
  seeds: int = 5
  paths: int = 32
  levels: int = 41
  a_max: float = dataclasses.field(default=2.0, metadata={
      "help": "largest a_rel (the grid covers the rise of P(target) for the default window)"})
  sigma_lo: float = dataclasses.field(default=0.5, metadata={
      "help": "steer only while sigma >= sigma_lo (module docstring)"})
  sigma_hi: float = dataclasses.field(default=diffusion.SIGMA_MAX, metadata={
      "help": "steer only while sigma <= sigma_hi"})
  n_boot: int = 1000
  seed: int = 0

  def __post_init__(self):
    require(self, ("width", "steps", "seeds", "paths", "n_boot"), ">= 1", lambda v: v >= 1)
    # model keys are fold_in(key, 100·[generalizing] + s): more than 100 seeds would reuse a key
    require(self, ("seeds",), "<= 100", lambda v: v <= 100)
    require(self, ("levels", "n_memorize"), ">= 2", lambda v: v >= 2)
    require(self, ("learning_rate", "a_max"), "> 0", lambda v: v > 0)
    require(self, ("obtuse_margin", "weight_decay", "sigma_lo"), ">= 0", lambda v: v >= 0)
    require(self, ("target_class", "other_class"), "-1 or a digit 0-9", lambda v: -1 <= v <= 9)
    require(self, ("sigma_lo",), f"<= {diffusion.SIGMA_MAX} (the sampler's largest sigma)",
            lambda v: v <= diffusion.SIGMA_MAX)
    require(self, ("sigma_hi",), f"> --sigma_lo = {self.sigma_lo}", lambda v: v > self.sigma_lo)
    require(self, ("sigma_hi",), f">= {diffusion.SIGMA_MIN} (the sampler's smallest sigma)",
            lambda v: v >= diffusion.SIGMA_MIN)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(steps=300, width=16, seeds=2, paths=4, levels=5, n_boot=20)


@functools.partial(jax.jit, static_argnames=("window", "n"))
def _steer_paths(key, params, v, a_grid, window, n):
  d = params.w.shape[0]
  return jax.vmap(lambda a: diffusion.sample(
      key, steering.steered_diffusion_denoiser(params, v, a, window=window), n, d, clamp=None))(a_grid)


def _targets(cfg: Config, labels: np.ndarray, mem_idx: np.ndarray) -> tuple[int, int]:
  """(stored, other) target classes; ValueError naming the flag when one is not what it claims."""
  stored = set(int(c) for c in labels[mem_idx])
  t = int(labels[mem_idx[0]]) if cfg.target_class < 0 else cfg.target_class
  if t not in stored:
    raise ValueError(f"--target_class={t} is not the class of a memorized image (those are "
                     f"{sorted(stored)}).")
  free = [c for c in range(10) if c not in stored]
  if not free and cfg.other_class < 0:
    raise ValueError("--other_class: every class has a memorized image; lower --n_memorize.")
  o = free[0] if cfg.other_class < 0 else cfg.other_class
  if o in stored:
    raise ValueError(f"--other_class={o} is the class of a memorized image (those are "
                     f"{sorted(stored)}); pick one of {free}.")
  return t, o


def _score(clf, mean, target, x, a_rel, x_train, x_heldout) -> dict:
  """P(target), the manifold guard and the transition metrics of ``x (levels, paths, d)``."""
  finite = np.all(np.isfinite(x), -1)
  rows = np.where(finite[..., None], x, 0.0) + mean
  col = list(clf.classes_).index(target)
  prob = clf.predict_proba(rows.reshape(-1, x.shape[-1]))[:, col].reshape(x.shape[:2])
  prob = np.where(finite, prob, np.nan)  # a diverged output has no probability (and is off)
  rep = steering.on_manifold(x, x_train, x_heldout)
  out = {"prob": prob, "on": rep.on, "norm_ratio": rep.norm_ratio, "nonfinite": ~finite}
  # Unguarded: all levels of the paths that stay finite (a non-finite path has no value).
  ok = finite.all(0)
  u = steering.transition_metrics(a_rel, np.where(ok, prob, 0.0), x=np.where(ok[None, :, None], x, 0))
  kw = dict(x=np.where(finite[..., None], x, 0), manifold=rep.on)
  g = steering.transition_metrics(a_rel, np.nan_to_num(prob), guard="on", **kw)
  st = steering.transition_metrics(a_rel, np.nan_to_num(prob), guard="stop", **kw)
  for tag, m, keep in (("u", u, ok), ("g", g, g["levels_kept"] >= 2),
                       ("s", st, st["levels_kept"] >= 2)):
    out[f"width_{tag}"] = np.where(keep, m["width_10_90"], np.nan)
    out[f"max_slope_{tag}"] = np.where(keep, m["max_slope"], np.nan)
    out[f"jump_share_{tag}"] = np.where(keep, m["jump_share_even"], np.nan)
    out[f"reached_{tag}"] = np.where(keep, m["reached_90"].astype(float), np.nan)
  out["levels_kept"] = g["levels_kept"]
  # Where the steepest rise of P happens (all levels): both of its levels on the manifold or not,
  # and the outputs' norm ratio to the data just before and after it.
  k = np.argmax(np.diff(np.where(ok, prob, 0.0), axis=0), axis=0)  # (paths,)
  j = np.arange(prob.shape[1])
  out["steepest_on"] = np.where(ok, (rep.on[k, j] & rep.on[k + 1, j]).astype(float), np.nan)
  out["steepest_norm_before"] = np.where(ok, rep.norm_ratio[k, j], np.nan)
  out["steepest_norm_after"] = np.where(ok, rep.norm_ratio[k + 1, j], np.nan)
  return out


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train, steer and score; write the run record to ``workdir`` (``summary.json``: the
  :func:`summary` lines, the data cards and the interval table ``metrics``); return the results.
  ``log`` gets one progress line per trained model (None: silent)."""
  from sklearn.linear_model import LogisticRegression

  started = time.time()
  log = log or (lambda *_: None)  # make_all passes None: no progress lines
  split = images.digits(seed=cfg.seed)
  mean = split.train.mean(0)
  centred, heldout = split.train - mean, split.test - mean
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  classes = _targets(cfg, split.train_labels, mem_idx)
  clf = LogisticRegression(max_iter=2000).fit(split.train, split.train_labels)
  a_rel = np.linspace(0.0, cfg.a_max, cfg.levels)
  window = (cfg.sigma_lo, cfg.sigma_hi)
  sig = diffusion.sigma_grid()[:-1]
  steered_levels = int(np.sum((sig >= cfg.sigma_lo) & (sig <= cfg.sigma_hi)))
  out: dict = {"a_rel": a_rel, "target_classes": np.array(classes), "mem_idx": mem_idx, "mean": mean,
               "window": np.array(window), "steered_levels": steered_levels,
               "classifier_test_accuracy": float(clf.score(split.test, split.test_labels))}
  per: dict = {}  # (kind, target) -> list over seeds of _score dicts
  strips: dict = {}
  copy_stats = {k: [] for k in ("mem", "gen")}
  for kind, x in (("mem", centred[mem_idx]), ("gen", centred)):
    x = jnp.asarray(x)
    for s in range(cfg.seeds):
      key = jax.random.fold_in(jax.random.key(cfg.seed), 100 * (kind == "gen") + s)
      params, _ = diffusion_model(jax.random.fold_in(key, 0), x, cfg.width, cfg.steps,
                                  cfg.learning_rate, cfg.weight_decay)
      norm_h = float(jnp.mean(jnp.linalg.norm(diffusion.representation(params, x), axis=1)))
      for t, cls in zip(TARGETS, classes):
        v = steering.mean_representation(lambda y: diffusion.representation(params, y),
                                         jnp.asarray(centred[split.train_labels == cls]))
        a = jnp.asarray(a_rel * norm_h / float(jnp.linalg.norm(v)), x.dtype)
        paths = np.asarray(_steer_paths(jax.random.fold_in(key, 1), params, v, a, window, cfg.paths),
                           np.float64)
        per.setdefault((kind, t), []).append(_score(clf, mean, cls, paths, a_rel, centred, heldout))
        if s == 0 and t == "stored":
          strips[kind] = paths[:, :STRIP_PATHS]
          # The window's effect (module docstring), seed 0: the same paths at a_max steered at every
          # level of the sampler instead of inside the window.
          every = np.asarray(_steer_paths(jax.random.fold_in(key, 1), params, v, a[-1:], None,
                                          cfg.paths), np.float64)
          med = np.median(np.linalg.norm(centred, axis=1))
          out[f"{kind}_norm_ratio_at_amax_window"] = np.linalg.norm(paths[-1], axis=1) / med
          out[f"{kind}_norm_ratio_at_amax_everywhere"] = np.linalg.norm(every[0], axis=1) / med
        if kind == "gen":  # the pixel baseline from the same a = 0 sources, to the class mean
          target_mean = centred[split.train_labels == cls].mean(0)
          src_ok = np.all(np.isfinite(paths[0]), 1)  # a diverged source gives a NaN baseline path
          pix = steering.pixel_interpolation(np.where(src_ok[:, None], paths[0], 0.0), target_mean,
                                             a_rel)
          pix[:, ~src_ok] = np.nan
          per.setdefault(("pixel", t), []).append(_score(clf, mean, cls, pix, a_rel, centred,
                                                         heldout))
          if s == 0 and t == "stored":
            strips["pixel"] = pix[:, :STRIP_PATHS]
      # Unsteered samples (a = 0) against the model's own training set: copies by the scale-aware
      # label and by the cosine, and non-finite samples (never copies).
      x0 = paths[0]
      fin = np.all(np.isfinite(x0), 1)
      rep = copies.copy_report(x0[fin], np.asarray(x, np.float64)) if fin.any() else None
      copy_stats[kind].append((
          0.0 if rep is None else float(rep.is_copy.sum() / len(x0)),
          0.0 if rep is None else float((rep.cosine >= copies.COSINE_COPY).sum() / len(x0)),
          int((~fin).sum())))
      log(f"{kind} seed {s} done ({time.time() - started:.0f} s)")

  table: dict = {}
  for (kind, t), rows in per.items():
    for name, arr in rows[0].items():
      out[f"{kind}_{t}_{name}"] = np.stack([r[name] for r in rows])  # (seeds, ...)
    entry = {}
    for m in METRICS:
      for tag in ("g", "s", "u"):
        iv = steering.seed_bootstrap(out[f"{kind}_{t}_{m}_{tag}"], cfg.n_boot, seed=cfg.seed)
        entry[f"{m}_{tag}"] = iv._asdict()
    on = out[f"{kind}_{t}_on"]  # (seeds, levels, paths)
    entry["off_fraction"] = steering.seed_bootstrap(1.0 - on.mean(1), cfg.n_boot,
                                                    seed=cfg.seed)._asdict()
    entry["on_at_0"] = steering.seed_bootstrap(on[:, 0].astype(float), cfg.n_boot,
                                               seed=cfg.seed)._asdict()
    entry["steepest_on"] = steering.seed_bootstrap(out[f"{kind}_{t}_steepest_on"], cfg.n_boot,
                                                   seed=cfg.seed)._asdict()
    for side in ("before", "after"):
      entry[f"steepest_norm_{side}_median"] = float(
          np.nanmedian(out[f"{kind}_{t}_steepest_norm_{side}"]))
    entry["nonfinite_points"] = int(out[f"{kind}_{t}_nonfinite"].sum())
    table.setdefault(kind, {})[t] = entry
  for kind, stats in copy_stats.items():
    arr = np.array(stats, dtype=np.float64)  # (seeds, 3)
    out[f"{kind}_copy_fraction"], out[f"{kind}_cosine_fraction"] = arr[:, 0], arr[:, 1]
    out[f"{kind}_nonfinite_at_0"] = arr[:, 2]
  for kind, strip in strips.items():
    out[f"{kind}_strip"] = strip  # (levels, STRIP_PATHS, d), seed 0, stored target
  # each memorized image is its own cluster (Cor. 3.2's setting: α = 0, β = its largest pairwise cosine)
  cards = {"memorizing": diffusion_card(centred[mem_idx], cfg.width, cfg.steps, cfg.seeds,
                                        np.arange(len(mem_idx)), learning_rate=cfg.learning_rate,
                                        weight_decay=cfg.weight_decay),
           "generalizing": diffusion_card(centred, cfg.width, cfg.steps, cfg.seeds,
                                          split.train_labels, learning_rate=cfg.learning_rate,
                                          weight_decay=cfg.weight_decay)}
  lines = summary(out, cfg, table)
  axes = {}
  for kind in KINDS:
    for t in TARGETS:
      for name in ("prob", "on", "norm_ratio", "nonfinite"):
        axes[f"{kind}_{t}_{name}"] = ["seed", "a", "path"]
      for m in METRICS:
        for tag in ("g", "s", "u"):
          axes[f"{kind}_{t}_{m}_{tag}"] = ["seed", "path"]
      for name in ("levels_kept", "steepest_on", "steepest_norm_before", "steepest_norm_after"):
        axes[f"{kind}_{t}_{name}"] = ["seed", "path"]
    axes[f"{kind}_strip"] = ["a", "path", "pixel"]
  for kind in ("mem", "gen"):
    for where in ("window", "everywhere"):
      axes[f"{kind}_norm_ratio_at_amax_{where}"] = ["path"]
  io.write_run(workdir, cfg, out, started, axes=axes,
               extra={"summary.json": {"lines": lines, "data_cards": cards, "metrics": table,
                                       "target_classes": list(classes),
                                       "unit": "model seeds (resampling seeds, then paths)"}})
  out["metrics"], out["data_cards"] = table, cards
  return out


def _mean_crossing(a_rel: np.ndarray, prob: np.ndarray) -> float:
  """The a_rel at which the mean over seeds (of each seed's path mean) of ``prob (seeds, levels,
  paths)`` first reaches 0.9 (``transition_metrics``' a_90 of that curve; NaN if never, or from the
  start)."""
  m = np.nanmean(np.nanmean(prob, 2), 0)
  if not np.all(np.isfinite(m)):
    return float("nan")
  return float(steering.transition_metrics(a_rel, m[:, None])["a_90"][0])


def _iv(e: dict, digits: int = 3) -> str:
  if not np.isfinite(e["mean"]):
    return "n/a"
  return f"{e['mean']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"


def summary(out: dict, cfg: Config, table: dict | None = None) -> list[str]:
  """The lines printed and stored in ``summary.json``."""
  if table is None:
    table = out["metrics"]
  stored, other = (int(c) for c in out["target_classes"])
  lo, hi = (float(w) for w in out["window"])
  lines = [f"targets: class {stored} (stored by the memorizing model), class {other} (not stored); "
           f"steering window sigma in [{lo:g}, {hi:g}] ({int(out['steered_levels'])} of the sampler's "
           f"60 levels); a_rel in [0, {cfg.a_max:g}], {cfg.levels} levels; classifier test accuracy "
           f"{float(out['classifier_test_accuracy']):.3f}",
           f"95% intervals over {cfg.seeds} model seeds (resampling seeds, then paths; "
           f"{cfg.paths} paths per seed); guarded = on-manifold levels only, stopped = levels before "
           f"the first off-manifold one, unguarded = all levels"]
  for kind in ("mem", "gen"):
    c, cs = out[f"{kind}_copy_fraction"], out[f"{kind}_cosine_fraction"]
    bad = int(np.sum(out[f"{kind}_nonfinite_at_0"]))
    lines.append(f"{KIND_NAMES[kind]} a = 0 samples: copies {np.mean(c):.3f} (scale-aware label; "
                 f"cosine >= 0.95: {np.mean(cs):.3f}), non-finite {bad}")
  for kind in ("mem", "gen"):
    w, e = out[f"{kind}_norm_ratio_at_amax_window"], out[f"{kind}_norm_ratio_at_amax_everywhere"]
    lines.append(f"{KIND_NAMES[kind]}, seed 0, class {stored} at a_rel = {cfg.a_max:g}: median norm "
                 f"ratio to the data {np.nanmedian(w):.2f} steering in the window, "
                 f"{np.nanmedian(e):.2f} steering at every level")
  crossings = []
  for t, cls in (("stored", stored), ("other", other)):
    for kind in KINDS:
      c = _mean_crossing(out["a_rel"], out[f"{kind}_{t}_prob"])
      crossings.append(f"class {cls} {KIND_NAMES[kind]} " + ("never" if np.isnan(c) else f"{c:.2f}"))
  lines.append("mean P(target) over seeds and paths first reaches 0.9 at a_rel: "
               + ", ".join(crossings))
  for t, cls in (("stored", stored), ("other", other)):
    for kind in KINDS:
      e = table[kind][t]
      lines.append(
          f"class {cls} {KIND_NAMES[kind]}: guarded width {_iv(e['width_g'])}, max slope "
          f"{_iv(e['max_slope_g'], 2)}, jump share vs even {_iv(e['jump_share_g'], 2)}, reached 0.9 "
          f"{_iv(e['reached_g'], 2)}; unguarded width {_iv(e['width_u'])}, max slope "
          f"{_iv(e['max_slope_u'], 2)}, jump share vs even {_iv(e['jump_share_u'], 2)}, reached 0.9 "
          f"{_iv(e['reached_u'], 2)}; stopped: width {_iv(e['width_s'])}, reached 0.9 "
          f"{_iv(e['reached_s'], 2)}; steepest step with both levels on the manifold "
          f"{_iv(e['steepest_on'], 2)}, median norm ratio {e['steepest_norm_before_median']:.2f} → "
          f"{e['steepest_norm_after_median']:.2f} across it; on the manifold at a = 0 "
          f"{_iv(e['on_at_0'], 2)}, path points off {_iv(e['off_fraction'], 2)}, non-finite "
          f"{e['nonfinite_points']}")
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/steering", run, summary)
