"""Tests of deep.checkpoint: a save/load roundtrip is bit-identical (U-Net weights, float32 and
float64, 0-d leaves); missing, truncated or altered checkpoints and foreign overwrites are refused with
a ValueError naming the path."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep import checkpoint, unet


def _weights(dtype=np.float32):
  rng = np.random.default_rng(0)
  return {"conv_in": {"kernel": rng.normal(size=(3, 3, 1, 4)).astype(dtype)},
          "mid": {"conv1": {"kernel": rng.normal(size=(3, 3, 4, 4)).astype(dtype)},
                  "scale": {"bias": rng.normal(size=(4,)).astype(dtype)}},
          "precond": {"sigma_data": np.asarray(0.5, dtype)}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roundtrip_is_bit_identical(tmp_path, dtype):
  params = _weights(dtype)
  meta = {"plug": "unet-test", "width": 4, "sigmas": [0.1, 0.2]}
  checkpoint.save(str(tmp_path / "ck"), params, meta)
  got, got_meta = checkpoint.load(str(tmp_path / "ck"))
  assert got_meta == meta
  assert jax.tree.structure(got) == jax.tree.structure(params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(params)):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def test_a_real_unet_roundtrips_and_denoises_the_same(tmp_path):
  """The plug's own init (jax arrays) saved and reloaded gives bit-identical leaves and the same D."""
  plug = unet.plug(side=8)
  params = plug.init(jax.random.key(0), 64, 2, 2, jnp.float32)
  checkpoint.save(str(tmp_path / "u"), params, {"plug": plug.name})
  got, _ = checkpoint.load(str(tmp_path / "u"))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(params)):
    assert np.asarray(b).tobytes() == a.tobytes()
  y = np.linspace(-1, 1, 128, dtype=np.float32).reshape(2, 64)
  np.testing.assert_array_equal(unet.denoise(got, y, 0.3), unet.denoise(params, y, 0.3))


def _data_files(folder):
  return [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs
          if os.sep + "d" + os.sep in os.path.join(r, f) and os.path.getsize(os.path.join(r, f)) > 0]


def test_missing_truncated_and_altered_checkpoints_are_refused(tmp_path):
  with pytest.raises(ValueError, match=r"checkpoint '.*nowhere' does not exist"):
    checkpoint.load(str(tmp_path / "nowhere"))
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "x.txt").write_text("not a checkpoint")
  with pytest.raises(ValueError, match=r"checkpoint '.*junk' is unreadable"):
    checkpoint.load(str(tmp_path / "junk"))
  params = _weights()
  for name, damage in (("trunc", lambda b: b[: len(b) // 2]), ("flip", lambda b: b[:-9] + bytes(
      [b[-9] ^ 0xFF]) + b[-8:])):
    path = str(tmp_path / name)
    checkpoint.save(path, params, {"m": 1})
    files = _data_files(path)
    assert files
    for f in files:  # damage every data file: whichever holds the arrays
      with open(f, "rb") as fh:
        raw = fh.read()
      with open(f, "wb") as fh:
        fh.write(damage(raw))
    with pytest.raises(ValueError, match=f"checkpoint '.*{name}'"):
      checkpoint.load(path)
  # The meta file itself damaged: no manifest.
  path = str(tmp_path / "meta")
  checkpoint.save(path, params, {"m": 1})
  with open(os.path.join(path, "meta", "metadata"), "w") as fh:
    fh.write('{"m": 1}')
  with pytest.raises(ValueError, match="no leaf manifest"):
    checkpoint.load(path)


def test_another_model_is_never_overwritten_silently(tmp_path):
  path = str(tmp_path / "ck")
  checkpoint.save(path, _weights(), {"model": "a"})
  checkpoint.save(path, _weights(), {"model": "a"})  # the same model: replaced
  with pytest.raises(ValueError, match="holds a checkpoint of another model"):
    checkpoint.save(path, _weights(), {"model": "b"})
  with pytest.raises(ValueError, match="holds a checkpoint of another model"):
    checkpoint.save(path, _weights(np.float64), {"model": "a"})
  assert checkpoint.load(path)[1] == {"model": "a"}  # untouched
  checkpoint.save(path, _weights(), {"model": "b"}, overwrite=True)
  assert checkpoint.load(path)[1] == {"model": "b"}
  assert sorted(os.listdir(tmp_path)) == ["ck"]  # no .new / .old left behind
  bad = _weights()
  bad["mid"]["conv1"]["kernel"][0, 0, 0, 0] = np.nan
  with pytest.raises(ValueError, match=r"non-finite values in \['mid/conv1/kernel'\]"):
    checkpoint.save(str(tmp_path / "nan"), bad, {})
  with pytest.raises(ValueError, match="JSON-serialisable"):
    checkpoint.save(str(tmp_path / "j"), _weights(), {"x": object()})
