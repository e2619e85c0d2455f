"""Static guarantees the bad-input table relies on: nothing in the lab unpickles a file or runs a
shell, so a corrupt or hostile run folder can at worst be refused, never executed."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("dae_theory", "sims", "figures", "benchmarks")
                 for p in (ROOT / d).glob("*.py"))
FORBIDDEN = {
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "import pickle": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", re.M),
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "os.system / os.popen": re.compile(r"\bos\.(system|popen)\("),
    "eval / exec": re.compile(r"(?<![\w.])(eval|exec)\("),
}


def test_the_sources_are_found():
  assert len(SOURCES) >= 30 and any(p.name == "sweep.py" for p in SOURCES)


@pytest.mark.parametrize("rule", sorted(FORBIDDEN))
def test_no_unpickling_and_no_shell(rule):
  hits = [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
          for p in SOURCES for text in [p.read_text()] for m in FORBIDDEN[rule].finditer(text)]
  assert not hits, f"{rule} in {hits}"


def test_the_patterns_catch_what_they_name():
  samples = {"allow_pickle=True": "np.load(f, allow_pickle = True)", "import pickle": "import pickle",
             "shell=True": "subprocess.run(c, shell=True)", "os.system / os.popen": "os.system(c)",
             "eval / exec": "x = eval(s)"}
  for rule, text in samples.items():
    assert FORBIDDEN[rule].search(text), rule
  # a method or a longer name is not the builtin
  assert not FORBIDDEN["eval / exec"].search("sweep.evaluate(r); m.eval(); executor(x)")
