"""Static guarantees. The bad-input table relies on the first: nothing in the lab unpickles a file or
runs a shell, so a corrupt or hostile run folder can at worst be refused, never executed. The second is
an API convention: a public function of ``dae_theory`` takes its PRNG key first, f(key, ...)."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("dae_theory", "sims", "figures", "benchmarks")
                 for p in (ROOT / d).rglob("*.py"))
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


# The public functions of dae_theory whose PRNG key is not its first parameter, by name. Empty: keys go
# first everywhere, f(key, ...); nothing may join this set without a reason written beside it.
KEY_NOT_FIRST_ALLOWED: set[str] = set()


def _key_not_first(tree):
  """(name, parameters) of each public function or public method (module level or in a class)
  with a parameter whose name contains "key" that is not its first (after self/cls)."""
  out = []

  def visit(body, in_class):
    for node in body:
      if isinstance(node, ast.ClassDef):
        visit(node.body, True)
      elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args]
        if in_class and names and names[0] in ("self", "cls"):
          names = names[1:]
        names += [a.arg for a in args.kwonlyargs]
        if any("key" in n.lower() for n in names[1:]):
          out.append((node.name, names))

  visit(tree.body, False)
  return out


def test_prng_keys_come_first():
  bad = [f"{p.relative_to(ROOT)}::{name}({', '.join(names)})"
         for p in sorted((ROOT / "dae_theory").rglob("*.py"))
         for name, names in _key_not_first(ast.parse(p.read_text()))
         if name not in KEY_NOT_FIRST_ALLOWED]
  assert not bad, f"the PRNG key must be the first parameter: {bad}"


def test_the_key_scan_catches_what_it_names():
  src = ("def f(x, key): pass\ndef g(key, x): pass\ndef h(x, *, base_key=None): pass\n"
         "def _p(x, key): pass\nclass C:\n  def m(self, key, x): pass\n  def n(self, x, rng_key): pass\n")
  assert [name for name, _ in _key_not_first(ast.parse(src))] == ["f", "h", "n"]


# Layering: figures/ read run records only (they import nothing from sims/: summaries and constants
# come from each run's summary.json); the library is free of the sims, the CLI library and plotting;
# every command line uses absl.
LAYERS = [  # (folder, top-level modules that no file in it may import, why)
    ("figures", {"sims"}, "figures read run records only"),
    ("dae_theory", {"sims", "absl", "matplotlib"}, "the library has no sims, flags or plotting"),
    ("dae_theory", {"flax", "orbax", "deep"}, "module libraries live in the deep package only"),
    ("figures", {"argparse"}, "command lines use absl"),
    ("sims", {"argparse"}, "command lines use absl"),
    ("benchmarks", {"argparse"}, "command lines use absl"),
]


def _imported_modules(tree, package: str):
  """(line, absolute module name) of every import in ``tree`` (module level, in functions and under
  ``if __name__ == "__main__"`` alike); relative imports are resolved against ``package``
  (``a.b`` for a file in a/b/). Strings passed to importlib are not imports."""
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        parts = package.split(".") if package else []
        base = parts[:len(parts) - node.level + 1]
        name = ".".join(base + ([node.module] if node.module else []))
        if not node.module:  # from . import x, from .. import sims: the names are modules
          out += [(node.lineno, ".".join(base + [a.name])) for a in node.names]
          continue
      else:
        name = node.module
      out.append((node.lineno, name))
  return out


def _forbidden_in(src: str, package: str, banned: set) -> list[str]:
  """``line: module`` of each import in ``src`` whose top-level module is in ``banned``."""
  return [f"{line}: {name}" for line, name in _imported_modules(ast.parse(src), package)
          if name.split(".")[0] in banned]


def _forbidden_imports(path: pathlib.Path, banned: set) -> list[str]:
  package = ".".join(path.relative_to(ROOT).parent.parts)
  return [f"{path.relative_to(ROOT)}:{hit}" for hit in _forbidden_in(path.read_text(), package, banned)]


@pytest.mark.parametrize("folder,banned,why", LAYERS, ids=[f"{f}-{'-'.join(sorted(b))}"
                                                           for f, b, _ in LAYERS])
def test_layering_imports(folder, banned, why):
  files = sorted((ROOT / folder).rglob("*.py"))
  assert files, folder
  bad = [hit for p in files for hit in _forbidden_imports(p, banned)]
  assert not bad, f"{why}: {bad}"


def test_the_import_scan_catches_what_it_names():
  src = ("import sims\nimport sims.transition as t\nfrom sims.phase_diagram import boundary_summary\n"
         "from sims import make_all\ndef f():\n  import argparse\n"
         "if __name__ == '__main__':\n  from absl import app\n"
         "from . import style\nfrom .. import sims\nfrom ..sims import transition\n"
         "import simsx\nimportlib.import_module('sims.transition')\n")
  names = sorted(name for _, name in _imported_modules(ast.parse(src), "figures"))
  assert names == sorted(["sims", "sims.transition", "sims.phase_diagram", "sims", "argparse", "absl",
                          "figures.style", "sims", "sims", "simsx"]), names
  hits = _forbidden_in(src, "figures", {"sims"})
  assert len(hits) == 6 and not any("simsx" in h for h in hits), hits  # simsx is another module


# The library's layers, bottom up, as the README's layout section draws them: a module may import only
# modules of lower layers (so there are no import cycles and the engine sits below the theory it
# serves: sweep.engine knows no construction, analysis is above it).
LAYERS = [
    {"model", "checks", "io", "images", "sweep.plan", "sweep.devices", "sweep.cache"},
    {"loss", "data", "copies", "sweep.store", "sweep.distributed"},
    {"metrics", "masks", "constructions"},
    {"plug"},
    {"train"},
    {"diffusion", "detection", "lenses"},
    {"reference", "steering", "bounds"},
    {"sweep.engine"},
    {"sweep"},
    {"analysis"},
]


def _lab_imports(path: pathlib.Path) -> set[str]:
  tree = ast.parse(path.read_text())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dae_theory"):
      if node.module in ("dae_theory", "dae_theory.sweep"):
        base = "" if node.module == "dae_theory" else "sweep."
        out |= {base + a.name for a in node.names}
      else:
        out.add(node.module.removeprefix("dae_theory."))
    elif isinstance(node, ast.Import):
      out |= {a.name.removeprefix("dae_theory.") for a in node.names if a.name.startswith("dae_theory.")}
  return out


def test_the_library_imports_only_downwards():
  root = pathlib.Path(__file__).resolve().parent.parent / "dae_theory"
  layer = {m: i for i, mods in enumerate(LAYERS) for m in mods}
  modules = {str(p.relative_to(root).with_suffix("")).replace("/", ".").removesuffix(".__init__"): p
             for p in root.rglob("*.py") if p.name != "__init__.py" or p.parent != root}
  assert set(modules) == set(layer), f"modules not placed in LAYERS: {set(modules) ^ set(layer)}"
  bad = [(m, dep) for m, p in modules.items() for dep in _lab_imports(p)
         if dep in layer and dep != m and layer[dep] >= layer[m]]
  assert not bad, f"imports that do not go down a layer (module, imported): {bad}"
