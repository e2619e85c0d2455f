r"""Memorizing vs generalizing DAEs on real images: the runs behind Fig. 2, Fig. 3 and Fig. 4 (images).

Data (``--dataset``): scikit-learn's digits (default), patches of its two sample photographs, or a
user's folder of images (``--dataset folder --image_folder PATH``). Images are in [−1, 1] and are
**centred** by the training mean before training (the DAE has no bias, and raw digits are pairwise
acute, β = 0.96, which breaks Cor. 3.2's hypothesis: README, Known discrepancy 12). The memorization
set is ``n_memorize`` centred training images picked with pairwise cosines below −``obtuse_margin``
(:func:`dae_theory.data.obtuse_subset`; with margin 0 two nearly orthogonal digits, cosine −0.01, shared
a column in our probe: the column at cosine 0.76 to each);
the generalizing models see every training image.

Three pairs of models:

* **Diffusion DAEs** (docs/theory.md §9, Fig. 2), ``seeds`` of each: samples from the VE sampler (no clamping:
  in centred coordinates the reference's clamp to [−1, 1] cuts the σ = 2 starting noise, and it lowered
  the memorized fraction from 0.93 to 0.77 in our probe), each sample's nearest-training cosine (in
  centred coordinates, stricter than raw [−1, 1] where the common background inflates cosines) and the
  memorized fraction (cosine ≥ ``threshold``, scale-blind, kept for comparison); beside it the
  scale-aware copy label of :func:`dae_theory.copies.copy_report` against the model's own training
  set (d₁/d₂ < 1/3 and relative L2 error < 0.1; per sample ratio, relative error, norm ratio, label;
  ``{mem,gen}_copy_fraction`` per seed; non-finite samples are never copies). Sample quality per seed:
  median nearest-training distance of the samples vs of the real held-out images (the loader's test
  split: for digits the 359 digits not in the 80% training split; none for ``--dataset folder``,
  whose held-out numbers are NaN); median max probability of a logistic-regression classifier (on the
  centred training images and their labels) on samples vs held-out images; fraction of pixels outside
  [−1, 1] after adding the mean back.
* **Plain DAEs at σ = ``sigma``** (Eq. 5, Fig. 3), with the reference code's recipes: memorizing with
  RMSprop lr 1e-3, full batch; generalizing with Adam lr 1e-4, batch 256. The reference's optimizer
  weight decay wd on a per-pixel loss is λ = d·wd/4 in Eq. 6 for tied weights (the per-pixel loss is
  1/d of ours, and wd·W in the gradient is the gradient of (wd/2)‖W‖², while Eq. 6's tied penalty is
  2λ‖W‖²). Per column: its best cosine to a training image of its own training set.
* From the plain DAEs (Fig. 4): std(h) and participation ratio of h(x + σε) for the memorizing model's
  training images (``draws`` noise draws each) and for as many training images of the generalizing
  model; AUROC of each score at telling them apart (scikit-learn).

  python -m sims.image_dae --workdir runs/image_dae          # about 1.5 min on 2 CPU cores
  python -m sims.image_dae --dataset folder --image_folder ~/faces --side 32 --workdir runs/faces
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, diffusion, images, io, metrics, train
from sims._common import diffusion_model, generate, memorization_set, std_separation
from sims._flags import require

DATASETS = ("digits", "patches", "folder")


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
  mem_diffusion_lr: float = 1e-2
  gen_diffusion_lr: float = 1e-3
  n_samples: int = 200
  threshold: float = dataclasses.field(default=copies.COSINE_COPY,
                                     metadata={"help": "memorized: cosine >= this"})
  width: int = dataclasses.field(default=100, metadata={"help": "plain DAE width (Fig. 3)"})
  sigma: float = dataclasses.field(default=0.2, metadata={"help": "plain DAE noise level"})
  mem_steps: int = 50_000
  gen_steps: int = 50_000
  mem_weight_decay: float = dataclasses.field(default=1e-2, metadata={"help": "reference wd"})
  gen_weight_decay: float = dataclasses.field(default=1e-4, metadata={"help": "reference wd"})
  draws: int = dataclasses.field(default=100, metadata={"help": "noise draws per memorized image"})

  def __post_init__(self):
    if self.dataset not in DATASETS:
      raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}.")
    if (self.dataset == "folder") != bool(self.image_folder):
      raise ValueError("--image_folder must be given exactly when --dataset folder (got "
                       f"--dataset {self.dataset} --image_folder {self.image_folder!r}).")
    require(self, ("side", "seeds", "diffusion_width", "diffusion_steps", "n_samples", "width",
                   "mem_steps", "gen_steps", "draws"), ">= 1", lambda v: v >= 1)
    require(self, ("n_memorize",), ">= 2", lambda v: v >= 2)
    require(self, ("mem_diffusion_lr", "gen_diffusion_lr", "sigma"), "> 0", lambda v: v > 0)
    require(self, ("mem_weight_decay", "gen_weight_decay", "obtuse_margin"), ">= 0",
            lambda v: v >= 0)
    require(self, ("threshold",), "in (0, 1]", lambda v: 0 < v <= 1)

  @classmethod
  def smoke(cls) -> "Config":
    return cls(seeds=1, diffusion_width=16, diffusion_steps=200, n_samples=16, width=16,
               mem_steps=300, gen_steps=300, draws=10)


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
  for name, x, lr in (("mem", x_mem, cfg.mem_diffusion_lr), ("gen", x_all, cfg.gen_diffusion_lr)):
    samples, cos, idx = [], [], []
    for s in range(cfg.seeds):
      k = jax.random.fold_in(key, 2 * s + (name == "gen"))
      _, den = diffusion_model(jax.random.fold_in(k, 0), x, cfg.diffusion_width, cfg.diffusion_steps,
                               lr)
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


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train everything, write the run record to ``workdir`` (with ``summary.json``: the
  :func:`summary` lines), return the results. ``log`` is accepted for the sims' shared signature
  (this sim logs no progress)."""
  started = time.time()
  raw, side, held = load_split(cfg)
  mean = raw.mean(0)
  centred = raw - mean
  if cfg.n_memorize >= raw.shape[0]:
    raise ValueError(f"--n_memorize={cfg.n_memorize} needs more training images than the "
                     f"{raw.shape[0]} there are.")
  mem_idx = memorization_set(centred, cfg.n_memorize, cfg.obtuse_margin)
  x_all, x_mem = jnp.asarray(centred), jnp.asarray(centred[mem_idx])
  d = raw.shape[1]
  key = jax.random.key(cfg.seed)
  out = _diffusion_pair(jax.random.fold_in(key, 0), cfg, x_mem, x_all)
  out.update(_quality(out, centred[mem_idx], centred, mean, held["labels"], held["test"],
                      held["test_labels"]))

  mem = train.train_dae(jax.random.fold_in(key, 1), x_mem, cfg.width, cfg.sigma,
                        d * cfg.mem_weight_decay / 4, cfg.mem_steps, 1e-3, optimizer="rmsprop",
                        cosine=False)
  gen = train.train_dae(jax.random.fold_in(key, 2), x_all, cfg.width, cfg.sigma,
                        d * cfg.gen_weight_decay / 4, cfg.gen_steps, 1e-4,
                        batch_size=train.batch_or_full(256, x_all.shape[0]), cosine=False)
  for name, res, x in (("mem", mem, x_mem), ("gen", gen, x_all)):
    w = res.params.w1
    out[f"{name}_w"] = np.asarray(w)
    out[f"{name}_col_norm"] = np.asarray(jnp.linalg.norm(w, axis=0))
    out[f"{name}_col_live"] = np.asarray(metrics.live_columns(w))
    cos = np.asarray(metrics.cosine_matrix(w.T, x))  # (p, n)
    out[f"{name}_col_cos"], out[f"{name}_col_match"] = cos.max(1), cos.argmax(1)
    out[f"{name}_final_loss"] = float(jnp.mean(res.losses[-100:]))
  sep = std_separation(jax.random.fold_in(key, 3), mem.params, x_mem, gen.params, x_all, cfg.sigma,
                       cfg.draws)
  out.update(sep)
  out.update(train_images=raw, mean=mean, mem_idx=mem_idx, side=side)
  io.write_run(workdir, cfg, out, started, axes={
      "mem_samples": ["seed", "sample", "pixel"], "mem_nn_cos": ["seed", "sample"],
      "mem_w": ["pixel", "unit"], "train_images": ["image", "pixel"]},
      extra={"summary.json": {"lines": summary(out, cfg)}})
  return out


def summary(out: dict, cfg: Config) -> list[str]:
  lm, lg = out["mem_col_live"], out["gen_col_live"]
  return [
      f"diffusion DAE memorized fraction (cos >= {cfg.threshold}): memorizing "
      f"{np.round(out['mem_fraction'], 3).tolist()}, generalizing {np.round(out['gen_fraction'], 3).tolist()}"
      + "".join(f"; {name} sampler overflowed on {int(out[f'{name}_nonfinite'].sum())} samples "
                "(not finite; counted as not memorized)" for name in ("mem", "gen")
                if int(out.get(f"{name}_nonfinite", np.zeros(1)).sum())),
      f"diffusion DAE copy fraction (scale-aware: d1/d2 < {copies.COPY_DISTANCE_RATIO:.3g} and "
      f"relative error < {copies.COPY_RELATIVE_ERROR}): memorizing "
      f"{np.round(out['mem_copy_fraction'], 3).tolist()}, generalizing "
      f"{np.round(out['gen_copy_fraction'], 3).tolist()}",
      *(f"{kind} diffusion DAE sample quality (medians per seed): nearest-training distance "
        f"{np.round(out[f'{name}_sample_nn_dist_median'], 3).tolist()} vs held-out real images "
        f"{out[f'{name}_heldout_nn_dist_median']:.3f}; classifier confidence "
        f"{np.round(out[f'{name}_sample_confidence_median'], 3).tolist()} vs held-out "
        f"{out['heldout_confidence_median']:.3f}; pixels outside [-1, 1] "
        f"{np.round(out[f'{name}_outside_fraction'], 4).tolist()}"
        for name, kind in (("mem", "memorizing"), ("gen", "generalizing"))),
      f"plain DAE columns (norm > {metrics.LIVE_COLUMN:.0%} of max): memorizing {lm.sum()} live, "
      f"best cosine {out['mem_col_cos'][lm].min():.3f}-{out['mem_col_cos'][lm].max():.3f}; "
      f"generalizing {lg.sum()} live, best cosine {out['gen_col_cos'][lg].min():.3f}-{out['gen_col_cos'][lg].max():.3f}",
      f"std(h) memorized {np.median(out['mem_std']):.3f} vs generalized "
      f"{np.median(out['gen_std']):.3f} (medians): AUROC {out['auroc_std']:.3f}; "
      f"participation ratio AUROC {out['auroc_pr']:.3f}",
  ]


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/image_dae", run, summary)
