r"""Analysis of a sweep of the two-layer DAE: per-config metrics and the distances of the trained
weights to the closed-form local minima (Eq. 8, Eq. 9).

It sits above the sweep engine (which trains any model plug and knows no theory) and the
constructions; :mod:`sims.phase_diagram` calls it on the engine's result.

**Compiled evaluation** (:func:`evaluate`). The data are validated once. Each closed form is built
once per (n, σ, λ) — for Eq. 8 once per (n, σ, λ, allocation of units to clusters) — as its d × d
matrix W Wᵀ, in NumPy (LAPACK's SVD, nothing to compile), and shared by every config that needs it.
The metrics of all configs of a width group are one jitted, vmapped program (:func:`_metrics_one`
under ``jax.vmap``) called on batches of one fixed size, so each group compiles once. A group pads
its widths to the largest with zero units (the engine's padding, masked again here), which leaves
every metric unchanged up to rounding; :func:`width_groups` merges widths into groups only while the
padded arithmetic costs less than compiling one more program.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dae_theory import checks, copies, metrics, model
from dae_theory import data as data_lib
from dae_theory.model import DAEParams
from dae_theory.sweep import SweepResult
from dae_theory.sweep import devices as devices_lib

EVAL_BYTES = 2**28
"""Working memory (bytes) that one batch of :func:`evaluate`'s vmapped program may use; the batch size
is the largest number of configs whose noisy points, codes and cosines fit in it (:func:`batch_size`)."""

COMPILE_FLOPS = 1.5e10
"""The cost of compiling one more metric program, in floating-point operations of the program itself:
on the 2-core CPU the program compiled in about 1 CPU-second and ran at about 15 GFLOP per
CPU-second (measured under load from other jobs; only the order of magnitude matters), so
:func:`width_groups` pads a width up to a group's largest only while that costs fewer extra
operations than a compile."""


def config_flops(width: int, n_max: int, n_test: int, d: int) -> float:
  """Floating-point operations of :func:`_metrics_one` for one config at (padded) width p: encoder
  and decoder products of the train and test points, 2 · 2 (n_max + n_test) d p, the cosines of the
  columns to the samples, 2 p n_max d, and W Wᵀ, 2 d² p."""
  return 2.0 * width * d * (2 * (n_max + n_test) + n_max + d)


def width_groups(widths, counts, n_max: int, n_test: int, d: int,
                 compile_flops: float = COMPILE_FLOPS) -> list[list[int]]:
  """Split the sorted distinct ``widths`` (with ``counts`` configs each) into contiguous groups, each
  evaluated by one program padded to its largest width, minimizing Σ_groups (``compile_flops`` +
  Σ_{w in group} count_w · :func:`config_flops` (max of the group)) by dynamic programming.

  Returns:
    the groups, each a list of widths, in increasing order.
  """
  widths = [int(w) for w in widths]
  k = len(widths)
  best = [0.0] + [np.inf] * k  # best[j]: cost of the first j widths
  cut = [0] * (k + 1)
  for j in range(1, k + 1):
    for i in range(j):  # widths i … j-1 as one group padded to widths[j-1]
      c = best[i] + compile_flops + sum(counts[i:j]) * config_flops(widths[j - 1], n_max, n_test, d)
      if c < best[j]:
        best[j], cut[j] = c, i
  groups, j = [], k
  while j > 0:
    groups.append(widths[cut[j]:j])
    j = cut[j]
  return groups[::-1]


def batch_size(count: int, width: int, n_max: int, n_test: int, d: int,
               max_bytes: int = EVAL_BYTES) -> int:
  """Configs per call of the vmapped program: the fewest equal batches of ``count`` configs each within
  ``max_bytes`` (float32 noisy points, reconstructions and codes of the train and test points, the
  cosines and W Wᵀ per config), so that the padding of the last batch is small."""
  per = 4 * (3 * (n_max + n_test) * d + 2 * (n_max + n_test) * width + width * n_max + 4 * d * d)
  cap = max(1, max_bytes // per)
  calls = -(-count // cap)
  return -(-count // calls)


def _masked_std(h, unit):
  """:func:`dae_theory.metrics.code_std` over the units where ``unit (p,)`` is True (the true width):
  the population standard deviation of h across those coordinates, ``(..., p) -> (...)``."""
  width = jnp.sum(unit).astype(h.dtype)
  unit = unit.reshape((1,) * (h.ndim - 1) + unit.shape)
  mean = jnp.sum(jnp.where(unit, h, 0.0), -1, keepdims=True) / width
  return jnp.sqrt(jnp.sum(jnp.where(unit, (h - mean) ** 2, 0.0), -1) / width)


def _metrics_one(w1, width, x, n, x_test, sigma, key, g_mem, g_gen):
  r"""Metrics of one tied config: ``w1 (d, p_pad)`` whose units past ``width`` are zeroed, the first
  ``n`` rows of ``x (n_max, d)``, fresh points ``x_test``, noise σ and its key.

  Loss: Eq. 6's data term with one noise draw per point (train rows weighted 1/n). Codes: std(h)
  (masked to the true width) and participation ratio of h = relu(W₁ᵀy) (zero units add nothing to
  either sum of the ratio). ``g_mem`` and ``g_gen`` are the ``(d, d)`` matrices W Wᵀ of the Eq. 9 and
  Eq. 8 references (NaN when undefined); the distances are
  :func:`dae_theory.metrics.gram_distance`, ‖W Wᵀ − G‖_F / ‖G‖_F, zero units adding nothing to W Wᵀ."""
  unit = jnp.arange(w1.shape[1]) < width
  params = DAEParams(jnp.where(unit[None, :], w1, 0.0))
  n_max, d = x.shape
  first = jnp.arange(n_max) < n
  weight = first.astype(x.dtype) / n
  k1, k2 = jax.random.split(key)
  y_tr = x + sigma * jax.random.normal(k1, x.shape, x.dtype)
  y_te = x_test + sigma * jax.random.normal(k2, x_test.shape, x.dtype)
  h_tr, h_te = model.representation(params, y_tr), model.representation(params, y_te)
  err_tr = jnp.sum((model.decode(params, h_tr) - x) ** 2, -1)
  err_te = jnp.sum((model.decode(params, h_te) - x_test) ** 2, -1)
  cos = metrics.cosine_matrix(params.w1.T, x)  # (p, n_max); zero units: cosine 0, never live
  best = jnp.max(jnp.where(first[None, :], cos, -jnp.inf), 1)
  live = metrics.live_columns(params.w1)
  mem_frac = jnp.sum(live & (best >= copies.COSINE_COPY)) / jnp.maximum(jnp.sum(live), 1)
  stored = jnp.max(jnp.where(live[:, None], cos, -jnp.inf), 0) >= copies.COSINE_COPY  # per sample
  wwt = metrics.end_to_end(params)
  return {
      "stored_fraction": jnp.sum(weight * stored),
      "train_loss": jnp.sum(weight * err_tr), "test_loss": jnp.mean(err_te),
      "memorizing_fraction": mem_frac,
      "std_h_train": jnp.sum(weight * _masked_std(h_tr, unit)),
      "std_h_test": jnp.mean(_masked_std(h_te, unit)),
      "pr_train": jnp.sum(weight * metrics.participation_ratio(h_tr)),
      "pr_test": jnp.mean(metrics.participation_ratio(h_te)),
      "dist_mem": jnp.linalg.norm(wwt - g_mem) / jnp.linalg.norm(g_mem),
      "dist_gen": jnp.linalg.norm(wwt - g_gen) / jnp.linalg.norm(g_gen),
  }


@jax.jit
def _metrics_batch(w1, width, x, n, x_test, sigma, base_key, index, g_mem, g_gen):
  """:func:`_metrics_one` over a batch of configs (leading axis B of every argument but ``x``,
  ``x_test`` and ``base_key``); config i's noise key is ``fold_in(base_key, index[i])``."""
  keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(index)
  return jax.vmap(_metrics_one, in_axes=(0, 0, None, 0, None, 0, 0, 0, 0))(
      w1, width, x, n, x_test, sigma, keys, g_mem, g_gen)


class ClosedForms(NamedTuple):
  """The sweep's distinct references W Wᵀ ``(R, d, d)`` and, per config ``(C,)``, the row of its
  reference (−1: undefined)."""

  mem: np.ndarray
  mem_index: np.ndarray
  gen: np.ndarray
  gen_index: np.ndarray


def memorization_gram(x: np.ndarray, n: int, sigma: float, lam: float) -> np.ndarray | None:
  r"""W Wᵀ of the Eq. 9 matrix of the first n rows (Cor. 3.2, as
  :func:`dae_theory.constructions.memorization_weights` builds it with ``require_obtuse=False``):
  column i = r_i x_i, r_i = √((‖x_i‖² − nλ)/(‖x_i‖⁴ + σ²‖x_i‖²)), in x's dtype; None when
  nλ ≥ min_i ‖x_i‖² (the construction refuses it). ``x`` must be validated."""
  xs = x[:n]
  sq = np.sum(xs * xs, axis=1)
  if n * lam >= float(np.min(sq)):  # constructions.require_decay_below_norms
    return None
  dt = xs.dtype.type
  r = np.sqrt((sq - dt(n * lam)) / (sq * sq + dt(sigma**2) * sq))
  w = xs * r[:, None]  # rows are the columns r_i x_i
  return w.T @ w


class PrefixSpectra(NamedTuple):
  """Per cluster of the first n rows: right singular vectors ``vt[k] (r_k, d)``, Gram eigenvalues
  ``eig[k] (r_k,)`` (Λ = s² in the data dtype), and sizes ``(M,)``."""

  vt: list
  eig: list
  sizes: np.ndarray


def prefix_spectra(x: np.ndarray, labels: np.ndarray, n: int) -> PrefixSpectra | None:
  """The cluster spectra of the first n rows (the SVD of each cluster's rows, as
  :func:`dae_theory.constructions.top_eigenpairs` takes it), or None when Eq. 8 is undefined for them:
  a cluster of ``labels`` without a row among the first n, a zero cluster mean, or cluster means that
  are not pairwise obtuse (:func:`dae_theory.data.separability`), the refusals of
  :func:`dae_theory.constructions.generalization_weights`."""
  m = int(labels.max()) + 1
  xs, lab = x[:n], labels[:n]
  if len(np.unique(lab)) != m:
    return None
  if m > 1:
    try:
      if not data_lib.separability(xs, lab).obtuse:
        return None
    except ValueError:  # a zero cluster mean
      return None
  vts, eigs = [], []
  for k in range(m):
    _, s, vt = np.linalg.svd(xs[lab == k], full_matrices=False)
    vts.append(vt)
    eigs.append(s * s)
  return PrefixSpectra(vts, eigs, np.bincount(lab, minlength=m))


def usable_rank(eig: np.ndarray, nk: int, d: int, n_lam: float) -> int:
  """:func:`dae_theory.constructions.usable_rank` from a cluster's Gram eigenvalues (decreasing, in
  the data dtype): the count above nλ and above round-off (√Λ₁ max(n_k, d) eps)²."""
  e = eig.astype(np.float64)
  tol = checks.rank_tolerance(np.sqrt(max(float(e[0]), 0.0)), (nk, d), eig.dtype) ** 2
  return int(np.sum((e > n_lam) & (e > tol)))


def block_gram(spec: PrefixSpectra, widths, n: int, sigma: float, lam: float) -> np.ndarray:
  r"""W Wᵀ of the Eq. 8 block matrix (Theorem 3.1) with ``widths[k]`` units in cluster k: block k keeps
  its top p_k directions u_j with W_k = U_k diag_j √((1 − nλ/Λ_j)/(1 + n_kσ²/Λ_j)) O_kᵀ
  (:func:`dae_theory.constructions.linear_ae_minimizer`'s formula, in the data dtype). The rotation
  O_k cancels in W Wᵀ = Σ_k W_k W_kᵀ, so it is not formed."""
  d = spec.vt[0].shape[1]
  dt = spec.vt[0].dtype.type
  g = np.zeros((d, d), spec.vt[0].dtype)
  for vt, eig, nk, pk in zip(spec.vt, spec.eig, spec.sizes, widths):
    if pk == 0:
      continue
    lk = eig[:pk]
    diag = np.sqrt((dt(1.0) - dt(n * lam) / lk) / (dt(1.0) + dt(int(nk) * sigma**2) / lk))
    w = vt[:pk].T * diag[None, :]
    g += w @ w.T
  return g


def closed_forms(x: np.ndarray, labels: np.ndarray | None, configs) -> ClosedForms:
  """Build each distinct Eq. 9 and Eq. 8 reference of the sweep once (with the rules of
  :func:`evaluate`'s docstring); ``x`` and ``labels`` must be validated."""
  d = x.shape[1]
  m = None if labels is None else int(labels.max()) + 1
  mem, mem_index, mem_rows = [], np.full(len(configs), -1), {}
  gen, gen_index, gen_rows = [], np.full(len(configs), -1), {}
  spectra: dict[int, PrefixSpectra | None] = {}
  ranks: dict[tuple[int, float], list[int]] = {}  # (n, lam) -> usable rank per cluster
  for i in range(len(configs)):
    n, sigma, lam = int(configs.n[i]), float(configs.sigma[i]), float(configs.lam[i])
    if (n, sigma, lam) not in mem_rows:
      g = memorization_gram(x, n, sigma, lam)
      mem_rows[n, sigma, lam] = -1 if g is None else len(mem)
      if g is not None:
        mem.append(g)
    mem_index[i] = mem_rows[n, sigma, lam]
    width = int(configs.width[i])
    if labels is None or width < m:
      continue
    if n not in spectra:
      spectra[n] = prefix_spectra(x, labels, n)
    spec = spectra[n]
    if spec is None:
      continue
    if (n, lam) not in ranks:
      ranks[n, lam] = [usable_rank(e, int(nk), d, n * lam) for e, nk in zip(spec.eig, spec.sizes)]
    widths = tuple(min(width // m, u) for u in ranks[n, lam])  # construction_for_allocation's clip
    if sum(widths) < 1:
      continue  # no unit left: generalization_weights refuses it
    key = (n, sigma, lam, widths)
    if key not in gen_rows:
      gen_rows[key] = len(gen)
      gen.append(block_gram(spec, widths, n, sigma, lam))
    gen_index[i] = gen_rows[key]
  empty = np.zeros((0, d, d), x.dtype)
  return ClosedForms(np.stack(mem) if mem else empty, mem_index,
                     np.stack(gen) if gen else empty, gen_index)


def evaluate(key: jax.Array, result: SweepResult, x, x_test, labels=None,
             timings: dict | None = None) -> dict[str, np.ndarray]:
  """Per-config metrics of a tied sweep (arrays ``(C,)``):

  train/test loss (Eq. 6 data term, one fresh noise draw per point; train weighted 1/n over the first
  n rows), ``memorizing_fraction`` (live columns, :func:`dae_theory.metrics.live_columns`, whose best
  cosine to one of the config's training samples is ≥ :data:`dae_theory.copies.COSINE_COPY`),
  ``stored_fraction`` (training samples that some live column matches with that cosine: robust to
  unused columns left over from the init when p ≫ n), std(h) and participation ratio on noisy train
  and test points, and the
  :func:`~dae_theory.metrics.gram_distance` to the Eq. 9 matrix (``dist_mem``, built from the first n
  rows whatever their angles; NaN when nλ ≥ min ‖x_i‖²) and to Eq. 8 (``dist_gen``, p_k = p // M per
  cluster clipped to the cluster's usable rank; NaN without labels, when p < M, when the first n rows
  miss a cluster, or when the construction is refused: cluster means of the first n rows not pairwise
  obtuse, or no unit left).

  Config i's noise is drawn from ``fold_in(key, i)``, whatever the grouping and batching. The data are
  validated once, each closed form is built once and shared, and each width group is one compiled,
  vmapped program (see the module docstring).

  Args:
    key: PRNG key of the evaluation noise.
    result: a sweep of the tied DAE (:func:`dae_theory.sweep.run_sweep` with the default plug).
    x: ``(n_max, d)`` the sweep's training data.
    x_test: ``(n_test, d)`` fresh points.
    labels: ``(n_max,)`` cluster ids ``0 … M-1`` for the Eq. 8 distance, or None.
    timings: if given, filled with wall seconds ``closed_forms_s`` (validating the data and building
      the references), ``compile_s`` (tracing and compiling the programs) and ``metrics_s`` (running
      them), and ``programs`` (how many were compiled).

  Returns:
    ``{name: (C,) float64}`` in config order.

  Raises:
    ValueError: a sweep of another model or with an untied decoder; ``x``, ``x_test`` or ``labels``
      that break :func:`dae_theory.checks.check_data` / :func:`~dae_theory.checks.check_labels`
      (shape, dtype, NaN/inf), data of another dimension than the sweep's weights, or a sweep whose n
      exceeds the rows of ``x``.
  """
  if not isinstance(result.params, DAEParams) or result.w2 is not None:
    raise ValueError(f"evaluate covers sweeps of the tied two-layer DAE (plug.dae()), got params "
                     f"{type(result.params).__name__}"
                     + (" with an untied decoder" if isinstance(result.params, DAEParams) else "")
                     + ".")
  t0 = time.perf_counter()
  w1_all = np.asarray(result.w1)
  x = np.asarray(checks.check_data(x, d=w1_all.shape[1], weights="the sweep's W1"))
  x_test = np.asarray(checks.check_data(x_test, "x_test", d=x.shape[1], weights="x"))
  if labels is not None:
    labels = checks.check_labels(labels, x.shape[0], x_shape=x.shape)
  cfg = result.configs
  if int(np.max(cfg.n)) > x.shape[0]:
    raise ValueError(f"the sweep has configs with n = {int(np.max(cfg.n))} but x has only "
                     f"{x.shape[0]} rows; pass the sweep's training data.")
  forms = closed_forms(x, labels, cfg)
  (n_max, d), n_test = x.shape, x_test.shape[0]
  nan_gram = np.full((1, d, d), np.nan, x.dtype)  # row -1: an undefined reference
  g_mem, g_gen = np.concatenate([forms.mem, nan_gram]), np.concatenate([forms.gen, nan_gram])
  t1 = time.perf_counter()
  xj, xtj = jax.device_put(x), jax.device_put(x_test)
  options = devices_lib.compiler_options(jax.devices())
  widths, counts = np.unique(cfg.width, return_counts=True)
  groups = width_groups(widths, list(counts), n_max, n_test, d, COMPILE_FLOPS)
  out = {}
  compile_s = 0.0
  for group in groups:
    p = max(group)
    idx = np.flatnonzero(np.isin(cfg.width, group))
    size = batch_size(len(idx), p, n_max, n_test, d, EVAL_BYTES)
    compiled = None
    for start in range(0, len(idx), size):
      part = idx[start:start + size]
      pad = np.concatenate([part, np.full(size - len(part), part[0])])  # full batches: one shape
      args = (jax.device_put(w1_all[pad, :, :p]), jax.device_put(cfg.width[pad].astype(np.int32)),
              xj, jax.device_put(cfg.n[pad].astype(np.int32)), xtj,
              jax.device_put(cfg.sigma[pad].astype(x.dtype)), key,
              jax.device_put(pad.astype(np.int32)), jax.device_put(g_mem[forms.mem_index[pad]]),
              jax.device_put(g_gen[forms.gen_index[pad]]))
      if compiled is None:
        tc = time.perf_counter()
        compiled = _metrics_batch.lower(*args).compile(compiler_options=options)
        compile_s += time.perf_counter() - tc
      for k, v in compiled(*args).items():
        out.setdefault(k, np.full(len(cfg), np.nan))[part] = np.asarray(v, np.float64)[:len(part)]
  if timings is not None:
    timings.update(closed_forms_s=t1 - t0, compile_s=compile_s,
                   metrics_s=time.perf_counter() - t1 - compile_s, programs=len(groups))
  return out
