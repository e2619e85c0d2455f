r"""Memorizing vs generalizing DAEs on real images: the runs behind Fig. 2, Fig. 3 and Fig. 4 (images).

Data (``--dataset``): scikit-learn's digits (default), patches of its two sample photographs, or a
user's folder of images (``--dataset folder --image_folder PATH``). Images are in [−1, 1] and are
**centred** by the training mean before training (the DAE has no bias, and raw digits are pairwise
acute, β = 0.96, which breaks Cor. 3.2's hypothesis: README, Known discrepancy 12). The memorization
set is ``n_memorize`` centred training images picked with pairwise cosines below −``obtuse_margin``
(:func:`dae_theory.data.obtuse_subset`; with margin 0 two nearly orthogonal digits, cosine −0.01, shared
a column in our probe: the column at cosine 0.76 to each);
the generalizing models see every training image. The memorizing and the generalizing model of each
pair below are trained with the **same** recipe: the training set is the variable under study.
Every model kind's data card (:func:`dae_theory.data.data_card`: d, n, p, α, β, within-cluster
cosines, λ, optimizer, learning rate, steps, seeds) is in ``summary.json`` under ``"data_cards"``;
the memorization set's card treats each image as its own cluster (Cor. 3.2's view), so its β is the
largest pairwise cosine of the set; the full set's clusters are the digit classes.

Three pairs of models:

* **Diffusion DAEs** (docs/theory.md §9, Fig. 2), ``seeds`` of each, both kinds with the shared
  diffusion recipe of :mod:`sims._common` (Adam with cosine decay, ``learning_rate``, and weight decay
  ``weight_decay`` as λ = d·wd/4 of Eq. 6, docs/theory.md §12.6). Samples from the VE sampler (no
  clamping: in centred coordinates the reference's clamp to [−1, 1] cuts the σ = 2 starting noise, and
  it lowered the memorized fraction from 0.93 to 0.77 in our probe), each sample's nearest-training
  cosine (in centred coordinates, stricter than raw [−1, 1] where the common background inflates
  cosines) and the memorized fraction (cosine ≥ ``threshold``, scale-blind, kept for comparison);
  beside it the scale-aware copy label of :func:`dae_theory.copies.copy_report` against the model's
  own training set (d₁/d₂ < 1/3 and relative L2 error < 0.1; per sample ratio, relative error, norm
  ratio, label; ``{mem,gen}_copy_fraction`` per seed; non-finite samples are never copies). Sample
  quality per seed: median nearest-training distance of the samples vs of the real held-out images
  (the loader's test split: for digits the 359 digits not in the 80% training split; none for
  ``--dataset folder``, whose held-out numbers are NaN); median max probability of a
  logistic-regression classifier (on the centred training images and their labels) on samples vs
  held-out images; fraction of pixels outside [−1, 1] after adding the mean back.
* **Plain DAEs at σ = ``sigma``** (Eq. 5, Fig. 3), ``plain_seeds`` pairs (pair s: both models trained
  with seed s). ``--plain_recipe shared`` (default): both kinds with ``plain_optimizer`` (Adam), cosine
  decay (``plain_cosine``), ``plain_learning_rate`` 1e-3, λ = d·``plain_weight_decay``/4 = 0.16 on
  digits (wd 1e-2, the reference's memorizing value), ``plain_steps``, and the one minibatch rule
  (:func:`dae_theory.train.batch_or_full`: batch 256, i.e. the full batch for the 5 memorized images).
  ``--plain_recipe reference``: the reference code's per-kind recipes (:data:`REFERENCE_RECIPE`):
  memorizing RMSprop lr 1e-3 with wd 1e-2 (λ = 0.16), generalizing Adam lr 1e-4 with wd 1e-4
  (λ = 1.6e-3), both at a constant rate (the reference ran 50,000 steps: add ``--plain_steps 50000``).
  The reference's optimizer weight decay wd on a per-pixel loss is λ = d·wd/4 in Eq. 6 for tied
  weights (the per-pixel loss is 1/d of ours, and wd·W in the gradient is the gradient of
  (wd/2)‖W‖², while Eq. 6's tied penalty is 2λ‖W‖²). Why the shared λ is the memorizing one: at the
  generalizing λ = 1.6e-3 (and the reference's generalizing Adam lr 1e-4) the 5-image model keeps
  about 80 live columns, most of them not a stored image (docs/experiments.md §2.2). Per column: its
  best cosine to a training image of its own training set; per seed: how many of the memorized images
  have a live column at cosine ≥ :data:`STORED_COSINE`.
* From the plain DAEs (Fig. 4): std(h) and participation ratio of h(x + σε) for the memorizing model's
  training images (``draws`` noise draws each) and for as many training images of the generalizing
  model (one draw each), per seed pair; AUROC of each score at telling them apart, per pair and
  averaged over pairs with a two-level bootstrap interval (:func:`dae_theory.detection.
  hierarchical_bootstrap`, ``n_boot`` resamples: the unit of replication is the model seed, i.e. one
  (memorizing, generalizing) pair; pairs are resampled, then the scored points within each, by class).

  python -m sims.image_dae --workdir runs/image_dae          # about 1.5 min on 2 CPU cores
  python -m sims.image_dae --plain_recipe reference --plain_steps 50000 --workdir runs/image_dae_reference
  python -m sims.image_dae --dataset folder --image_folder ~/faces --side 32 --workdir runs/faces
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, detection, diffusion, images, io, metrics, train
from sims._common import (DIFFUSION_LR, DIFFUSION_WD, diffusion_card, diffusion_lam, diffusion_model,
                          generate, memorization_set, std_separation)
from sims._flags import require

DATASETS = ("digits", "patches", "folder")
PLAIN_RECIPES = ("shared", "reference")
PLAIN_OPTIMIZERS = ("adam", "rmsprop", "sgd")
PLAIN_BATCH = 256  # minibatch of the plain DAEs (train.batch_or_full: the full batch when n <= 256)
STORED_COSINE = copies.COSINE_COPY  # a live column stores an image: cosine >= this (0.95)
# The reference code's per-kind plain-DAE recipes (``--plain_recipe reference``); wd is the
# optimizer's weight decay on a per-pixel loss, λ = d·wd/4 (docs/theory.md §12.6).
REFERENCE_RECIPE = {
    "mem": dict(optimizer="rmsprop", learning_rate=1e-3, weight_decay=1e-2, cosine=False),
    "gen": dict(optimizer="adam", learning_rate=1e-4, weight_decay=1e-4, cosine=False),
}
KIND_NAMES = {"mem": "memorizing", "gen": "generalizing"}


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  dataset: str = dataclasses.field(default="digits", metadata={"help": f"one of {DATASETS}"})
  image_folder: str = dataclasses.field(default="", metadata={"help": "folder for --dataset folder"})
  side: int = dataclasses.field(default=32, metadata={"help": "square side for --dataset folder"})
  n_memorize: int = dataclasses.field(default=5, metadata={"help": "images of the memorizing models"})
  obtuse_margin: float = dataclasses.field(default=0.05, metadata={
      "help": "memorization set: pairwise cosines < -obtuse_margin"})
  seed: int = 0
  seeds: int = dataclasses.field(default=3, metadata={"help": "diffusion DAEs of each kind"})
  diffusion_width: int = 64
  diffusion_steps: int = 20_000
  learning_rate: float = dataclasses.field(default=DIFFUSION_LR, metadata={
      "help": "diffusion DAEs, both kinds: peak Adam learning rate"})
  weight_decay: float = dataclasses.field(default=DIFFUSION_WD, metadata={
      "help": "diffusion DAEs, both kinds: weight decay wd, lambda = d*wd/4"})
  n_samples: int = 200
  threshold: float = dataclasses.field(default=copies.COSINE_COPY,
                                     metadata={"help": "memorized: cosine >= this"})
  width: int = dataclasses.field(default=100, metadata={"help": "plain DAE width (Fig. 3)"})
  sigma: float = dataclasses.field(default=0.2, metadata={"help": "plain DAE noise level"})
  plain_recipe: str = dataclasses.field(default="shared", metadata={
      "help": f"plain DAEs: one of {PLAIN_RECIPES} (shared: both kinds with the plain_* settings; "
              "reference: the reference code's per-kind recipes)"})
  plain_seeds: int = dataclasses.field(default=5, metadata={
      "help": "plain DAE pairs (memorizing, generalizing), one per model seed"})
  plain_steps: int = dataclasses.field(default=20_000, metadata={"help": "plain DAEs: steps"})
  plain_optimizer: str = dataclasses.field(default="adam", metadata={
      "help": f"plain DAEs, shared recipe: one of {PLAIN_OPTIMIZERS}"})
  plain_learning_rate: float = dataclasses.field(default=1e-3, metadata={
      "help": "plain DAEs, shared recipe: (peak) learning rate"})
  plain_weight_decay: float = dataclasses.field(default=1e-2, metadata={
      "help": "plain DAEs, shared recipe: weight decay wd, lambda = d*wd/4"})
  plain_cosine: bool = dataclasses.field(default=True, metadata={
      "help": "plain DAEs, shared recipe: cosine decay of the rate (else constant)"})
  draws: int = dataclasses.field(default=100, metadata={"help": "noise draws per memorized image"})
  n_boot: int = dataclasses.field(default=1000, metadata={
      "help": "bootstrap resamples of the Fig. 4 AUROC intervals"})

  def __post_init__(self):
    if self.dataset not in DATASETS:
      raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}.")
    if (self.dataset == "folder") != bool(self.image_folder):
      raise ValueError("--image_folder must be given exactly when --dataset folder (got "
                       f"--dataset {self.dataset} --image_folder {self.image_folder!r}).")
    if self.plain_recipe not in PLAIN_RECIPES:
      raise ValueError(f"--plain_recipe must be one of {PLAIN_RECIPES}, got {self.plain_recipe!r}.")
    if self.plain_optimizer not in PLAIN_OPTIMIZERS:
      raise ValueError(f"--plain_optimizer must be one of {PLAIN_OPTIMIZERS}, got "
                       f"{self.plain_optimizer!r}.")
    require(self, ("side", "seeds", "diffusion_width", "diffusion_steps", "n_samples", "width",
                   "plain_steps", "draws", "n_boot"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("plain_seeds",), ">= 2 (the Fig. 4 interval is over model seeds)",
            lambda v: v >= 2)
    require(self, ("learning_rate", "plain_learning_rate", "sigma"), "> 0", lambda v: v > 0)
    require(self, ("weight_decay", "plain_weight_decay", "obtuse_margin"), ">= 0", lambda v: v >= 0)
    require(self, ("threshold",), "in (0, 1]", lambda v: 0 < v <= 1)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(seeds=1, diffusion_width=16, diffusion_steps=200, n_samples=16, width=16,
               plain_seeds=2, plain_steps=300, draws=10, n_boot=200)


def plain_recipe(cfg: Config, kind: str) -> dict:
  """The plain-DAE training settings of model kind ``kind`` ("mem" | "gen") under ``cfg``:
  ``{optimizer, learning_rate, weight_decay, cosine, steps}``."""
  if cfg.plain_recipe == "reference":
    return dict(REFERENCE_RECIPE[kind], steps=cfg.plain_steps)
  return dict(optimizer=cfg.plain_optimizer, learning_rate=cfg.plain_learning_rate,
              weight_decay=cfg.plain_weight_decay, cosine=cfg.plain_cosine, steps=cfg.plain_steps)


def _optimizer_text(rec: dict) -> str:
  return f"{rec['optimizer']} ({'cosine decay' if rec['cosine'] else 'constant rate'})"


def load_images(cfg: Config) -> tuple[np.ndarray, int]:
  """Training images ``(n, d)`` in [−1, 1] and their side."""
  raw, side, _ = load_split(cfg)
  return raw, side


def load_split(cfg: Config) -> tuple[np.ndarray, int, dict]:
  """Training images ``(n, d)`` in [−1, 1], their side, and ``{"labels", "test", "test_labels"}``
  (the loader's held-out split; empty ``test`` for ``--dataset folder``, labels −1 where none)."""
  if cfg.dataset in ("digits", "patches"):
    split = (images.digits if cfg.dataset == "digits" else images.photo_patches)(seed=cfg.seed)
    return split.train, split.side, {"labels": split.train_labels, "test": split.test,
                                     "test_labels": split.test_labels}
  folder = images.image_folder(cfg.image_folder, cfg.side)
  for f, why in folder.skipped:
    print(f"skipped unreadable image {f}: {why}")
  d = folder.x.shape[1]
  return folder.x, folder.side, {"labels": np.full(len(folder.x), -1), "test": np.zeros((0, d)),
                                 "test_labels": np.zeros(0, int)}


CLASSIFIER_MAX_ITER = 5000


def _copy_fields(name: str, samples: np.ndarray, train_set: np.ndarray) -> dict:
  """Scale-aware copy report of ``samples (seeds, m, d)`` against ``train_set`` (same centred
  coordinates); rows with a non-finite value get NaN fields and are never copies."""
  keys = ("ratio", "relative_error", "norm_ratio")
  res = {k: np.full(samples.shape[:2], np.nan) for k in keys}
  res["is_copy"] = np.zeros(samples.shape[:2], bool)
  for s, smp in enumerate(samples):
    ok = np.isfinite(smp).all(1)
    if ok.any():
      rep = copies.copy_report(smp[ok], train_set)
      for k in keys:
        res[k][s, ok] = getattr(rep, k)
      res["is_copy"][s, ok] = rep.is_copy
  out = {f"{name}_copy_{k}": v for k, v in res.items()}
  out[f"{name}_copy_fraction"] = res["is_copy"].mean(1)  # over all samples: non-finite ones count 0
  return out


def _quality(out: dict, mem_set: np.ndarray, train_set: np.ndarray, mean: np.ndarray, labels,
             test: np.ndarray, test_labels) -> dict:
  """Part B sample quality per model kind and seed (module docstring); all in centred coordinates
  except the pixel range, which is taken after adding the mean back."""
  from sklearn.linear_model import LogisticRegression

  q: dict = {}
  test_c = test - mean
  clf = None
  if len(np.unique(labels[labels >= 0])) >= 2:
    keep = labels >= 0
    clf = LogisticRegression(max_iter=CLASSIFIER_MAX_ITER).fit(train_set[keep], labels[keep])
  q["heldout_confidence_median"] = (float(np.median(clf.predict_proba(test_c).max(1)))
                                    if clf is not None and len(test_c) else np.nan)
  for name, tset in (("mem", mem_set), ("gen", train_set)):
    q[f"{name}_heldout_nn_dist_median"] = (float(np.median(copies.nearest(test_c, tset)[0][:, 0]))
                                           if len(test_c) else np.nan)
    dist, conf, outside = [], [], []
    for smp in out[f"{name}_samples"]:
      fin = smp[np.isfinite(smp).all(1)]
      if not len(fin):
        dist.append(np.nan), conf.append(np.nan), outside.append(np.nan)
        continue
      dist.append(np.median(copies.nearest(fin, tset)[0][:, 0]))
      conf.append(np.median(clf.predict_proba(fin).max(1)) if clf is not None else np.nan)
      outside.append(np.mean(np.abs(fin + mean) > 1.0))
    q[f"{name}_sample_nn_dist_median"] = np.asarray(dist, float)
    q[f"{name}_sample_confidence_median"] = np.asarray(conf, float)
    q[f"{name}_outside_fraction"] = np.asarray(outside, float)
  return q


def _diffusion_pair(key, cfg: Config, x_mem, x_all) -> dict:
  out: dict = {}
  for name, x in (("mem", x_mem), ("gen", x_all)):
    samples, cos, idx = [], [], []
    for s in range(cfg.seeds):
      k = jax.random.fold_in(key, 2 * s + (name == "gen"))
      _, den = diffusion_model(jax.random.fold_in(k, 0), x, cfg.diffusion_width, cfg.diffusion_steps,
                               cfg.learning_rate, cfg.weight_decay)
      smp = generate(jax.random.fold_in(k, 1), den, cfg.n_samples, x.shape[1])
      c, i = diffusion.nearest_cosine(smp, x)
      samples.append(np.asarray(smp)), cos.append(np.asarray(c)), idx.append(np.asarray(i))
    out[f"{name}_samples"], out[f"{name}_nn_cos"] = np.stack(samples), np.stack(cos)
    out[f"{name}_nn_idx"] = np.stack(idx)
    out[f"{name}_fraction"] = (out[f"{name}_nn_cos"] >= cfg.threshold).mean(1)
    # samples the unclamped sampler overflowed on (NaN cosine): never copies, counted and reported
    out[f"{name}_nonfinite"] = np.isnan(out[f"{name}_nn_cos"]).sum(1)
    out.update(_copy_fields(name, out[f"{name}_samples"], np.asarray(x)))
  return out


def _plain_pairs(key, cfg: Config, x_mem, x_all) -> dict:
  """``plain_seeds`` (memorizing, generalizing) plain-DAE pairs (module docstring): per seed the
  columns' norms, liveness and best cosines, the stored-image count, and Fig. 4's scores with
  per-seed AUROCs; over seeds the mean AUROC with its two-level bootstrap interval."""
  d = x_all.shape[1]
  out: dict = {}
  models = {}
  for name, x in (("mem", x_mem), ("gen", x_all)):
    rec = plain_recipe(cfg, name)
    per: dict = {k: [] for k in ("w", "col_norm", "col_live", "col_cos", "col_match", "final_loss")}
    models[name] = []
    for s in range(cfg.plain_seeds):
      # pair s: both kinds with model seed s (fold_in of the kind's key, so seed s is the same model
      # whatever plain_seeds is)
      res = train.train_dae(jax.random.fold_in(jax.random.fold_in(key, 1 + (name == "gen")), s), x,
                            cfg.width, cfg.sigma, d * rec["weight_decay"] / 4, rec["steps"],
                            rec["learning_rate"], optimizer=rec["optimizer"], cosine=rec["cosine"],
                            batch_size=train.batch_or_full(PLAIN_BATCH, x.shape[0]))
      models[name].append(res.params)
      w = res.params.w1
      cos = np.asarray(metrics.cosine_matrix(w.T, x))  # (p, n)
      per["w"].append(np.asarray(w))
      per["col_norm"].append(np.asarray(jnp.linalg.norm(w, axis=0)))
      per["col_live"].append(np.asarray(metrics.live_columns(w)))
      per["col_cos"].append(cos.max(1)), per["col_match"].append(cos.argmax(1))
      per["final_loss"].append(float(jnp.mean(res.losses[-100:])))
      if name == "mem":  # memorized images with a live column at cosine >= STORED_COSINE
        out.setdefault("mem_images_stored", []).append(
            int((cos[per["col_live"][-1]] >= STORED_COSINE).any(0).sum()))
    for k, v in per.items():
      out[f"{name}_{k}"] = np.stack(v) if k != "final_loss" else np.asarray(v)
    live, cos = out[f"{name}_col_live"], out[f"{name}_col_cos"]
    out[f"{name}_live_count"] = live.sum(1)
    out[f"{name}_live_cos_min"] = np.array([c[l].min() for c, l in zip(cos, live)])
    out[f"{name}_live_cos_max"] = np.array([c[l].max() for c, l in zip(cos, live)])
  out["mem_images_stored"] = np.asarray(out["mem_images_stored"])

  seps = [std_separation(jax.random.fold_in(jax.random.fold_in(key, 3), s), models["mem"][s], x_mem,
                         models["gen"][s], x_all, cfg.sigma, cfg.draws)
          for s in range(cfg.plain_seeds)]
  for k in ("mem_std", "gen_std", "mem_pr", "gen_pr"):
    out[k] = np.stack([np.asarray(sep[k]) for sep in seps])  # (seed, point)
  out["h_mem"], out["h_gen"] = seps[0]["h_mem"], seps[0]["h_gen"]
  labels = np.r_[np.ones(out["mem_std"].shape[1]), np.zeros(out["gen_std"].shape[1])]
  boots = {}
  for score, mem_s, gen_s in (("std", out["mem_std"], out["gen_std"]),
                              ("pr", -out["mem_pr"], -out["gen_pr"])):  # high = memorized
    hb = detection.hierarchical_bootstrap(cfg.seed, [(labels, np.r_[m, g]) for m, g in
                                                     zip(mem_s, gen_s)], detection.auroc,
                                          n_boot=cfg.n_boot)
    boots[score] = hb
    out[f"auroc_{score}"] = np.float64(hb.estimate)  # mean over seed pairs
    out[f"auroc_{score}_per_seed"] = hb.per_model
    out[f"auroc_{score}_ci"] = np.asarray(hb.ci)
  # paired (same resamples): the participation ratio's AUROC minus std(h)'s
  diff = boots["pr"].boot - boots["std"].boot
  out["auroc_pr_minus_std_ci"] = np.percentile(diff, [2.5, 97.5])
  return out


def data_cards(cfg: Config, x_mem: np.ndarray, x_all: np.ndarray, labels) -> dict:
  """The data card of every model kind (module docstring): the memorization set with each image its
  own cluster, the full set with its class labels (none for ``--dataset folder``)."""
  labels = np.asarray(labels)
  lab = labels if (labels >= 0).all() else None
  mem_lab = np.arange(len(x_mem))
  cards = {}
  for name, x, lb in (("mem", x_mem, mem_lab), ("gen", x_all, lab)):
    cards[f"diffusion {KIND_NAMES[name]}"] = diffusion_card(
        x, cfg.diffusion_width, cfg.diffusion_steps, cfg.seeds, lb, learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay)
  for name, x, lb in (("mem", x_mem, mem_lab), ("gen", x_all, lab)):
    rec = plain_recipe(cfg, name)
    cards[f"plain {KIND_NAMES[name]}"] = data.data_card(
        x, lb, p=cfg.width, lam=diffusion_lam(x.shape[1], rec["weight_decay"]),
        optimizer=_optimizer_text(rec), learning_rate=rec["learning_rate"], steps=rec["steps"],
        seeds=cfg.plain_seeds)
  return cards


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train everything, write the run record to ``workdir`` (with ``summary.json``: the
  :func:`summary` lines and the ``data_cards``), return the results. ``log`` is accepted for the
  sims' shared signature (this sim logs no progress)."""
  started = time.time()
  raw, side, held = load_split(cfg)
  mean = raw.mean(0)
  centred = raw - mean
  if cfg.n_memorize >= raw.shape[0]:
    raise ValueError(f"--n_memorize={cfg.n_memorize} needs more training images than the "
                     f"{raw.shape[0]} there are.")
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  x_all, x_mem = jnp.asarray(centred), jnp.asarray(centred[mem_idx])
  key = jax.random.key(cfg.seed)
  out = _diffusion_pair(jax.random.fold_in(key, 0), cfg, x_mem, x_all)
  out.update(_quality(out, centred[mem_idx], centred, mean, held["labels"], held["test"],
                      held["test_labels"]))
  out.update(_plain_pairs(key, cfg, x_mem, x_all))
  out.update(train_images=raw, mean=mean, mem_idx=mem_idx, side=side)
  # Known discrepancy 12: the memorization set's pairwise cosines before and after centring
  for name, x in (("raw", raw[mem_idx]), ("centred", centred[mem_idx])):
    c = np.asarray(metrics.cosine_matrix(x, x))[~np.eye(len(mem_idx), dtype=bool)]
    out[f"mem_set_{name}_cos"] = np.array([c.min(), c.max()])
  cards = data_cards(cfg, centred[mem_idx], centred, held["labels"])
  io.write_run(workdir, cfg, out, started, axes={
      "mem_samples": ["seed", "sample", "pixel"], "mem_nn_cos": ["seed", "sample"],
      "mem_w": ["seed", "pixel", "unit"], "gen_w": ["seed", "pixel", "unit"],
      "mem_col_cos": ["seed", "unit"], "mem_std": ["seed", "point"], "gen_std": ["seed", "point"],
      "auroc_std_per_seed": ["seed"], "auroc_std_ci": ["low/high"],
      "train_images": ["image", "pixel"], "mem_set_raw_cos": ["min/max"],
      "mem_set_centred_cos": ["min/max"]},
      extra={"summary.json": {"lines": summary(out, cfg), "data_cards": cards,
                              "fig4_interval": INTERVAL_UNIT}})
  out["data_cards"] = cards
  return out


INTERVAL_UNIT = ("95% interval over model seeds: each seed is one (memorizing, generalizing) pair of "
                 "plain DAEs; the pairs are resampled, then the scored points within each, by class")


def _r(v, n=3) -> list:
  return np.round(np.asarray(v, float), n).tolist()


def summary(out: dict, cfg: Config) -> list[str]:
  s = cfg.plain_seeds
  recipe = ("one shared recipe for both kinds" if cfg.plain_recipe == "shared"
            else "the reference's per-kind recipes")
  return [
      f"diffusion DAE memorized fraction (cos >= {cfg.threshold}): memorizing "
      f"{_r(out['mem_fraction'])}, generalizing {_r(out['gen_fraction'])}"
      + "".join(f"; {name} sampler overflowed on {int(out[f'{name}_nonfinite'].sum())} samples "
                "(not finite; counted as not memorized)" for name in ("mem", "gen")
                if int(out.get(f"{name}_nonfinite", np.zeros(1)).sum())),
      f"diffusion DAE copy fraction (scale-aware: d1/d2 < {copies.COPY_DISTANCE_RATIO:.3g} and "
      f"relative error < {copies.COPY_RELATIVE_ERROR}): memorizing "
      f"{_r(out['mem_copy_fraction'])}, generalizing {_r(out['gen_copy_fraction'])}",
      *(f"{kind} diffusion DAE sample quality (medians per seed): nearest-training distance "
        f"{_r(out[f'{name}_sample_nn_dist_median'])} vs held-out real images "
        f"{out[f'{name}_heldout_nn_dist_median']:.3f}; classifier confidence "
        f"{_r(out[f'{name}_sample_confidence_median'])} vs held-out "
        f"{out['heldout_confidence_median']:.3f}; pixels outside [-1, 1] "
        f"{_r(out[f'{name}_outside_fraction'], 4)}"
        for name, kind in (("mem", "memorizing"), ("gen", "generalizing"))),
      f"plain DAEs ({recipe}; {s} model seeds; live = norm > {metrics.LIVE_COLUMN:.0%} of max): "
      f"memorizing live columns per seed {out['mem_live_count'].tolist()}, lowest best cosine of a "
      f"live column {_r(out['mem_live_cos_min'])}, memorized images with a live column at cosine >= "
      f"{STORED_COSINE} {out['mem_images_stored'].tolist()} of {cfg.n_memorize}; generalizing live "
      f"{out['gen_live_count'].tolist()}, highest best cosine {_r(out['gen_live_cos_max'])}",
      f"memorization set: pairwise cosines {out['mem_set_raw_cos'][0]:.3f} to "
      f"{out['mem_set_raw_cos'][1]:.3f} in raw [-1, 1] pixels, {out['mem_set_centred_cos'][0]:.3f} to "
      f"{out['mem_set_centred_cos'][1]:.3f} centred (Cor. 3.2 needs them < 0)",
      f"std(h) memorized {np.median(out['mem_std']):.3f} vs generalized "
      f"{np.median(out['gen_std']):.3f} (medians over all seeds): AUROC {out['auroc_std']:.3f} "
      f"[{out['auroc_std_ci'][0]:.3f}, {out['auroc_std_ci'][1]:.3f}] (per seed "
      f"{_r(out['auroc_std_per_seed'])}); participation ratio AUROC {out['auroc_pr']:.3f} "
      f"[{out['auroc_pr_ci'][0]:.3f}, {out['auroc_pr_ci'][1]:.3f}] (per seed "
      f"{_r(out['auroc_pr_per_seed'])}); participation ratio minus std(h) "
      f"[{out['auroc_pr_minus_std_ci'][0]:.3f}, {out['auroc_pr_minus_std_ci'][1]:.3f}] "
      f"({INTERVAL_UNIT})",
  ]


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/image_dae", run, summary)
