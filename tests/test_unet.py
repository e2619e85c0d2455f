"""Tests of deep.unet: the U-Net plug trained by the sweep engine equals the single-config trainer,
bias-free homogeneity (and its failure with biases), every tap against an independent NumPy forward
pass, zero padding, the training gradient's hand-written convolution rule against autodiff, steering,
and bad input. Small nets (8 × 8 images, base width 2–3) keep the compiles short; float64 where an
identity is checked."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dae_theory import plug as plug_lib
from dae_theory.sweep import engine, plan
from deep import unet

SIDE, D = 8, 64


def _params(plug, width, key=0, scale=0.3, dtype=jnp.float64):
  """Weights with every leaf random (the init's zero leaves too: at init conv_out = 0 and D = c_skip·y
  would make homogeneity and the taps' effect on D trivial); σ_d kept at the plug's value."""
  p = plug.init(jax.random.key(key), D, width, width, dtype)
  leaves, tree = jax.tree.flatten(unet._trainable(p))
  rng = np.random.default_rng(key)  # NumPy: an eager jax.random call per leaf shape costs a compile
  new = [jnp.asarray(scale * rng.standard_normal(a.shape), dtype) for a in leaves]
  out = jax.tree.unflatten(tree, new)
  out["precond"] = p["precond"]
  return out


# --- An independent forward pass in NumPy (module docstring of deep.unet) ------------------------------

def _np_conv(x, k, b=None):
  """Cross-correlation, stride 1, zero 'SAME' padding:
  out[n,h,w,o] = Σ_{i,j,c} xpad[n,h+i,w+j,c] k[i,j,c,o]."""
  kh, kw = k.shape[:2]
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  h, w = x.shape[1:3]
  out = sum(xp[:, i:i + h, j:j + w, :] @ k[i, j] for i in range(kh) for j in range(kw))
  return out if b is None else out + b


def _np_block(p, h, e, resample, skip=None):
  n, hh, ww, c = h.shape
  if resample == "down":
    h = h.reshape(n, hh // 2, 2, ww // 2, 2, c).mean((2, 4))
  elif resample == "up":
    h = h.repeat(2, 1).repeat(2, 2)
  if "proj" in p:
    h = _np_conv(h, p["proj"]["kernel"], p["proj"].get("bias"))
  if skip is not None:
    h = h + skip
  s = np.exp(e @ p["scale"]["kernel"] + p["scale"]["bias"])[:, None, None, :]
  u = np.maximum(_np_conv(h, p["conv1"]["kernel"], p["conv1"].get("bias")) * s, 0.0)
  return h + _np_conv(u, p["conv2"]["kernel"], p["conv2"].get("bias"))


def _np_forward(params, y, sigma, levels):
  p = jax.tree.map(np.asarray, params)
  sd = float(p["precond"]["sigma_data"])
  n, d = y.shape
  side = int(round(np.sqrt(d)))
  sig = np.broadcast_to(np.asarray(sigma, np.float64), (n,))
  c_skip, c_out = sd**2 / (sig**2 + sd**2), sig * sd / np.sqrt(sig**2 + sd**2)
  c_in, c_noise = 1 / np.sqrt(sig**2 + sd**2), np.log(sig) / 4
  z = c_noise[:, None] @ p["emb"]["kernel"] + p["emb"]["bias"]
  e = z / (1 + np.exp(-z))  # silu
  h = _np_conv((c_in[:, None] * y).reshape(n, side, side, 1), p["conv_in"]["kernel"],
               p["conv_in"].get("bias"))
  taps, skips = {}, []
  for l in range(levels):
    h = taps[f"enc{l}"] = _np_block(p[f"enc{l}"], h, e, "down" if l else "none")
    skips.append(h)
  h = taps["mid"] = _np_block(p["mid"], h, e, "none")
  for l in reversed(range(levels)):
    h = taps[f"dec{l}"] = _np_block(p[f"dec{l}"], h, e, "none" if l == levels - 1 else "up", skips[l])
  f = _np_conv(h, p["conv_out"]["kernel"], p["conv_out"].get("bias")).reshape(n, d)
  return c_skip[:, None] * y + c_out[:, None] * f, taps


@pytest.mark.parametrize("bias", [False, True])
def test_every_tap_is_the_block_output_it_names(x64, bias):
  """Each tap (by nnx.capture) equals the same block's output computed by the NumPy forward pass
  above (another implementation of the module docstring: convolutions as sums of shifted products),
  and D equals it too, at rtol 1e-12 (float64; the two differ only in summation order, ~100 terms).
  A three-level net's taps have the stated shapes (jax.eval_shape: nothing compiled)."""
  mult = (1, 2)
  plug = unet.plug(channel_mult=mult, bias=bias, side=SIDE)
  params = _params(plug, 2)
  y = np.random.default_rng(5).standard_normal((4, D))
  sigma = np.array([0.02, 0.3, 1.0, 5.0])
  taps = unet.taps(params, y, sigma)
  assert tuple(taps) == unet.TAPS == unet.tap_names(2)
  want_d, want = _np_forward(params, y, sigma, len(mult))
  for name, h in taps.items():
    level = len(mult) - 1 if name == "mid" else int(name[3:])
    assert h.shape == (4, SIDE >> level, SIDE >> level, 2 * mult[level]), name
    np.testing.assert_allclose(h, want[name], rtol=1e-12, atol=1e-12 * np.abs(want[name]).max())
  np.testing.assert_allclose(unet.denoise(params, y, sigma), want_d, rtol=1e-12, atol=1e-13)
  deep3 = unet.plug(channel_mult=(1, 2, 4), side=SIDE)
  p3 = jax.eval_shape(lambda k: deep3.init(k, D, 3, 3, jnp.float32), jax.random.key(0))
  shapes = jax.eval_shape(lambda p: unet._forward(p, jnp.zeros((5, D)), 0.1)[1], p3)
  assert {k: v.shape for k, v in shapes.items()} == {
      "enc0": (5, 8, 8, 3), "enc1": (5, 4, 4, 6), "enc2": (5, 2, 2, 12), "mid": (5, 2, 2, 12),
      "dec2": (5, 2, 2, 12), "dec1": (5, 4, 4, 6), "dec0": (5, 8, 8, 3)}
  assert unet.tap_names(3) == ("enc0", "enc1", "enc2", "mid", "dec2", "dec1", "dec0")


def test_taps_by_hand_on_a_fixed_input(x64):
  """A hand-set net: conv_in and the two channel-changing convolutions (enc1.proj, dec0.proj) copy
  channel 0 to channel 0 (a centre tap of weight 1), every other kernel is zero, so each residual
  block passes its input through. Then, with u = c_in·y as an image: enc0 = u, enc1 = mid = a (the
  2 × 2 averages of u), dec1 = mid + enc1 = 2a, dec0 = (2a repeated 2 × 2) + enc0, all in channel 0
  and exactly 0 in the others. Checked on one 8 × 8 ramp image."""
  plug = unet.plug(side=SIDE)
  params = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype),
                        plug.init(jax.random.key(0), D, 2, 2, jnp.float64))
  params["precond"]["sigma_data"] = np.asarray(0.5)
  for path in (("conv_in",), ("enc1", "proj"), ("dec0", "proj")):
    leaf = params
    for k in path:
      leaf = leaf[k]
    leaf["kernel"][1, 1, 0, 0] = 1.0
  y = np.arange(D, dtype=np.float64)[None] / D
  sigma = 0.4
  u = y.reshape(SIDE, SIDE) / np.sqrt(sigma**2 + 0.25)
  a = u.reshape(4, 2, 4, 2).mean((1, 3))
  want = {"enc0": u, "enc1": a, "mid": a, "dec1": 2 * a, "dec0": u + (2 * a).repeat(2, 0).repeat(2, 1)}
  taps = unet.taps(params, y, sigma)
  for name, h in want.items():
    np.testing.assert_allclose(taps[name][0, :, :, 0], h, rtol=1e-14, err_msg=name)
    assert np.all(taps[name][0, :, :, 1:] == 0), name
  # conv_out = 0: D = c_skip y.
  np.testing.assert_allclose(unet.denoise(params, y, sigma), 0.25 / (sigma**2 + 0.25) * y, rtol=1e-14)


@pytest.mark.parametrize("bias", [False, True])
def test_bias_free_homogeneity_and_its_failure_with_biases(x64, bias):
  """D(c·y, σ) = c·D(y, σ) for c > 0 without biases, at rtol 1e-12 (float64 rounding through ~10
  layers), and D(y) = J(y)·y; with biases (random, nonzero) the relative deviation exceeds 1e-3 for
  every c ≠ 1, so the test can fail."""
  plug = unet.plug(bias=bias, side=SIDE)
  params = _params(plug, 2, key=1)
  y = np.random.default_rng(2).standard_normal((4, D))
  sigma = np.array([0.05, 0.5, 3.0, 8.0])
  base = unet.denoise(params, y, sigma)
  for c in (0.1, 0.7, 3.0, 40.0):
    dev = float(jnp.max(jnp.abs(unet.denoise(params, c * y, sigma) - c * base))
                / jnp.max(jnp.abs(c * base)))
    if bias:
      assert dev > 1e-3, c
    else:
      assert dev < 1e-12, c
  if not bias:
    # Piecewise linear and homogeneous in y at fixed σ: D(y) = J(y)·y (Euler), J by jax.jacfwd (the
    # Jacobian lens's own call; rtol 1e-10).
    jac = jax.jacfwd(lambda u: unet.denoise(params, u[None], sigma[1:2])[0])(jnp.asarray(y[1]))
    np.testing.assert_allclose(jac @ y[1], base[1], rtol=1e-10, atol=1e-12)


def _pad_to(plug, params, width):
  """Zero-pad every leaf at the end of each axis that grows with the width (the sweep's storage)."""
  big = jax.eval_shape(lambda k: plug.init(k, D, width, width, jnp.float64), jax.random.key(0))
  pad = lambda a, s: np.pad(np.asarray(a), [(0, n - m) for m, n in zip(a.shape, s.shape)])
  return jax.tree.map(lambda a, s: pad(a, s) if np.ndim(a) else np.asarray(a), params, big)


def test_zero_padding_the_channels_leaves_the_denoiser_unchanged(x64):
  """Weights of width 2 zero-padded to width 5 along every growing axis (as the engine stores them):
  D is the same (rtol 1e-13, float64: only zero terms are added to each sum) and every tap's extra
  channels are exactly zero."""
  plug = unet.plug(side=SIDE)
  params = _params(plug, 2, key=3)
  padded = _pad_to(plug, params, 5)
  assert padded["enc1"]["conv1"]["kernel"].shape == (3, 3, 10, 10)
  y = np.random.default_rng(4).standard_normal((4, D))
  sigma = np.array([0.02, 0.2, 1.0, 5.0])
  np.testing.assert_allclose(unet.denoise(padded, y, sigma), unet.denoise(params, y, sigma),
                             rtol=1e-13, atol=1e-14)
  small, big = unet.taps(params, y, sigma), unet.taps(padded, y, sigma)
  for name in small:
    c = small[name].shape[-1]
    np.testing.assert_allclose(big[name][..., :c], small[name], rtol=1e-13,
                               atol=1e-13 * float(np.max(np.abs(small[name]))))
    assert np.all(big[name][..., c:] == 0), name


def test_training_gradient_equals_autodiff_of_the_plain_convolution(x64):
  """The loss's convolutions carry a hand-written reverse-mode rule (unet.canonical_conv): its loss
  and gradient equal jax.value_and_grad of the same loss through lax.conv_general_dilated's own rule,
  at rtol 1e-12 (float64)."""
  plug = unet.plug(channel_mult=(1,), bias=True, side=SIDE)  # one level: shorter compiles
  params = _params(plug, 2, key=6, scale=0.2)
  x = np.random.default_rng(7).standard_normal((4, D))
  w = jnp.full((4,), 0.25, jnp.float64)
  noise = plug.noise(jax.random.key(8), 4, D, jnp.float64)
  hyper = plug_lib.Hyper(jnp.asarray(0.1), jnp.asarray(1e-3))
  val, grads = jax.jit(plug.loss_and_grad)(params, x, w, noise, hyper)

  def plain(p):
    sig, eps = noise
    den = unet.denoise(p, x + sig[:, None] * eps, sig)
    sq = jnp.sum((den - x) ** 2, -1)
    pen = sum(jnp.sum(a**2) for a in jax.tree.leaves(unet._trainable(p)))
    return jnp.sum(w * unet.loss_weight(sig, 0.5) * sq) + hyper.lam * pen

  want_val, want = jax.jit(jax.value_and_grad(plain))(params)
  np.testing.assert_allclose(val, want_val, rtol=1e-12)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(b))) + 1e-300)
  assert float(grads["precond"]["sigma_data"]) == 0.0  # a constant, never trained
  with pytest.raises(ValueError, match="stride-1 'SAME'"):
    unet.canonical_conv(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), (2, 2), "SAME",
                        dimension_numbers=jax.lax.conv_dimension_numbers((1, 4, 4, 1), (3, 3, 1, 1),
                                                                         ("NHWC", "HWIO", "NHWC")))


def test_the_sweep_engine_equals_the_single_config_trainer(x64):
  """A tiny U-Net grid (2 seeds × widths 2 and 3, bucket=True) trained by run_sweep equals
  train_config config by config: weights (cut back to each width) and losses to rtol 1e-9, float64.
  Why not exact: the vmapped group runs its convolutions as one grouped convolution, the single
  trainer as plain ones, so sums are ordered differently (~1e-16 relative per operation); Adam's
  division by √v can amplify that where a gradient entry is tiny. Measured here: 1.7e-14 (weights,
  relative to each leaf's largest entry) and 3.6e-16 (losses); 1e-9 leaves room for any BLAS. σ_d
  stays exactly 0.5 (stop-gradient), and the sweep stores a narrower config zero-padded (exactly 0
  outside)."""
  plug = unet.plug(channel_mult=(1,), side=SIDE)  # one level: the shortest compiles
  x = np.random.default_rng(11).standard_normal((8, D)) * 0.5
  grid = plan.Grid(seeds=(0, 1), widths=(2, 3), sample_sizes=(8,), sigmas=(0.1,), lams=(1e-3,),
                   learning_rates=(1e-2,))
  cfgs = grid.configs()
  key = jax.random.key(42)
  res = engine.run_sweep(key, x, cfgs, steps=3, batch_size=4, plug=plug, bucket=True, log_every=1,
                         log=None)
  assert np.all(res.status == -1)
  for i in range(len(cfgs)):
    mine = engine.config_params(res, i, D, plug)
    ref, losses, bad = engine.train_config(
        key, x, int(cfgs.seed[i]), int(cfgs.width[i]), int(cfgs.n[i]), float(cfgs.sigma[i]),
        float(cfgs.lam[i]), float(cfgs.learning_rate[i]), steps=3, batch_size=4, plug=plug)
    assert bad == -1
    np.testing.assert_allclose(res.losses[i], losses, rtol=1e-9)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(ref)):
      np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * float(np.max(np.abs(b))) + 1e-300)
    assert float(mine["precond"]["sigma_data"]) == 0.5
  # Config 0 (width 2) is stored zero-padded to width 3 along every growing axis (the same denoiser:
  # test_zero_padding_the_channels_leaves_the_denoiser_unchanged).
  assert int(cfgs.width[0]) == 2
  for full, cut in zip(jax.tree.leaves(jax.tree.map(lambda a: a[0], res.params)),
                       jax.tree.leaves(engine.config_params(res, 0, D, plug))):
    inner = tuple(slice(0, n) for n in cut.shape)
    np.testing.assert_array_equal(full[inner], cut)
    rest = np.array(full)
    rest[inner] = 0
    assert not np.any(rest)  # everything outside is exactly 0
  # The grid did train: the weights moved from their init.
  init = plug.init(jax.random.key(0), D, 2, 2, jnp.float64)
  assert not np.allclose(engine.config_params(res, 0, D, plug)["mid"]["conv1"]["kernel"],
                         init["mid"]["conv1"]["kernel"], rtol=0, atol=1e-6)


def test_steering_at_a_tap(x64):
  """Eq. 11 at a tap, with the window Ω = [0.1, 1.5] (rows 1 and 2 of the four σ inside): outside Ω
  the steered denoiser is the model's own exactly; a = 0 is the model's own (rtol 1e-13: another
  compiled program); steering dec0 (followed only by the linear conv_out) moves D linearly in a,
  D(3) − D(0) = 3·(D(1) − D(0)) at rtol 1e-10; steering mid without a window moves every row."""
  plug = unet.plug(side=SIDE)
  params = _params(plug, 2, key=9)
  y = np.random.default_rng(10).standard_normal((4, D))
  sigma = np.array([0.05, 0.2, 1.0, 4.0])
  base = np.asarray(unet.denoise(params, y, sigma))
  h = unet.taps(params, y, sigma)
  v = np.asarray(h["dec0"]).mean((0, 1, 2))
  steered = lambda a: np.asarray(
      unet.steered_denoiser(params, "dec0", v, a, window=(0.1, 1.5))(y, sigma))
  d0, d1, d3 = steered(0.0), steered(1.0), steered(3.0)
  np.testing.assert_allclose(d0, base, rtol=1e-13, atol=1e-14)
  for d in (d1, d3):
    np.testing.assert_array_equal(d[[0, 3]], d0[[0, 3]])
  assert np.min(np.linalg.norm(d1[1:3] - d0[1:3], axis=-1)) > 1e-3
  np.testing.assert_allclose(d3 - d0, 3 * (d1 - d0), rtol=1e-10, atol=1e-12)
  vm = np.asarray(h["mid"]).mean((0, 1, 2))
  mid = np.asarray(unet.steered_denoiser(params, "mid", vm, 2.0)(y, sigma))
  assert np.min(np.linalg.norm(mid - base, axis=-1)) > 1e-3


def test_represent_pool_and_tap_rep(x64):
  """represent = the mid tap at probe_sigma, spatial max per channel; tap_rep(mean) = the spatial
  mean; pool against NumPy. Different compiled programs: rtol 1e-13 (float64)."""
  plug = unet.plug(side=SIDE, probe_sigma=0.3)
  params = _params(plug, 2, key=12)
  y = np.random.default_rng(13).standard_normal((4, D))
  mid = np.asarray(unet.taps(params, y, 0.3)["mid"])
  np.testing.assert_allclose(plug.represent(params, y), mid.max((1, 2)), rtol=1e-13)
  np.testing.assert_allclose(unet.tap_rep(params, "mid", 0.3, "mean")(y), mid.mean((1, 2)),
                             rtol=1e-13, atol=1e-14)
  np.testing.assert_array_equal(unet.pool(mid, "max"), mid.max((1, 2)))
  np.testing.assert_allclose(unet.pool(mid, "mean"), mid.mean((1, 2)), rtol=1e-14)


def test_the_plug_is_cached_and_its_noise_is_log_uniform():
  """Same settings -> the same object; the name tells bias apart; σ is log-uniform in [σ_min, σ_max]:
  within the range, and the mean of log σ within 5 standard errors (n_mc = 20000; sd of a uniform
  on [a, b] is (b − a)/√12) of its midpoint."""
  assert unet.plug() is unet.plug((1, 2), False, 16, 0.01, 10.0, None, 0.1)
  assert unet.plug(bias=True).name != unet.plug().name
  n_mc = 20000
  sig, eps = unet.plug().noise(jax.random.key(0), n_mc, 256, jnp.float32)
  assert sig.shape == (n_mc,) and eps.shape == (n_mc, 256)
  assert float(sig.min()) >= 0.01 * (1 - 1e-6) and float(sig.max()) <= 10.0 * (1 + 1e-6)
  a, b = np.log(0.01), np.log(10.0)
  assert abs(float(jnp.mean(jnp.log(sig))) - (a + b) / 2) < 5 * (b - a) / np.sqrt(12 * n_mc)


def test_bad_input_gets_clear_errors():
  plug = unet.plug(side=SIDE)
  with pytest.raises(ValueError, match=r"d must equal side\*\*2 = 64, got d=60"):
    plug.init(jax.random.key(0), 60, 2, 2, jnp.float32)
  params = plug.init(jax.random.key(0), D, 2, 2, jnp.float32)
  y = np.zeros((3, D), np.float32)
  with pytest.raises(ValueError, match="d must equal side\\*\\*2"):
    unet.denoise(params, np.zeros((3, 50), np.float32), 0.1)
  with pytest.raises(ValueError, match=r"sigma must be a scalar or one per row of y \(shape \(3,\)\)"):
    unet.denoise(params, y, np.ones(4, np.float32))
  with pytest.raises(ValueError, match="sigma must be finite and > 0"):
    unet.denoise(params, y, 0.0)
  bad = y.copy()
  bad[1, 5] = np.nan
  with pytest.raises(ValueError, match="y holds 1 non-finite entries"):
    unet.denoise(params, bad, 0.1)
  with pytest.raises(ValueError, match="y holds 1 non-finite entries"):
    plug.represent(params, bad)
  with pytest.raises(ValueError, match="tap must be one of"):
    unet.tap_rep(params, "up_blocks.0", 0.1)
  with pytest.raises(ValueError, match="how must be one of"):
    unet.pool(np.zeros((1, 2, 2, 3)), "median")
  with pytest.raises(ValueError, match=r"v must have shape \(4,\)"):
    unet.steered_denoiser(params, "mid", np.zeros(3), 1.0)
  with pytest.raises(ValueError, match="window must satisfy"):
    unet.steered_denoiser(params, "mid", np.zeros(4), 1.0, window=(1.0, 0.5))
  with pytest.raises(ValueError, match="params are not deep.unet weights"):
    unet.denoise({"w1": np.zeros((D, 2))}, y, 0.1)
  with pytest.raises(ValueError, match="side must be a positive multiple"):
    unet.plug(channel_mult=(1, 2, 2), side=6)
  with pytest.raises(ValueError, match="sigma_min < sigma_max"):
    unet.plug(sigma_min=1.0, sigma_max=0.5)
