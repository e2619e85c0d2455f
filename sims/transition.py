r"""Three lenses on one transition (docs/experiments.md §5): the representation view, the Gaussian
(Wiener) structure, disjoint-data agreement and the Jacobian, on the same models, against the training
set size N.

For each data set (digits, centred; a Gaussian mixture of 4 modes in d = ``mixture_d``, covariance rank
``mixture_rank``, mean norm 2, spread 1, centred, rows shuffled) and each N in ``sizes``:
two time-conditioned DAEs (docs/theory.md §9) with the same seed, one on the first N training points (A) and
one on the last N (B, disjoint from A). Samples of A and B come from shared initial and injected noise.
Measured (on A unless said otherwise):

* **representation**: memorized fraction of samples (nearest-training cosine ≥ ``threshold``, default
  :data:`dae_theory.copies.COSINE_COPY` = 0.95) and mean nearest-training cosine; participation ratio
  of the code at noisy training points (σ = ``sigma``);
* **Gaussian lens**: RMSE(D_A, Wiener filter of A's mean/covariance) on noisy held-out inputs at
  σ = ``sigma``; RMSE(D_A, its own linear distillation) (fitted on other held-out inputs); linearity
  score LS at σ = ``sigma`` and ``sigma_large``; GL score of the samples;
* **agreement lens**: cosine between A's and B's samples (per pair, kept for histograms); train vs test
  denoising PSNR at each σ in ``psnr_sigmas``;
* **Jacobian lens**: at ``n_jacobian`` noisy training inputs of A (σ = ``sigma``), tr J, and for the top
  eigenvector of the symmetrized Jacobian its largest |cosine| to a training sample of A and its energy
  in the span of the top ``subspace_rank`` principal directions of the whole data pool (a subspace that
  does not change with N).

At N = ``sweep_n`` the Gaussian lens is also applied across width (``sweep_widths``) and training time
(``sweep_steps``).

The transition point of a lens is where its curve crosses halfway between its values at the smallest
and the largest N (interpolated in log N).

  python -m sims.transition --workdir runs/transition        # about 3 min on 2 CPU cores
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import copies, data, diffusion, images, io, lenses, metrics, reference
from sims._common import diffusion_model, generate
from sims._flags import require

DATASETS = ("digits", "mixture")
# lens -> (metric key, direction) for the transition point
TRANSITION = {"representation": "memorized_fraction", "gaussian": "rmse_gaussian",
              "agreement": "pair_cosine_mean", "jacobian": "jac_sample_alignment"}


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings (each field is a flag of the same name); validated on construction."""

  datasets: tuple[str, ...] = DATASETS
  sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
  width: int = 64
  steps: int = 20_000
  learning_rate: float = 3e-3
  n_samples: int = 100
  sigma: float = dataclasses.field(default=0.12, metadata={"help": "the small noise level of the lenses"})
  sigma_large: float = 1.0
  psnr_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
  n_heldout: int = 300
  n_jacobian: int = 40
  subspace_rank: int = 10
  threshold: float = copies.COSINE_COPY
  sweep_n: int = dataclasses.field(default=64, metadata={
      "help": "training set size of the width and training-time sweeps of the Gaussian lens"})
  sweep_widths: tuple[int, ...] = (8, 32, 128, 512)
  sweep_steps: tuple[int, ...] = (1000, 3000, 10_000, 30_000)
  mixture_d: int = 32
  mixture_rank: int = 16
  seed: int = 0

  def __post_init__(self):
    bad = [d for d in self.datasets if d not in DATASETS]
    if not self.datasets or bad:
      raise ValueError(f"--datasets must be a non-empty list from {DATASETS}, got {list(self.datasets)}.")
    if not self.sizes or min(self.sizes) < 2 or list(self.sizes) != sorted(set(self.sizes)):
      raise ValueError(f"--sizes must be increasing sizes >= 2, got {list(self.sizes)}.")
    if max(self.sizes) > 719 and "digits" in self.datasets:
      raise ValueError(f"--sizes: digits have 1438 training images, so disjoint halves hold at most "
                       f"719, got {max(self.sizes)}.")
    if not self.psnr_sigmas or min(self.psnr_sigmas) <= 0:
      raise ValueError(f"--psnr_sigmas must be non-empty and > 0, got {list(self.psnr_sigmas)}.")
    require(self, ("width", "steps", "n_samples", "n_jacobian", "subspace_rank", "mixture_d",
                   "mixture_rank", "sweep_n"), ">= 1", lambda v: v >= 1)
    for name in ("sweep_widths", "sweep_steps"):
      if not getattr(self, name) or min(getattr(self, name)) < 1:
        raise ValueError(f"--{name} must be a non-empty list of values >= 1, got "
                         f"{list(getattr(self, name))}.")
    require(self, ("learning_rate", "sigma", "sigma_large"), "> 0", lambda v: v > 0)
    require(self, ("threshold",), "in (0, 1]", lambda v: 0 < v <= 1)
    if self.n_heldout < 2 * (self.mixture_d + 1) or self.n_heldout < 2 * 65:
      raise ValueError(f"--n_heldout must be >= 2(d + 1) (half of it fits the linear distillation), "
                       f"got {self.n_heldout}.")

  @classmethod
  def smoke(cls) -> "Config":
    return cls(sizes=(8, 32), steps=200, width=16, n_samples=20, n_jacobian=5,
               psnr_sigmas=(0.1, 0.4), sweep_n=16, sweep_widths=(8,), sweep_steps=(100,))


def load(name: str, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
  """(training pool, held-out) rows, centred by the pool's mean; the pool's rows in random order."""
  if name == "digits":
    split = images.digits(seed=cfg.seed)
    pool, held = split.train, split.test
  else:
    n = 2 * max(cfg.sizes) + cfg.n_heldout
    per = -(-n // 4)
    x = np.asarray(data.gaussian_mixture(jax.random.key(cfg.seed), 4, per, cfg.mixture_d,
                                         cfg.mixture_rank, 2.0, 1.0)[0].x)
    x = x[np.random.default_rng(cfg.seed).permutation(len(x))]
    pool, held = x[:2 * max(cfg.sizes)], x[2 * max(cfg.sizes):]
  mean = pool.mean(0)
  return (pool - mean).astype(np.float32), (held - mean).astype(np.float32)[:cfg.n_heldout]


def _noisy(key, x, sigma):
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def measure(key, cfg: Config, x_a, x_b, held, basis) -> dict:
  """Every lens for one N: models on A and on B (same seed); ``basis`` (d, k) the pool's principal
  directions."""
  d = x_a.shape[1]
  pa, den_a = diffusion_model(jax.random.fold_in(key, 0), x_a, cfg.width, cfg.steps, cfg.learning_rate)
  _, den_b = diffusion_model(jax.random.fold_in(key, 0), x_b, cfg.width, cfg.steps, cfg.learning_rate)
  ks = jax.random.fold_in(key, 1)
  sa, sb = generate(ks, den_a, cfg.n_samples, d), generate(ks, den_b, cfg.n_samples, d)
  nn_cos, _ = diffusion.nearest_cosine(sa, x_a)
  nn_cos = np.asarray(nn_cos)
  h = diffusion.representation(pa, _noisy(jax.random.fold_in(key, 2), x_a, cfg.sigma))
  half = held.shape[0] // 2
  y_fit = _noisy(jax.random.fold_in(key, 3), held[:half], cfg.sigma)
  y_eval = _noisy(jax.random.fold_in(key, 4), held[half:], cfg.sigma)
  wiener = reference.gaussian_denoiser(reference.gaussian_fit(x_a))
  distilled = lenses.affine_denoiser(*lenses.linear_distillation(den_a, y_fit, cfg.sigma))
  out = {
      "memorized_fraction": float(np.mean(nn_cos >= cfg.threshold)),
      "nn_cosine_mean": float(nn_cos.mean()), "nn_cosine": nn_cos,
      "pr_mean": float(jnp.mean(metrics.participation_ratio(h))),
      "rmse_gaussian": lenses.rmse(den_a, wiener, y_eval, cfg.sigma),
      "nmse_gaussian": lenses.nmse(den_a, wiener, y_eval, cfg.sigma),
      "rmse_distilled": lenses.rmse(den_a, distilled, y_eval, cfg.sigma),
      "ls_small": lenses.linearity_score(jax.random.fold_in(key, 5), den_a, x_a, cfg.sigma),
      "ls_large": lenses.linearity_score(jax.random.fold_in(key, 5), den_a, x_a, cfg.sigma_large),
      "gl": lenses.gl_score(sa, x_a),
  }
  pc = lenses.pair_cosine(sa, sb)
  out.update(pair_cosine=pc, pair_cosine_mean=float(pc.mean()))
  # (σ, train/test, input/output) PSNR in dB
  psnr = np.array([[lenses.psnr(jax.random.fold_in(key, 6 + i), den_a, x, s) for x in (x_a, held)]
                   for i, s in enumerate(cfg.psnr_sigmas)])
  out.update(psnr_in=psnr[:, 0, 0], psnr_train=psnr[:, 0, 1], psnr_test=psnr[:, 1, 1])
  # at noisy training inputs of A (cycled up to n_jacobian rows): near a stored sample a memorizing
  # net's Jacobian is ~ x_i x_iᵀ (rank one, aligned with the sample)
  y_jac = _noisy(jax.random.fold_in(key, 20), jnp.resize(x_a, (cfg.n_jacobian, d)), cfg.sigma)
  spec = lenses.jacobian_spectrum(den_a, y_jac, cfg.sigma)
  align, sub = lenses.top_alignment(spec, np.asarray(x_a), basis)
  out.update(jac_trace=float(spec.effective_dim.mean()), jac_sample_alignment=float(align.mean()),
             jac_subspace_energy=float(sub.mean()))
  return out


def gaussian_lens_sweep(key, cfg: Config, x, held) -> dict:
  """RMSE(trained, Wiener) and LS at σ = ``sigma`` on ``sweep_n`` points, across width (at ``steps``)
  and across training time (at ``width``)."""
  wiener = reference.gaussian_denoiser(reference.gaussian_fit(x))
  y = _noisy(jax.random.fold_in(key, 1), held, cfg.sigma)
  out = {}
  for axis, values in (("width", cfg.sweep_widths), ("steps", cfg.sweep_steps)):
    rm, ls = [], []
    for v in values:
      width, steps = (v, cfg.steps) if axis == "width" else (cfg.width, v)
      _, den = diffusion_model(jax.random.fold_in(key, 0), x, width, steps, cfg.learning_rate)
      rm.append(lenses.rmse(den, wiener, y, cfg.sigma))
      ls.append(lenses.linearity_score(jax.random.fold_in(key, 2), den, x, cfg.sigma))
    out[f"sweep_{axis}_rmse"], out[f"sweep_{axis}_ls"] = np.array(rm), np.array(ls)
  return out


def transition_point(sizes, values) -> float:
  """N where ``values`` first crosses halfway between its first and last value (log-linear
  interpolation); NaN when the first and last values are equal."""
  v = np.asarray(values, float)
  if v[0] == v[-1]:
    return float("nan")
  mid = 0.5 * (v[0] + v[-1])
  s = np.sign(v - mid)
  for i in range(len(v) - 1):
    if s[i] != s[i + 1] or s[i + 1] == 0:
      t = (mid - v[i]) / (v[i + 1] - v[i]) if v[i + 1] != v[i] else 0.0
      return float(np.exp(np.log(sizes[i]) + t * (np.log(sizes[i + 1]) - np.log(sizes[i]))))
  return float("nan")


def run(cfg: Config, workdir: str, log=print) -> dict:
  """Train and measure every lens, write the run record to ``workdir`` (with ``summary.json``: the
  :func:`summary` lines and the ``TRANSITION`` table {lens: metric key} that ``figures.transition``
  draws), return the results. ``log`` is accepted for the sims' shared signature (this sim logs no
  progress)."""
  started = time.time()
  out: dict = {"sizes": np.array(cfg.sizes), "psnr_sigmas": np.array(cfg.psnr_sigmas)}
  for di, name in enumerate(cfg.datasets):
    pool, held = load(name, cfg)
    basis = np.linalg.svd(pool, full_matrices=False)[2][:cfg.subspace_rank].T  # pool is centred
    rows = []
    for i, n in enumerate(cfg.sizes):
      key = jax.random.fold_in(jax.random.key(cfg.seed), 1000 * di + i)
      rows.append(measure(key, cfg, jnp.asarray(pool[:n]), jnp.asarray(pool[-n:]), jnp.asarray(held),
                          basis))
    for k in rows[0]:
      out[f"{name}/{k}"] = np.array([r[k] for r in rows]) if np.ndim(rows[0][k]) == 0 else \
          np.stack([r[k] for r in rows])
    for lens, k in TRANSITION.items():
      out[f"{name}/transition/{lens}"] = transition_point(cfg.sizes, out[f"{name}/{k}"])
    sweep = gaussian_lens_sweep(jax.random.fold_in(jax.random.key(cfg.seed), 1000 * di + 999), cfg,
                                jnp.asarray(pool[:cfg.sweep_n]), jnp.asarray(held))
    out.update({f"{name}/{k}": v for k, v in sweep.items()})
  out.update(sweep_widths=np.array(cfg.sweep_widths), sweep_steps=np.array(cfg.sweep_steps))
  io.write_run(workdir, cfg, out, started,
               extra={"summary.json": {"lines": summary(out, cfg), "transition": TRANSITION}})
  return out


def summary(out: dict, cfg: Config) -> list[str]:
  lines = []
  for name in cfg.datasets:
    g = lambda k: np.round(out[f"{name}/{k}"], 3).tolist()
    lines += [f"{name}: N = {list(cfg.sizes)}",
              f"  memorized fraction {g('memorized_fraction')}; nearest-training cosine "
              f"{g('nn_cosine_mean')}",
              f"  RMSE(trained, Gaussian) at sigma={cfg.sigma}: {g('rmse_gaussian')}; "
              f"RMSE(trained, own linear distillation): {g('rmse_distilled')}",
              f"  linearity score at sigma={cfg.sigma}: {g('ls_small')}; at {cfg.sigma_large}: "
              f"{g('ls_large')}",
              f"  disjoint-subset sample cosine {g('pair_cosine_mean')}",
              f"  Jacobian top-eigenvector |cos| to a training sample {g('jac_sample_alignment')}; "
              f"energy in the top-{cfg.subspace_rank} PCA subspace {g('jac_subspace_energy')}",
              f"  Gaussian lens at N={cfg.sweep_n}: RMSE across widths {list(cfg.sweep_widths)}: "
              f"{g('sweep_width_rmse')}, across steps {list(cfg.sweep_steps)}: {g('sweep_steps_rmse')}",
              "  transition N per lens: " + ", ".join(
                  f"{lens} {out[f'{name}/transition/{lens}']:.0f}" for lens in TRANSITION)
              + (" (nan: the curve is flat)" if any(
                  np.isnan(out[f"{name}/transition/{lens}"]) for lens in TRANSITION) else "")]
  return lines


if __name__ == "__main__":
  from sims import _flags

  _flags.main_with_report(Config, "runs/transition", run, summary)
