"""The lab's own documentation: docs/theory.md and docs/experiments.md exist, theory.md keeps the
section numbers the code cites (§1–§11 on the topics of the theory, §12 the lab's derivations), and
every section reference in the code, the README and the docs resolves to a heading of that number.

A reference is the doc's path followed by a section sign and a number, e.g. the theory doc's §9 or
§9.2 (written out in :data:`EXAMPLES`; spelled here without the pattern so this file does not cite
itself). In the docs themselves the path may be given without its ``docs/`` folder.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = {"theory": ROOT / "docs" / "theory.md", "experiments": ROOT / "docs" / "experiments.md"}
CODE_DIRS = ("dae_theory", "sims", "figures", "benchmarks", "examples", "tests")

# docs/<name>.md §N or §N.M (the docs may drop "docs/"); a trailing sentence period is not part of it.
REFERENCE = re.compile(r"(?P<folder>docs/)?(?P<doc>theory|experiments)\.md\s*§\s*(?P<num>\d+(?:\.\d+)?)")
HEADING = re.compile(r"^(#{1,6})\s+§(?P<num>\d+(?:\.\d+)?)\.?(?:\s|$)", re.M)

# The topics of theory.md §1–§11 (the numbering the code's docstrings cite), then §12.
THEORY_TOPICS = {
    1: "Model and loss", 2: "Data: (α, β)-separability", 3: "Closed-form local minimizers",
    4: "The cluster-decomposed loss", 5: "ReLU-mask stability and margins",
    6: "Local minima and distance bounds", 7: "Representation metrics: spiky vs balanced",
    8: "Reference denoisers", 9: "Diffusion use of the DAE", 10: "Applications",
    11: "Known gaps in the published material", 12: "Derivations and corrections made by the lab",
}
EXPERIMENT_TOPICS = {1: "Data", 2: "Paper figures", 3: "Theory-check figures", 4: "Applications",
                     5: "Lenses from related papers", 6: "Sweeps", 7: "How to regenerate"}

SECTION = "\u00a7"
EXAMPLES = {  # text -> (doc, number) it must be read as
    f"see docs/theory.md {SECTION}9.": ("theory", "9"),
    f"(docs/theory.md {SECTION}9.2)": ("theory", "9.2"),
    f"docs/experiments.md {SECTION}4, Applications": ("experiments", "4"),
    f"docs/theory.md {SECTION}3\u20136": ("theory", "3"),
}


def heading_numbers(doc: str) -> list[str]:
  """The section numbers that start a heading of ``doc``, in order ("## §9. …" gives "9",
  "### §9.2 …" gives "9.2")."""
  return [m.group("num") for m in HEADING.finditer(DOCS[doc].read_text(encoding="utf-8"))]


def headings(doc: str) -> set[str]:
  return set(heading_numbers(doc))


def sources() -> list[pathlib.Path]:
  files = [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
  return files + [ROOT / "README.md"] + [p for p in DOCS.values() if p.exists()]


def references() -> list[tuple[str, str, str]]:
  """``(file:line, doc, number)`` for every reference in the code, the README and the docs."""
  out = []
  for path in sources():
    text = path.read_text(encoding="utf-8")
    in_docs = path.parent == ROOT / "docs"
    for m in REFERENCE.finditer(text):
      if not (m.group("folder") or in_docs):
        continue  # outside docs/ a reference names the folder
      line = text.count("\n", 0, m.start()) + 1
      out.append((f"{path.relative_to(ROOT)}:{line}", m.group("doc"), m.group("num")))
  return out


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_the_doc_exists_and_has_numbered_sections(doc):
  assert DOCS[doc].is_file(), f"{DOCS[doc].relative_to(ROOT)} is missing"
  assert headings(doc), f"{DOCS[doc].relative_to(ROOT)} has no '## §n.' heading"


@pytest.mark.parametrize("doc, topics", [("theory", THEORY_TOPICS), ("experiments", EXPERIMENT_TOPICS)])
def test_every_numbered_section_is_there_with_its_topic(doc, topics):
  text = DOCS[doc].read_text(encoding="utf-8")
  missing = [f"## {SECTION}{n}. {topic}" for n, topic in topics.items()
             if not re.search(rf"^## {SECTION}{n}\. {re.escape(topic)}", text, re.M)]
  assert not missing, f"{DOCS[doc].relative_to(ROOT)} lacks the headings {missing}"
  top = [int(n) for n in heading_numbers(doc) if "." not in n]
  assert top == list(range(1, max(topics) + 1)), (
      f"{DOCS[doc].relative_to(ROOT)}: top-level sections {top}, expected 1 … {max(topics)}, each "
      "once and in order")


def test_subsections_sit_under_their_section():
  for doc in DOCS:
    nums = headings(doc)
    orphans = sorted(n for n in nums if "." in n and n.split(".")[0] not in nums)
    assert not orphans, f"{DOCS[doc].relative_to(ROOT)}: subsections {orphans} have no parent section"


def test_every_reference_resolves_to_a_heading():
  known = {doc: headings(doc) for doc in DOCS}
  bad = [f"{where}: docs/{doc}.md {SECTION}{num}" for where, doc, num in references()
         if num not in known[doc]]
  assert not bad, ("references to sections that docs/ does not have (a heading must start with "
                   f"'{SECTION}n.' or '{SECTION}n.m'): {bad}")


def test_the_docs_cross_reference_each_other():
  docs_refs = [r for r in references() if r[0].startswith("docs/")]
  assert {doc for _, doc, _ in docs_refs} == set(DOCS), docs_refs


def test_the_patterns_read_what_they_name():
  for text, (doc, num) in EXAMPLES.items():
    m = REFERENCE.search(text)
    assert m and (m.group("doc"), m.group("num")) == (doc, num), text
  assert not REFERENCE.search(f"THEORY {SECTION}4")  # the old form is not a docs/ reference
  found = {m.group("num") for m in HEADING.finditer(
      f"## {SECTION}9. Diffusion\n### {SECTION}9.2 Sampler\n## {SECTION}12. Derivations\n"
      f"text {SECTION}7. not a heading\n")}
  assert found == {"9", "9.2", "12"}
  # a reference to a section that no heading has is caught
  assert "99" not in headings("theory") and "4.9" not in headings("theory")


def test_no_reference_points_outside_the_repository():
  """The code cites the lab's own docs: no docstring or comment refers to the spec files outside the
  repository ("THEORY §n", "EXPERIMENTS \"…\"")."""
  stale = re.compile(r"\bTHEORY\s*§|\bEXPERIMENTS\b")
  hits = []
  for folder in ("dae_theory", "sims", "figures", "benchmarks", "examples", "tests"):
    for path in (ROOT / folder).rglob("*.py"):
      if path.name == "test_docs.py":
        continue
      for i, line in enumerate(path.read_text().splitlines(), 1):
        if stale.search(line):
          hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
  readme = (ROOT / "README.md").read_text().splitlines()
  hits += [f"README.md:{i}: {l.strip()}" for i, l in enumerate(readme, 1) if stale.search(l)]
  assert not hits, "references to files outside the repository:\n" + "\n".join(hits)
