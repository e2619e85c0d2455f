r"""Analysis of a sweep of the two-layer DAE: per-config metrics and the distances of the trained
weights to the closed-form local minima (Eq. 8, Eq. 9).

It sits above the sweep engine (which trains any model plug and knows no theory) and the
constructions; :mod:`sims.phase_diagram` calls it on the engine's result.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import constructions, copies, metrics, model
from dae_theory.model import DAEParams
from dae_theory.sweep import SweepResult


@functools.partial(jax.jit, static_argnames=("width",))
def _eval_one(w1, x, n, x_test, sigma, key, *, width):
  """Metrics of one tied config (true width, first n rows of x)."""
  params = DAEParams(w1[:, :width])
  n_max, d = x.shape
  weight = (jnp.arange(n_max) < n).astype(x.dtype) / n
  k1, k2 = jax.random.split(key)
  y_tr = x + sigma * jax.random.normal(k1, x.shape, x.dtype)
  y_te = x_test + sigma * jax.random.normal(k2, x_test.shape, x.dtype)
  err_tr = jnp.sum((model.apply(params, y_tr) - x) ** 2, -1)
  err_te = jnp.sum((model.apply(params, y_te) - x_test) ** 2, -1)
  h_tr, h_te = model.representation(params, y_tr), model.representation(params, y_te)
  cos = metrics.cosine_matrix(params.w1.T, x)  # (p, n_max)
  best = jnp.max(jnp.where((jnp.arange(n_max) < n)[None, :], cos, -jnp.inf), 1)
  live = metrics.live_columns(params.w1)
  mem_frac = jnp.sum(live & (best >= copies.COSINE_COPY)) / jnp.maximum(jnp.sum(live), 1)
  stored = jnp.max(jnp.where(live[:, None], cos, -jnp.inf), 0) >= copies.COSINE_COPY  # per sample
  return {
      "stored_fraction": jnp.sum(weight * stored),
      "train_loss": jnp.sum(weight * err_tr), "test_loss": jnp.mean(err_te),
      "memorizing_fraction": mem_frac,
      "std_h_train": jnp.sum(weight * metrics.code_std(h_tr)),
      "std_h_test": jnp.mean(metrics.code_std(h_te)),
      "pr_train": jnp.sum(weight * metrics.participation_ratio(h_tr)),
      "pr_test": jnp.mean(metrics.participation_ratio(h_te)),
  }


def evaluate(key: jax.Array, result: SweepResult, x, x_test, labels=None) -> dict[str, np.ndarray]:
  """Per-config metrics of a tied sweep (arrays ``(C,)``):

  train/test loss (Eq. 6 data term, one fresh noise draw per point; train weighted 1/n over the first
  n rows), ``memorizing_fraction`` (live columns, :func:`dae_theory.metrics.live_columns`, whose best
  cosine to one of the config's training samples is ≥ :data:`dae_theory.copies.COSINE_COPY`),
  ``stored_fraction`` (training samples that some live column matches with that cosine: robust to
  unused columns left over from the init when p ≫ n), std(h) and participation ratio on noisy train
  and test points, and the
  :func:`~dae_theory.metrics.gram_distance` to the Eq. 9 matrix (``dist_mem``, built from the first n
  rows whatever their angles) and to Eq. 8 (``dist_gen``, p_k = p // M per cluster clipped to the
  cluster's rank; NaN when p < M or the construction is refused).
  """
  if not isinstance(result.params, DAEParams) or result.w2 is not None:
    raise ValueError(f"evaluate covers sweeps of the tied two-layer DAE (plug.dae()), got params "
                     f"{type(result.params).__name__}"
                     + (" with an untied decoder" if isinstance(result.params, DAEParams) else "")
                     + ".")
  x, x_test = jnp.asarray(x), jnp.asarray(x_test)
  cfg = result.configs
  out: dict[str, list] = {}
  for i in range(len(cfg)):
    width, n, sigma, lam = int(cfg.width[i]), int(cfg.n[i]), float(cfg.sigma[i]), float(cfg.lam[i])
    row = _eval_one(jnp.asarray(result.w1[i]), x, n, x_test, jnp.asarray(sigma, x.dtype),
                    jax.random.fold_in(key, i), width=width)
    row = {k: float(v) for k, v in row.items()}
    params = DAEParams(jnp.asarray(result.w1[i, :, :width]))
    try:
      mem = constructions.memorization_weights(x[:n], sigma, lam, require_obtuse=False)
      row["dist_mem"] = float(metrics.gram_distance(params, mem.params))
    except ValueError:
      row["dist_mem"] = float("nan")
    row["dist_gen"] = float("nan")
    if labels is not None:
      lab = np.asarray(labels)[:n]
      m = int(np.max(np.asarray(labels))) + 1
      if width >= m and len(np.unique(lab)) == m:
        alloc = np.repeat(np.arange(m), width // m)
        try:
          gen = constructions.construction_for_allocation(x[:n], lab, alloc, sigma, lam)
          row["dist_gen"] = float(metrics.gram_distance(params, gen.params))
        except ValueError:
          pass
    for k, v in row.items():
      out.setdefault(k, []).append(v)
  return {k: np.array(v) for k, v in out.items()}
