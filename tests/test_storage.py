"""The sweep's chunk files on disk: each carries its own fingerprint (configs, settings, data) and a
checksum of its arrays. A truncated, unreadable or corrupted chunk is reported (naming the file) and
recomputed; a chunk of another sweep is refused, never reused, even without ``sweep_spec.json``."""

import dataclasses
import os

import jax
import numpy as np
import pytest

from dae_theory import data, sweep

STEPS, BATCH = 30, 8


def _data():
  ds = data.gaussian_mixture(jax.random.key(0), 3, 20, 8, 1, 3.0, 0.4)[0]
  return np.asarray(ds.x, np.float32)[np.random.default_rng(0).permutation(60)]


def _configs(lam=1e-4):
  return sweep.Grid(seeds=(0, 1), widths=(2, 4), sample_sizes=(10, 60), lams=(lam,)).configs()


def _run(x, workdir, lam=1e-4):
  """Four chunks of two configs; returns (result, log lines)."""
  lines = []
  res = sweep.run_sweep(jax.random.key(0), x, _configs(lam), steps=STEPS, batch_size=BATCH, chunk_size=2,
                        workdir=None if workdir is None else str(workdir), log=lines.append)
  return res, lines


def _assert_same(a, b):
  for k in ("w1", "losses", "status"):
    np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)


@pytest.fixture(scope="module")
def uninterrupted():
  """The sweep run once without a workdir: what every resumed run must equal, bit for bit."""
  return _run(_data(), None)[0]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_chunk_is_named_and_recomputed(tmp_path, uninterrupted, damage):
  """Before: a truncated chunk gave a raw BadZipFile naming no file and was never recomputed."""
  x = _data()
  _run(x, tmp_path)
  path = tmp_path / "chunks" / "chunk_00001.npz"
  raw = path.read_bytes()
  path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"not a zip file at all",
                    "empty": b""}[damage])
  res, lines = _run(x, tmp_path)
  notes = [line for line in lines if "recomputing" in line]
  assert len(notes) == 1 and str(path) in notes[0] and "unreadable or truncated" in notes[0], lines
  _assert_same(res, uninterrupted)
  # The recomputed chunk was written again, whole: a third run reads all four from disk.
  with np.load(path) as f:
    assert f["param/w1"].shape[0] == 2
  res, lines = _run(x, tmp_path)
  assert not any("recomputing" in line for line in lines)
  _assert_same(res, uninterrupted)


def test_a_chunk_failing_its_checksum_is_recomputed(tmp_path, uninterrupted):
  """A whole, readable archive whose arrays were changed after writing (fingerprint and checksum
  copied over unchanged) fails its checksum and is recomputed."""
  x = _data()
  _run(x, tmp_path)
  path = tmp_path / "chunks" / "chunk_00002.npz"
  with np.load(path) as f:
    arrays = {k: f[k] for k in f.files}
  arrays["param/w1"] = arrays["param/w1"] + np.float32(1e-3)
  np.savez(path, **arrays)
  res, lines = _run(x, tmp_path)
  notes = [line for line in lines if "recomputing" in line]
  assert len(notes) == 1 and str(path) in notes[0] and "failing its checksum" in notes[0], lines
  _assert_same(res, uninterrupted)


def test_chunks_of_another_sweep_are_refused_without_the_spec(tmp_path):
  """Before: with sweep_spec.json deleted, a rerun with another λ reused the old chunks and labelled
  them with the new λ. Now each chunk's own fingerprint refuses it, before any compute or write."""
  x = _data()
  _run(x, tmp_path, lam=1e-4)
  os.remove(tmp_path / "sweep_spec.json")
  before = {p.name: p.read_bytes() for p in (tmp_path / "chunks").iterdir()}
  with pytest.raises(ValueError, match=r"chunk_00000\.npz belongs to another sweep .* other "
                     r"configs, settings or data.* not reused\. Use a new workdir, or delete"):
    _run(x, tmp_path, lam=1e-3)
  assert {p.name: p.read_bytes() for p in (tmp_path / "chunks").iterdir()} == before
  assert not (tmp_path / "sweep_spec.json").exists()
  # Other data (same configs and settings) is another sweep too.
  with pytest.raises(ValueError, match="belongs to another sweep"):
    _run(x[::-1].copy(), tmp_path, lam=1e-4)
  # The same sweep still resumes from them.
  res, lines = _run(x, tmp_path, lam=1e-4)
  assert not any("recomputing" in line for line in lines)


def test_phase_diagram_with_another_lam_and_no_spec_is_refused(tmp_path):
  """The issue's case through the sim: a smoke run, sweep_spec.json deleted, rerun with another
  --lam: refused with the chunk file named (not reused under the new λ)."""
  from sims import phase_diagram

  cfg = phase_diagram.Config.smoke()
  phase_diagram.run(cfg, str(tmp_path), log=None)
  os.remove(tmp_path / "sweep_spec.json")
  with pytest.raises(ValueError, match=r"chunks/chunk_00000\.npz belongs to another sweep"):
    phase_diagram.run(dataclasses.replace(cfg, lam=1e-3), str(tmp_path), log=None)


def test_a_chunk_without_a_fingerprint_is_refused(tmp_path):
  """A chunk in the layout before fingerprints (or any npz dropped there) cannot be checked: refused,
  not reused and not overwritten."""
  x = _data()
  _run(x, tmp_path)
  os.remove(tmp_path / "sweep_spec.json")
  path = tmp_path / "chunks" / "chunk_00003.npz"
  with np.load(path) as f:
    arrays = {k: f[k] for k in f.files if k not in ("fingerprint", "checksum")}
  np.savez(path, **arrays)
  with pytest.raises(ValueError, match=r"chunk_00003\.npz has no fingerprint.*not reused"):
    _run(x, tmp_path)
