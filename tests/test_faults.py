"""Bad input and faults: a run record is valid only when complete; make_all never deletes a backup;
a sim never overwrites another config's run; bad workdirs and NaN/inf flags stop before compute;
SIGINT/SIGTERM say what was saved and how to resume."""

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from dae_theory import io
from figures import style
from sims import _flags, make_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Cfg:
  steps: int = 10
  lam: float = 1e-4

  @classmethod
  def smoke(cls):
    return cls(steps=3)


def _enospc(*args, **kwargs):
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_on(monkeypatch, name):
  """Make writing ``name`` of a run record fail with ENOSPC (disk full)."""
  if name == "results.npz":
    monkeypatch.setattr(io, "write_npz", _enospc)
    return
  real = io.write_json if name.endswith(".json") else io.write_text
  attr = "write_json" if name.endswith(".json") else "write_text"

  def failing(path, obj):
    if os.path.basename(path) == name:
      _enospc()
    real(path, obj)

  monkeypatch.setattr(io, attr, failing)


# ---------------------------------------------------------------------------------------------
# Run records
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["config.json", "results.npz", "report.md", "meta.json"])
def test_a_failed_write_leaves_no_record_that_make_all_reuses(tmp_path, monkeypatch, failing):
  old, new = Cfg(steps=1), Cfg(steps=2)
  io.write_run(str(tmp_path), old, {"a": np.zeros(3)}, time.time(), extra={"report.md": "old"})
  (tmp_path / "notes.txt").write_text("mine")
  assert make_all._saved_config_matches(str(tmp_path), old)
  with monkeypatch.context() as m:
    _fail_on(m, failing)
    with pytest.raises(OSError, match="No space left"):
      io.write_run(str(tmp_path), new, {"a": np.ones(3)}, time.time(), extra={"report.md": "new"})
  # Neither the new config nor the old one passes for a finished run; figures refuse it too.
  assert io.finished_config(str(tmp_path)) is None
  assert not make_all._saved_config_matches(str(tmp_path), new)
  assert not make_all._saved_config_matches(str(tmp_path), old)
  with pytest.raises(FileNotFoundError, match="meta.json missing"):
    style.load_run(str(tmp_path), "sims.x")
  assert (tmp_path / "notes.txt").read_text() == "mine"  # the user's file is untouched
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
  io.write_run(str(tmp_path), new, {"a": np.ones(3)}, time.time(), extra={"report.md": "new"})
  assert make_all._saved_config_matches(str(tmp_path), new)


def test_a_record_whose_files_changed_or_predate_checksums_is_not_finished(tmp_path):
  io.write_run(str(tmp_path), Cfg(), {"a": np.zeros(3)}, time.time())
  assert io.finished_config(str(tmp_path)) == {"steps": 10, "lam": 1e-4}
  np.savez(tmp_path / "results.npz", a=np.ones(3))  # results swapped under the same meta.json
  assert io.finished_config(str(tmp_path)) is None
  from figures import style  # a figure script drawn alone refuses it too

  with pytest.raises(FileNotFoundError, match="is not complete: a file listed in its meta.json"):
    style.load_run(str(tmp_path), "sims.fake")
  # A record written config first by older code (meta.json without checksums) is rerun, not reused.
  io.write_json(str(tmp_path / "meta.json"), {"axes": {}})
  assert io.finished_config(str(tmp_path)) is None


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_run_record_files_honour_the_umask(tmp_path, umask, mode):
  old = os.umask(umask)
  try:
    io.write_run(str(tmp_path), Cfg(), {"a": np.zeros(3)}, time.time(), extra={"t.md": "x"})
  finally:
    os.umask(old)
  for name in ("config.json", "results.npz", "meta.json", "t.md"):
    assert os.stat(tmp_path / name).st_mode & 0o777 == mode, name


def _fake_sim(monkeypatch):
  """A sim module ``fake`` for make_all.ensure_run that writes a record with io.write_run (the sims'
  shared signature ``run(cfg, workdir, log=print)``)."""
  mod = types.ModuleType("fake_sim_for_tests")
  mod.Config = Cfg
  mod.run = lambda cfg, wd, log=print: io.write_run(
      wd, cfg, {"a": np.arange(cfg.steps)}, time.time(), extra={"summary.json": {"lines": ["x"]}})
  monkeypatch.setitem(sys.modules, mod.__name__, mod)
  monkeypatch.setitem(make_all.SIMS, "fake", mod.__name__)
  return mod


def test_make_all_reruns_after_a_failed_write_instead_of_reusing(tmp_path, monkeypatch):
  _fake_sim(monkeypatch)
  logs = []
  make_all.ensure_run("fake", str(tmp_path), smoke=False, log=logs.append)  # Cfg(): steps=10
  with monkeypatch.context() as m:
    _fail_on(m, "results.npz")
    with pytest.raises(OSError):
      make_all.ensure_run("fake", str(tmp_path), smoke=True, log=logs.append)  # steps=3
  logs.clear()
  run_dir = make_all.ensure_run("fake", str(tmp_path), smoke=True, log=logs.append)
  assert not any("reusing" in line for line in logs), logs
  assert np.load(os.path.join(run_dir, "results.npz"))["a"].shape == (3,)


def test_force_keeps_every_earlier_backup_and_says_so(tmp_path, monkeypatch):
  _fake_sim(monkeypatch)
  run_dir = tmp_path / "fake_sim_for_tests"
  logs = []
  for i in range(3):
    make_all.ensure_run("fake", str(tmp_path), smoke=True, force=True, log=logs.append)
    (run_dir / "mine.txt").write_text(f"run {i}")
  assert (tmp_path / "fake_sim_for_tests.previous" / "mine.txt").read_text() == "run 0"
  assert (tmp_path / "fake_sim_for_tests.previous-2" / "mine.txt").read_text() == "run 1"
  assert (run_dir / "mine.txt").read_text() == "run 2"
  moved = [line for line in logs if "moved the earlier run" in line]
  assert len(moved) == 2 and moved[1].endswith(".previous-2 (older backups beside it are kept)")


def test_a_run_folder_that_is_a_file_is_refused_before_compute(tmp_path):
  (tmp_path / "image_dae").write_text("not a folder")
  with pytest.raises(ValueError, match="image_dae \\(where the image run goes under --workdir\\) "
                                       "is a file"):
    make_all.make_all(str(tmp_path), str(tmp_path / "out"), smoke=True, only=["fig2_samples"])
  assert not (tmp_path / "out").exists()


def test_a_rerun_of_the_same_config_is_allowed_another_is_refused(tmp_path):
  io.write_run(str(tmp_path), Cfg(), {"a": np.zeros(1)}, time.time())
  _flags.check_workdir(Cfg(), str(tmp_path))  # same config: rerun ok
  with pytest.raises(ValueError, match="holds a finished run of another config \\(steps: saved "
                                       "10, now 3\\)"):
    _flags.check_workdir(Cfg.smoke(), str(tmp_path))
  (tmp_path / "config.json").write_text("{torn")
  with pytest.raises(ValueError, match="config.json is not a readable run config .* Give another "
                                       "--workdir, or delete"):
    _flags.check_workdir(Cfg(), str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Command lines (subprocesses; each refusal costs only the imports)
# ---------------------------------------------------------------------------------------------


def _cli(module, *args, timeout=300):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=timeout)


@pytest.mark.parametrize("sim,flag,message", [
    ("phase_diagram", "--sigmas=nan", "--sigmas: every entry must be a finite number (no nan/inf)"),
    ("theory_checks", "--lam=inf", "--lam must be a finite number (no nan/inf), got inf"),
    ("mixture_dae", "--learning_rate=inf", "--learning_rate must be a finite number"),
    ("detection", "--sigmas=0.1,-inf", "--sigmas: every entry must be a finite number"),
])
def test_nonfinite_flags_stop_before_compute(tmp_path, sim, flag, message):
  out = _cli(f"sims.{sim}", "--smoke", flag, "--workdir", str(tmp_path / "w"))
  assert out.returncode == 1 and message in out.stderr, out.stderr
  assert not (tmp_path / "w").exists()


def _workdir_cases(tmp_path):
  (tmp_path / "file").write_text("x")
  locked = tmp_path / "locked"
  locked.mkdir()
  locked.chmod(0o500)
  # root writes anywhere a mode allows nothing; /proc takes no new files from anyone
  unwritable = "/proc/dae_theory_w" if os.geteuid() == 0 else str(locked / "w")
  return {"empty": ("", "--workdir must not be empty"),
          "file": (str(tmp_path / "file"), "is an existing file, not a folder"),
          "under_a_file": (str(tmp_path / "file" / "w"), "is a file, so the folder cannot be"),
          "unwritable": (unwritable, "cannot write in")}


@pytest.mark.parametrize("case", ["empty", "file", "under_a_file", "unwritable"])
def test_a_bad_workdir_stops_a_sim_before_compute(tmp_path, case):
  workdir, message = _workdir_cases(tmp_path)[case]
  out = _cli("sims.theory_demo", "--smoke", f"--workdir={workdir}")
  assert out.returncode == 1 and message in out.stderr, out.stderr
  assert "writing the run record" not in out.stderr  # refused before the run starts (not run
  # into the default workdir either, for "")
  assert case == "empty" or not os.path.isdir(workdir)


@pytest.mark.parametrize("flag,case", [("--workdir", "empty"), ("--workdir", "file"),
                                       ("--out", "file")])
def test_a_bad_make_all_folder_stops_before_compute(tmp_path, flag, case):
  path, message = _workdir_cases(tmp_path)[case]
  other = ["--out", str(tmp_path / "out")] if flag == "--workdir" else [
      "--workdir", str(tmp_path / "runs")]
  out = _cli("sims.make_all", "--smoke", f"{flag}={path}", *other)
  assert out.returncode == 1 and f"{flag}" in out.stderr and message in out.stderr, out.stderr
  assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("sim", ["theory_demo", "steering", "verify_theory"])
def test_a_workdir_holding_another_config_is_refused(tmp_path, sim):
  mod = __import__(f"sims.{sim}", fromlist=["Config"])
  saved = dataclasses.replace(mod.Config.smoke(), seed=5)
  io.write_run(str(tmp_path), saved, {"a": np.zeros(1)}, time.time())
  before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
  out = _cli(f"sims.{sim}", "--smoke", "--workdir", str(tmp_path))
  assert out.returncode == 1, out.stderr
  assert (f"--workdir={tmp_path} holds a finished run of another config (seed: saved 5, now 0). "
          f"Rerunning would overwrite it: give another --workdir, delete {tmp_path} first, or pass "
          "--replace to move it aside." in out.stderr), out.stderr
  assert {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before


def test_replace_moves_a_run_of_another_config_aside_and_keeps_it(tmp_path):
  """`make demo` passes --replace: after a Config default changes, the old run is kept as
  <workdir>.previous (never deleted) and the new one is written."""
  from sims import theory_demo

  workdir = tmp_path / "w"
  saved = dataclasses.replace(theory_demo.Config.smoke(), seed=5)
  io.write_run(str(workdir), saved, {"a": np.zeros(1)}, time.time(), extra={"mine.txt": "keep"})
  out = _cli("sims.theory_demo", "--smoke", "--replace", "--workdir", str(workdir))
  assert out.returncode == 0, out.stderr
  assert f"--replace: moved the earlier run to {workdir}.previous" in out.stderr, out.stderr
  assert (tmp_path / "w.previous" / "mine.txt").read_text() == "keep"
  assert io.finished_config(str(tmp_path / "w.previous"))["seed"] == 5
  assert io.finished_config(str(workdir)) == io.to_jsonable(theory_demo.Config.smoke())


def _wait_for(predicate, proc, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None and not predicate():
    time.sleep(0.05)
  assert proc.poll() is None, "the run ended before the signal could be sent"


def _popen_with_sigint_at_default(cmd, **kwargs):
  """Start ``cmd`` with SIGINT at its default, as a terminal gives it. A test runner started in the
  background by a script inherits SIGINT *ignored* (the shell's rule for background jobs), and so would
  its children, in which Python then never raises KeyboardInterrupt: that, not the sim, made this
  test fail in background CI runs. exec keeps an ignored signal ignored but resets a handled one to
  its default, so the parent handles SIGINT while it starts the child (no preexec_fn: forking a
  multithreaded JAX process and running Python in the child before exec can deadlock)."""
  old = signal.getsignal(signal.SIGINT)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    return subprocess.Popen(cmd, **kwargs)
  finally:
    signal.signal(signal.SIGINT, old)


def test_sigint_during_a_sim_says_nothing_partial_is_saved_and_exits_130(tmp_path):
  workdir = tmp_path / "w"
  # 10 000 steps in compiled calls of 10 000: the run cannot end before the signal, and the signal is
  # acted on when the call returns (Python handles signals between bytecodes).
  proc = _popen_with_sigint_at_default(
      [sys.executable, "-m", "sims.theory_demo", "--smoke", "--steps=10000", "--workdir",
       str(workdir)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  started = proc.stderr.readline()  # the line main_with_config prints as the run starts
  assert "sims.theory_demo: writing the run record to" in started, started
  time.sleep(1.0)
  assert proc.poll() is None, "the run ended before the signal could be sent"
  proc.send_signal(signal.SIGINT)
  try:
    _, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err
  assert "Traceback" not in err, err
  assert ("Stopped by SIGINT (Ctrl-C): nothing partial is saved; rerun the command:\n"
          f"  python -m sims.theory_demo --smoke --steps=10000 --workdir {workdir}") in err, err
  assert not (workdir / "meta.json").exists()


def test_sigterm_mid_sweep_leaves_a_resumable_workdir_and_exits_143(tmp_path):
  # 3000 steps per one-config chunk: each chunk takes long enough that the signal lands mid-run.
  args = ["--smoke", "--widths=2,4", "--sample_sizes=4,8,16,32", "--chunk_size=1", "--steps=3000"]
  workdir = tmp_path / "w"
  cmd = [sys.executable, "-m", "sims.phase_diagram", *args, "--workdir", str(workdir)]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
  chunk_dir = workdir / "chunks"
  # a finished chunk (chunk_*.npz), not the hidden temporary file of one being written, which
  # pathlib's "*.npz" also matches: signalled then, nothing is finished yet (seen once in CI)
  _wait_for(lambda: chunk_dir.exists() and any(chunk_dir.glob("chunk_*.npz")), proc)
  proc.send_signal(signal.SIGTERM)  # main_with_config installs its handler whatever was inherited
  try:
    _, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 143, err
  assert "Traceback" not in err, err
  assert "Stopped by SIGTERM: " in err and "finished sweep chunk(s) are saved in" in err, err
  assert f"rerun the same command to resume from them:\n  python -m sims.phase_diagram " in err
  assert not (workdir / "meta.json").exists()
  saved = {p.name: p.stat().st_mtime_ns for p in chunk_dir.glob("chunk_*.npz")}
  assert 1 <= len(saved) < 8, "the signal must land mid-run"
  resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  assert io.finished_config(str(workdir)) is not None
  # the chunks finished before SIGTERM were reused, not recomputed
  assert {n: (chunk_dir / n).stat().st_mtime_ns for n in saved} == saved


def test_phase_diagram_reports_a_finite_blow_up_and_leaves_it_out_of_the_boundary(tmp_path):
  """The issue's case: `--smoke --learning_rate 1e6` ended with loss ~1e26, status -1, "diverged: 0"
  and still printed a boundary. Now every config is flagged and the boundary says so."""
  out = subprocess.run([sys.executable, "-m", "sims.phase_diagram", "--smoke", "--learning_rate=1e6",
                        "--workdir", str(tmp_path / "w")], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert "4 of 4 configs diverged" in out.stdout and "excluded from the boundary" in out.stdout, (
      out.stdout)
  status = np.load(tmp_path / "w" / "results.npz")["status"]
  assert np.all(status >= 0), status


def test_a_diverged_diffusion_dae_keeps_its_last_finite_weights_and_says_so(capsys):
  """diffusion.train raises TrainingDiverged (the lab's one loop); the sims' diffusion_model keeps the
  weights of the step that diverged (finite, not updated) and warns, instead of losing the run."""
  import jax

  from dae_theory import diffusion, train
  from sims import _common

  x = np.asarray(jax.random.normal(jax.random.key(0), (16, 6)))
  with pytest.raises(train.TrainingDiverged):
    diffusion.train(jax.random.key(1), x, 4, 30, learning_rate=1e6)
  params, den = _common.diffusion_model(jax.random.key(1), x, 4, 30, 1e6)
  assert all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree.leaves(params))
  assert "diverged" in capsys.readouterr().err
  # (its denoiser may still overflow on these weights: such samples are counted as non-finite by
  # diffusion.nearest_cosine, never as copies)
  assert np.asarray(den(x, np.full(16, 0.1))).shape == x.shape
