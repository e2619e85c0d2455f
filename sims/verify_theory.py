r"""Check every claim of the theory on one data set and write a report: claim, statement, measured,
predicted, holds.

The main data set is a Gaussian mixture (Cor. 3.3 setting) with centred-simplex means; Cor. 3.2 is
checked on pairwise-obtuse samples and Cor. 3.4 on a hybrid set built with the same settings. Every row
is computed (never written by hand) and evaluated on its own: data that break a hypothesis (β ≥ 0 via
``--mean_shift``, or a spread that breaks balanced activation) make the affected rows say so, and the
other rows are still computed. All numerics in float64.

Each row is a :class:`Claim` of the registry :data:`CLAIMS` (name, statement, check): the check is a
function ``claim_<name>(ctx) -> Outcome`` of an immutable :class:`Context` (the data, σ, λ, the key, and
the constructions several claims share, computed once on first use), so any claim runs alone::

  with jax.enable_x64(True):
    row, arrays = evaluate_claim(CLAIMS[3], make_context(Config.smoke()))

Launch (``make demo`` runs the default)::

  python -m sims.verify_theory --workdir runs/verify_theory          # default, ~1 min on 2 CPU cores
  python -m sims.verify_theory --workdir /tmp/v --smoke
  python -m sims.verify_theory --workdir /tmp/v --sigma 0.8         # small margins: see what breaks
  python -m sims.verify_theory --workdir /tmp/v --mean_shift 1.5     # acute means: beta >= 0

Writes ``config.json``, ``meta.json``, ``results.npz``, ``report.json`` (a list of objects with the keys
``claim``, ``statement``, ``measured``, ``predicted``, ``holds``, ``note``) and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import traceback
import types
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dae_theory import bounds, constructions, data, io, loss, masks, model, train
from sims._flags import require


LBFGS_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class Config:
  """Settings of the report (each field is a flag of the same name); validated on construction."""

  d: int = dataclasses.field(default=16, metadata={"help": "data dimension"})
  clusters: int = dataclasses.field(default=3, metadata={"help": "mixture modes M (M + rank + 1 <= d)"})
  per_cluster: int = dataclasses.field(default=200, metadata={"help": "samples per mode n_k"})
  width: int = dataclasses.field(default=2, metadata={"help": "block width p_k per mode"})
  sigma: float = dataclasses.field(default=0.2, metadata={"help": "noise std"})
  lam: float = dataclasses.field(default=1e-4, metadata={"help": "weight decay lambda of Eq. 6"})
  seed: int = 0
  rank: int = dataclasses.field(default=1, metadata={"help": "covariance rank per mode"})
  mean_norm: float = 4.0
  spread: float = dataclasses.field(default=0.5, metadata={"help": "std per covariance direction"})
  mean_shift: float = dataclasses.field(
      default=0.0, metadata={"help": "add mean_shift*mean_norm along one fixed direction to every "
                                     "point: >= about 1 makes the means acute (beta >= 0)"})
  mem_n: int = dataclasses.field(default=6, metadata={"help": "samples for the Cor. 3.2 check"})
  mem_sigma: float = dataclasses.field(default=0.05, metadata={"help": "noise std for Cor. 3.2"})
  n_mc: int = dataclasses.field(default=100_000, metadata={"help": "Monte-Carlo draws"})
  train_steps: int = dataclasses.field(default=3000, metadata={"help": "steps for the distance check"})
  learning_rate: float = 3e-3

  def __post_init__(self):
    require(self, ("d", "clusters", "per_cluster", "width", "rank", "mem_n", "n_mc", "train_steps"),
            ">= 1", lambda v: v >= 1)
    require(self, ("sigma", "mean_norm", "spread", "mem_sigma", "learning_rate"), "> 0",
            lambda v: v > 0)
    require(self, ("lam",), ">= 0", lambda v: v >= 0)
    if self.d < self.clusters + 1 + self.rank:
      raise ValueError(f"--d={self.d} must be >= clusters + 1 + rank = "
                       f"{self.clusters + 1 + self.rank} (simplex means plus covariance directions "
                       f"orthogonal to them, with one extra mode for the Cor. 3.4 check).")
    if self.mem_n > self.d + 1:
      raise ValueError(f"--mem_n={self.mem_n} pairwise-obtuse samples need --d >= {self.mem_n - 1}.")
    if self.n_mc < 1000:
      raise ValueError(f"--n_mc must be >= 1000 for the Monte-Carlo rows, got {self.n_mc}.")

  @classmethod
  def smoke(cls) -> "Config":
    """A tiny configuration that runs end to end in seconds."""
    return cls(d=8, per_cluster=30, n_mc=2000, train_steps=100, mem_n=4)


class Outcome(NamedTuple):
  """What one claim measured: the cells of its report row (:func:`evaluate_claim` adds the claim's
  name and statement).

  Attributes:
    measured, predicted: the two value cells.
    holds: whether the measurement agrees with the prediction.
    note: the row's note (``""``: none).
    arrays: named arrays for ``results.npz`` (e.g. the Hessian spectrum).
  """

  measured: str
  predicted: str
  holds: bool
  note: str = ""
  arrays: Mapping[str, Any] = types.MappingProxyType({})


class Claim(NamedTuple):
  """One row of the report: its name (the ``claim`` column), the statement it checks, and the check,
  a function of the :class:`Context` alone."""

  name: str
  statement: str
  check: Callable[["Context"], Outcome]


def _g(v: float) -> str:
  return f"{v:.3g}"


def make_data(cfg: Config):
  """The main mixture (with ``mean_shift``), the memorization set and the hybrid set."""
  key = jax.random.key(cfg.seed)
  ds, mix = data.gaussian_mixture(jax.random.fold_in(key, 0), cfg.clusters, cfg.per_cluster, cfg.d,
                                  cfg.rank, cfg.mean_norm, cfg.spread)
  if cfg.mean_shift:
    direction = jax.random.normal(jax.random.fold_in(key, 1), (cfg.d,), ds.x.dtype)
    shift = cfg.mean_shift * cfg.mean_norm * direction / jnp.linalg.norm(direction)
    ds = data.LabelledData(ds.x + shift[None, :], ds.labels, ds.means + shift[None, :])
    mix = data.GaussianMixture(mix.weights, mix.means + shift[None, :], mix.factors)
  mem = data.obtuse_samples(jax.random.fold_in(key, 2), cfg.mem_n, cfg.d, (1.0, 2.0))
  hyb = data.hybrid(jax.random.fold_in(key, 3), duplicated=1,
                    multiplicity=max(2, cfg.per_cluster // 10), modes=cfg.clusters,
                    per_mode=cfg.per_cluster, d=cfg.d, rank=cfg.rank, mean_norm=cfg.mean_norm,
                    spread=cfg.spread)
  return ds, mix, mem, hyb


@dataclasses.dataclass(frozen=True, eq=False)
class Context:
  """What every claim reads, built once by :func:`make_context` (with float64 enabled).

  The fields are fixed at construction. The constructions that several claims share are cached
  properties: computed on first use and reused by the other claims, whatever the order the claims run
  in. One that refuses the data (``ValueError``, a broken hypothesis) caches nothing and raises again
  in each claim that needs it, so each of those rows says "hypothesis violated".

  Attributes:
    cfg: the settings.
    x: ``(n, d)`` float64, the main data set.
    labels: ``(n,)`` its clusters.
    mixture: its generating mixture, or ``None`` (a user's data: the Cor. 3.3 rows are refused).
    mem: the pairwise-obtuse samples of the Cor. 3.2 row.
    hyb: the hybrid set of the Cor. 3.4 row.
    sigma, lam: σ and λ of Eq. 6 (``cfg.sigma``, ``cfg.lam``).
    key: the claims' PRNG key; each Monte-Carlo or training claim folds in its own constant.
  """

  cfg: Config
  x: jax.Array
  labels: np.ndarray
  mixture: data.GaussianMixture | None
  mem: data.LabelledData
  hyb: data.LabelledData
  sigma: float
  lam: float
  key: jax.Array

  @functools.cached_property
  def construction(self) -> constructions.Construction:
    """The Eq. 8 block construction on the main data (``cfg.width`` units per cluster)."""
    return constructions.generalization_weights(self.x, self.labels, self.cfg.width, self.sigma,
                                                self.lam)

  @functools.cached_property
  def hessian_certificate(self) -> bounds.HessianCertificate:
    """The Hessian certificate of the decomposed loss at :attr:`construction` (its m0 is the
    distance row's curvature)."""
    con = self.construction
    return bounds.hessian_certificate(con.params, self.x, self.labels, con.unit_block, self.sigma,
                                      self.lam)

  @functools.cached_property
  def crosstalk_bound(self) -> loss.CrosstalkBound:
    """The explicit cross-talk bound at :attr:`construction` (the distance row's eps at W*)."""
    con = self.construction
    return loss.crosstalk_bound(con.params, self.x, self.labels, con.unit_block, self.sigma)

  @functools.cached_property
  def population_loss(self) -> tuple[float, float]:
    """(mean, standard error) of the test loss of :attr:`construction` on fresh mixture samples."""
    if self.mixture is None:
      raise ValueError("no generating mixture for these data: the population loss is unknown")
    mc, se = loss.population_loss_mc(jax.random.fold_in(self.key, 30), self.construction.params,
                                     self.mixture, self.sigma, self.cfg.n_mc,
                                     chunk=min(10_000, self.cfg.n_mc))
    return float(mc), float(se)


def make_context(cfg: Config, ds=None, mixture=None) -> Context:
  """The data and settings of every claim. ``ds``/``mixture`` replace the generated main data set (a
  user's labelled data; without a mixture the Cor. 3.3 rows are marked not applicable). Call it with
  float64 enabled (:func:`run` does): the main data are cast to it."""
  gen_ds, gen_mix, mem, hyb = make_data(cfg)
  if ds is None:
    ds, mixture = gen_ds, gen_mix
  return Context(cfg=cfg, x=jnp.asarray(ds.x, jnp.float64), labels=np.asarray(ds.labels),
                 mixture=mixture, mem=mem, hyb=hyb, sigma=cfg.sigma, lam=cfg.lam,
                 key=jax.random.key(cfg.seed + 1000))


def _rel_grad(con: constructions.Construction, x, labels, sigma, lam) -> float:
  """The relative gradient of the decomposed loss (the construction's blocks) at the construction."""
  return loss.relative_gradient(
      lambda p: loss.decomposed_loss(p, x, labels, con.unit_block, sigma, lam), con.params)


# ----------------------------------------------------------------------------------------------
# The claims, one function of the context each (the registry CLAIMS below gives their order)
# ----------------------------------------------------------------------------------------------


def claim_separability(ctx: Context) -> Outcome:
  sep = data.separability(ctx.x, ctx.labels)
  return Outcome(f"alpha={_g(sep.alpha)}, beta={_g(sep.beta)}", "beta < 0", sep.beta < 0)


def claim_thm31(ctx: Context) -> Outcome:
  rel = _rel_grad(ctx.construction, ctx.x, ctx.labels, ctx.sigma, ctx.lam)
  return Outcome(_g(rel), "0 (<= 1e-9, float64)", rel <= 1e-9)


def claim_balanced(ctx: Context) -> Outcome:
  con = ctx.construction
  slack = np.asarray(masks.balanced_slack(con.params, ctx.x, ctx.labels, con.unit_block))
  pat = masks.activation_pattern(con.params, ctx.x, ctx.labels, con.unit_block)
  frac = float(jnp.mean(pat.agree))
  return Outcome(f"min slack={_g(slack.min())}; pattern = blocks on {frac:.1%} of points",
                 "slack > 0 for every cluster", bool(slack.min() > 0),
                 arrays={"balanced_slack": slack})


def claim_hessian(ctx: Context) -> Outcome:
  cert = ctx.hessian_certificate
  return Outcome(f"zero modes={cert.n_zero}, m0={_g(cert.m0)}, min eig={_g(cert.min_eigenvalue)}",
                 f"zero modes = sum p_k(p_k-1)/2 = {cert.expected_zero}, the rest > 0",
                 cert.certified, f"zero threshold {_g(cert.threshold)} = 1e-8 x max|eig|",
                 arrays={"hessian_eigenvalues": cert.eigenvalues})


def claim_decomposition(ctx: Context) -> Outcome:
  con, cfg = ctx.construction, ctx.cfg
  cb = ctx.crosstalk_bound
  gap = loss.crosstalk_gap_mc(ctx.key, con.params, ctx.x, ctx.labels, con.unit_block, ctx.sigma,
                              cfg.n_mc, chunk=min(5000, cfg.n_mc))
  return Outcome(f"|L - L_dec| = {_g(abs(float(gap.signed)))} +- {_g(float(gap.signed_se))} (MC, "
                 f"{cfg.n_mc} draws)", f"<= {_g(float(cb.bound))} (explicit bound, t_min="
                 f"{_g(float(cb.t_min))})", float(cb.bound) >= abs(float(gap.signed)) - 4 *
                 float(gap.signed_se))


def claim_margin(ctx: Context) -> Outcome:
  con = ctx.construction
  pm = bounds.paper_margin(ctx.x, ctx.labels, con)
  emp = float(masks.empirical_margin(con.params, ctx.x, ctx.labels, con.unit_block))
  note = ("c_proj(alpha) = sqrt(1 - alpha^2) and s = block singular values (our reading); "
          "gamma <= 0 means the printed guarantee is vacuous here")
  return Outcome(f"gamma_emp = {_g(emp)}", f"gamma = {_g(pm.gamma)} (paper's formula)",
                 0 < pm.gamma <= emp, note)


def claim_noise_flips(ctx: Context) -> Outcome:
  con = ctx.construction
  fp = masks.flip_probabilities(con.params, ctx.x, ctx.labels, con.unit_block, ctx.sigma)
  n_draws = min(ctx.cfg.n_mc, 20_000)
  # Pooled: the fraction of all gates flipped per draw, whose standard error counts the gates of one
  # draw sharing its noise; against the block assignment, the reference of Phi(-t).
  mom = masks.measured_flip_rates(ctx.key, con.params, ctx.x, ctx.sigma, n_draws,
                                  chunk=min(2000, n_draws),
                                  reference=loss.block_masks(ctx.labels, con.unit_block), pooled=True)
  pred = float(jnp.mean(fp.per_unit))
  return Outcome(f"flip rate {_g(float(mom.mean))} +- {_g(float(mom.stderr))}",
                 f"mean Phi(-t) = {_g(pred)}",
                 abs(float(mom.mean) - pred) <= 5 * float(mom.stderr) + 1e-9)


def claim_weight_radius(ctx: Context) -> Outcome:
  con, x = ctx.construction, ctx.x
  r = masks.stability_radius(con.params, x)
  clean = model.gates(con.params, x)
  inside = model.gates(model.DAEParams(con.params.w1 + masks.flipping_perturbation(
      con.params, x, 0.999)), x)
  outside = model.gates(model.DAEParams(con.params.w1 + masks.flipping_perturbation(
      con.params, x, 1.001)), x)
  ok_in = bool(jnp.all(inside == clean))
  ok_out = bool(jnp.any(outside != clean))
  return Outcome(f"delta* = {_g(r.radius)}; flips at 0.999 delta*: {not ok_in}, at 1.001 delta*: "
                 f"{ok_out}", "no flip below delta*, a flip just above", ok_in and ok_out)


def claim_distance(ctx: Context) -> Outcome:
  con, cfg, x, labels, sigma, lam = ctx.construction, ctx.cfg, ctx.x, ctx.labels, ctx.sigma, ctx.lam
  k_tr = jax.random.fold_in(ctx.key, 7)
  res = train.train_dae(k_tr, x, 0, sigma, lam, cfg.train_steps, cfg.learning_rate,
                        params=con.params)
  # The optimizer's resolution: the same run (same noise) on the decomposed loss, whose minimizer is
  # exactly W*; its end point's distance is pure optimizer jitter.
  floor_run = train.train_dae(k_tr, x, 0, sigma, lam, cfg.train_steps, cfg.learning_rate,
                              params=con.params,
                              gate=loss.block_masks(labels, con.unit_block))
  eps = float(ctx.crosstalk_bound.bound) + float(loss.crosstalk_bound(
      res.params, x, labels, con.unit_block, sigma).bound)
  dist = bounds.distance_modulo_rotation(res.params.w1, con.params.w1, con.unit_block)
  floor = bounds.distance_modulo_rotation(floor_run.params.w1, con.params.w1, con.unit_block)
  bound = bounds.distance_bound(eps, ctx.hessian_certificate.m0)
  scale = float(jnp.linalg.norm(con.params.w1))
  vacuous = " The bound exceeds ||W*||: it holds but says nothing here." if bound >= scale else ""
  return Outcome(f"{_g(dist)} (trained from Eq. 8, {cfg.train_steps} Adam steps; optimizer floor "
                 f"{_g(floor)})",
                 f"<= sqrt(2 eps / m0) = {_g(bound)} (||W*|| = {_g(scale)})",
                 dist <= bound + floor,
                 "eps = cross-talk bound at W* plus at the trained W; the end point of a fresh-noise "
                 "optimizer is not the minimizer itself, so the check is dist <= bound + optimizer "
                 "floor (the same run on the decomposed loss, whose minimizer is exactly W*)." + vacuous)


def claim_lemma_d1(ctx: Context) -> Outcome:
  x = ctx.x
  xk = x[ctx.labels == 0]
  lam_p = x.shape[0] * ctx.lam
  p = min(ctx.cfg.width, xk.shape[0])
  w_star, _ = constructions.linear_ae_minimizer(xk, p, ctx.sigma, lam_p)
  f = lambda w: loss.linear_ae_loss(w[0], w[1], xk, ctx.sigma, lam_p)
  w = tuple(0.3 * jax.random.normal(jax.random.fold_in(ctx.key, 10 + i), w_star.shape, x.dtype)
            for i in range(2))
  opt = optax.lbfgs()
  vg = optax.value_and_grad_from_state(f)

  @jax.jit
  def step(carry, _):
    w, st = carry
    val, g = vg(w, state=st)
    upd, st = opt.update(g, st, w, value=val, grad=g, value_fn=f)
    return (optax.apply_updates(w, upd), st), None

  (w, _), _ = jax.lax.scan(step, (w, opt.init(w)), None, length=LBFGS_STEPS)
  a, a_star = w[1] @ w[0].T, w_star @ w_star.T
  err = float(jnp.linalg.norm(a - a_star) / jnp.linalg.norm(a_star))
  return Outcome(f"||W2 W1^T - W* W*^T|| / ||W* W*^T|| = {_g(err)} after {LBFGS_STEPS} L-BFGS "
                 "steps", "0 (<= 1e-6)", err <= 1e-6)


def claim_cor32(ctx: Context) -> Outcome:
  cfg, mem, s_m, lam = ctx.cfg, ctx.mem, ctx.cfg.mem_sigma, ctx.lam
  con = constructions.memorization_weights(mem.x, s_m, lam)
  closed = float(bounds.memorization_loss(mem.x, s_m, lam))
  mc, se = loss.dae_loss_mc(jax.random.fold_in(ctx.key, 20), con.params, mem.x, s_m, lam, cfg.n_mc,
                            chunk=min(10_000, cfg.n_mc))
  xb = float(loss.crosstalk_bound(con.params, mem.x, mem.labels, con.unit_block, s_m).bound)
  rel = _rel_grad(con, mem.x, mem.labels, s_m, lam)
  return Outcome(f"L(W_mem) = {_g(float(mc))} +- {_g(float(se))} (MC); rel. grad {_g(rel)}",
                 f"{_g(closed)} (closed form; cross-talk <= {_g(xb)})",
                 abs(float(mc) - closed) <= 4 * float(se) + xb and rel <= 1e-9,
                 f"{cfg.mem_n} pairwise-obtuse samples in d={cfg.d}, sigma={s_m}")


def _cor33(ctx: Context) -> tuple[str, bounds.Cor33Limits, float, float]:
  """The measured cell, the limits and the test loss (mean, s.e.) shared by the two Cor. 3.3 rows."""
  if ctx.mixture is None:
    raise ValueError("no generating mixture for these data: the population loss is unknown")
  ctx.construction  # a construction refused by the data is what these rows report, before the limits
  cfg = ctx.cfg
  lim = bounds.cor33_limits(ctx.mixture, [cfg.width] * cfg.clusters, ctx.sigma)
  mc, se = ctx.population_loss
  return f"test loss {_g(mc)} +- {_g(se)} (n_k = {cfg.per_cluster})", lim, mc, se


def claim_cor33_printed(ctx: Context) -> Outcome:
  measured, lim, mc, _ = _cor33(ctx)
  return Outcome(measured, f"<= {_g(lim.printed)} (printed, C_k term dropped)", mc <= lim.printed)


def claim_cor33_corrected(ctx: Context) -> Outcome:
  measured, lim, mc, se = _cor33(ctx)
  ok = mc >= lim.corrected - 4 * se and mc <= 1.05 * lim.corrected
  return Outcome(measured, f"-> {_g(lim.corrected)} from above (within 5% at this n_k)", ok)


def claim_cor34(ctx: Context) -> Outcome:
  hyb = ctx.hyb
  con = constructions.hybrid_weights(hyb.x, hyb.labels, ctx.cfg.width, ctx.sigma, ctx.lam)
  rel = _rel_grad(con, hyb.x, hyb.labels, ctx.sigma, ctx.lam)
  dup_x = hyb.x[np.asarray(hyb.labels) == 0][0]
  col = con.params.w1[:, 0]
  cos = float(col @ dup_x / (jnp.linalg.norm(col) * jnp.linalg.norm(dup_x)))
  return Outcome(f"rel. grad {_g(rel)}; cos(column, duplicated point) = {cos:.12f}",
                 "0 (<= 1e-9); 1", rel <= 1e-9 and cos > 1 - 1e-12)


CLAIMS: tuple[Claim, ...] = (
    Claim("Def. 3.1 separability", "cluster means are pairwise obtuse (beta < 0); alpha = max "
          "relative distance of a point to its cluster mean", claim_separability),
    Claim("Theorem 3.1 (Eq. 8) stationarity", "the block construction is a critical point of the "
          "decomposed loss: ||grad|| ||W|| / L_dec", claim_thm31),
    Claim("Theorem 3.1 balanced code", "every point of cluster k switches on every unit of block k "
          "and no other unit (slack = min cos(w_j, x) over the cluster's points and block units)",
          claim_balanced),
    Claim("Local minimum (Hessian certificate)", "the decomposed loss's Hessian at Eq. 8 is PSD "
          "with exactly the rotation symmetry's zero modes", claim_hessian),
    Claim("Theorem D.2 decomposition", "the ReLU loss equals the cluster-decomposed loss up to the "
          "cross-talk error, bounded explicitly by (1/n) sum_i 2 sqrt(l^_i eps_i) + eps_i",
          claim_decomposition),
    Claim("Theorem D.2 margin", "the paper's margin gamma is positive and below the empirical clean "
          "margin", claim_margin),
    Claim("Mask stability (noise)", "each gate flips under noise with probability Phi(-t), t = "
          "margin/(sigma ||w_j||)", claim_noise_flips),
    Claim("Mask stability (weights)", "no ||dW1|| < delta* = min |w_j^T x_i|/||x_i|| changes a "
          "clean gate; the worst perturbation just above delta* does", claim_weight_radius),
    Claim("Theorem D.2 distance", "a local minimizer of the ReLU loss near Eq. 8 lies within "
          "sqrt(2 eps/m0) of it, modulo block rotations", claim_distance),
    Claim("Lemma D.1", "the closed form is the global minimizer of the regularized linear "
          "autoencoder (cluster 0, lambda' = n lambda)", claim_lemma_d1),
    Claim("Cor. 3.2 (Eq. 9)", "W = [r_i x_i] is a critical point and its loss is (1/n) sum "
          "[(1-s_i)^2 ||x_i||^2 + sigma^2 s_i^2] + 2 lambda sum s_i", claim_cor32),
    Claim("Cor. 3.3 printed bound", "test loss <= sum_k rho_k [sum_{j<=p_k} s_j sigma^4/(s_j+"
          "sigma^2)^2 + sum_{j>p_k} s_j] as lambda -> 0, n_k -> infinity", claim_cor33_printed),
    Claim("Cor. 3.3 corrected", "test loss -> sum_k rho_k [sum_{j<=p_k} s_j sigma^2/(s_j+sigma^2) + "
          "sum_{j>p_k} s_j] (variance term restored: the rank-p_k Wiener loss)",
          claim_cor33_corrected),
    Claim("Cor. 3.4 (hybrid)", "memorizing columns for duplicated points plus balanced blocks for "
          "the modes form a critical point", claim_cor34),
)
"""The report's rows in order: (name, statement, check) each."""


def evaluate_claim(claim: Claim, ctx: Context) -> tuple[dict, dict]:
  """One claim's report row and its arrays. An exception becomes a row that says so, with no arrays:
  a ``ValueError`` (the constructions refuse data that break a hypothesis) reads "hypothesis
  violated", any other exception is reported as an error (a bug in one row must not lose the others).

  Returns:
    ``(row, arrays)``, the row a dict with the keys claim, statement, measured, predicted, holds, note.
  """
  try:
    out = claim.check(ctx)
    return ({"claim": claim.name, "statement": claim.statement, "measured": out.measured,
             "predicted": out.predicted, "holds": bool(out.holds), "note": out.note},
            dict(out.arrays))
  except ValueError as err:
    return ({"claim": claim.name, "statement": claim.statement, "measured": "not computable",
             "predicted": "not computable", "holds": False,
             "note": f"hypothesis violated: {err}"}, {})
  except Exception as err:  # noqa: BLE001 - a bug in one row must not lose the others
    return ({"claim": claim.name, "statement": claim.statement, "measured": "error",
             "predicted": "error", "holds": False,
             "note": f"{type(err).__name__}: {err} | "
                     f"{traceback.format_exc(limit=2).splitlines()[-1]}"}, {})


def evaluate_all(ctx: Context, claims: Sequence[Claim] | None = None) -> tuple[list[dict], dict]:
  """The rows of ``claims`` (default :data:`CLAIMS`) in order on one context, and their arrays."""
  rows, arrays = [], {}
  for claim in CLAIMS if claims is None else claims:
    row, arr = evaluate_claim(claim, ctx)
    rows.append(row)
    arrays.update(arr)
  return rows, arrays


def verify(cfg: Config, ds=None, mixture=None) -> tuple[list[dict], dict]:
  """Compute every row. ``ds``/``mixture`` replace the generated main data set (a user's labelled
  data; without a mixture the Cor. 3.3 rows are marked not applicable). Returns (rows, arrays): the
  rows of :data:`CLAIMS`, in order, on ``make_context(cfg, ds, mixture)``."""
  return evaluate_all(make_context(cfg, ds, mixture))


def format_report(rows: list[dict]) -> str:
  """Markdown table of the report."""
  esc = lambda v: str(v).replace("|", "\\|")  # norms and absolute values inside table cells
  lines = ["| claim | measured | predicted | holds |", "|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {esc(r['claim'])} | {esc(r['measured'])} | {esc(r['predicted'])} | "
                 f"{'yes' if r['holds'] else '**no**'} |")
  return "\n".join(lines)


def run(cfg: Config, workdir: str, ds=None, mixture=None) -> list[dict]:
  """Compute the report (float64) and write the run record. Returns the rows."""
  started = time.time()
  with jax.enable_x64(True):
    rows, arrays = verify(cfg, ds, mixture)
  md = format_report(rows) + "\n\nNotes:\n" + "\n".join(
      f"- {r['claim']}: {r['note']}" for r in rows if r["note"]) + "\n"
  arrays = {k: np.asarray(v) for k, v in arrays.items()}
  arrays["holds"] = np.array([r["holds"] for r in rows])
  axes = {k: ["cluster"] if k == "balanced_slack" else ["eigenvalue"] if k == "hessian_eigenvalues"
          else ["claim"] for k in arrays}
  io.write_run(workdir, cfg, arrays, started, axes, extra={"report.json": rows, "report.md": md})
  return rows


if __name__ == "__main__":
  from sims import _flags

  def _main(cfg: Config, workdir: str) -> None:
    rows = run(cfg, workdir)
    print(format_report(rows))
    print(f"\n{sum(r['holds'] for r in rows)} of {len(rows)} claims hold on these data. Report in "
          f"{workdir}/report.md (with notes) and report.json.")

  _flags.main_with_config(Config, "runs/verify_theory", _main)
