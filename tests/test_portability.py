"""The developers' portability check (benchmarks/portability.py): it parses pytest's JUnit report and
flags every test whose outcome differs between OpenBLAS kernels or that fails under one of them."""

from benchmarks import portability

_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_bad" time="0.1"><failure message="boom"/></testcase>
<testcase classname="tests.test_b" name="test_skip" time="0.0"><skipped message="no"/></testcase>
<testcase classname="tests.test_b" name="test_err" time="0.0"><error message="fixture"/></testcase>
</testsuite></testsuites>
"""


def test_outcomes_are_read_from_the_junit_report(tmp_path):
  path = tmp_path / "junit.xml"
  path.write_text(_JUNIT)
  assert portability.outcomes(str(path)) == {
      "tests.test_a::test_ok": "passed", "tests.test_a::test_bad": "failed",
      "tests.test_b::test_skip": "skipped", "tests.test_b::test_err": "error"}
  assert portability.durations(str(path))["tests.test_a::test_ok"] == 0.1


def test_compare_flags_differences_and_failures_only():
  per_kernel = {
      "Haswell": {"t::same": "passed", "t::flips": "passed", "t::fails": "failed", "t::skip": "skipped"},
      "SkylakeX": {"t::same": "passed", "t::flips": "failed", "t::fails": "failed", "t::skip": "skipped"},
  }
  flagged = dict(portability.compare(per_kernel))
  assert set(flagged) == {"t::flips", "t::fails"}
  assert flagged["t::flips"] == {"Haswell": "passed", "SkylakeX": "failed"}
  # A test missing under one kernel (e.g. a collection error) is a difference too.
  assert dict(portability.compare({"A": {"t::x": "passed"}, "B": {}}))["t::x"] == {
      "A": "passed", "B": "absent"}


def test_default_kernels_run_on_any_x86_64_cpu():
  kernels = portability.default_kernels()
  assert kernels[:3] == ["Prescott", "Sandybridge", "Haswell"]
  assert ("SkylakeX" in kernels) == portability.cpu_has_avx512()
