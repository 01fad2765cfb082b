"""docs/design.md stays true to the code: every function and test it names exists, every
safety rule the code cites is defined there, the layers table matches the imports, and no
comment sends a reader to a document outside the repository."""

from __future__ import annotations

import ast
import functools
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "design.md"

# `hakari/engine/detect.py: decide`, `hakari/engine/loop.py: Engine._brake`
CODE_REF = re.compile(r"`(hakari/[\w/]+\.py):\s+([A-Za-z_][\w.]*)`")
# `tests/unit/test_x.py::test_name` (a parametrized name without its brackets)
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
# Any other path the doc quotes or links to.
PATH_REF = re.compile(r"`((?:hakari|tests|lab|bench)/[\w/]+\.py)`|\]\(([\w./-]+\.md)\)")
RULE_HEADING = re.compile(r"^### (\d+)\. \S", re.M)
# "safety rule 3", "rule 5", "rules 1 and 2", "Safety rules 1, 2 or 4"
RULE_CITATION = re.compile(r"\brules?\s+(\d+(?:\s*(?:,|and|or)\s*\d+)*)", re.I)
# Documents that are not in the repository, and the issue numbers of its history.
OUTSIDE_DOC = re.compile(r"DESIGN\.md|INTERFACES(?:\.md)?\b|LAB-NOTES|\.\./shared/|"
                         r"/work/shared|\b[Ii]ssue #?\d+")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@functools.lru_cache(maxsize=None)
def tree(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)


def defines(body, dotted: str) -> bool:
    """Whether ``dotted`` (``name`` or ``Class.method``…) is a def or class in ``body``."""
    head, _, rest = dotted.partition(".")
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name == head:
            if not rest:
                return True
            if isinstance(node, ast.ClassDef) and defines(node.body, rest):
                return True
    return False


def missing_refs(pattern: re.Pattern, sep: str, what: str, exists) -> tuple[int, list[str]]:
    """(how many references ``pattern`` finds in the doc, those whose file is missing or
    whose ``exists(path, name)`` is false, each with its line)."""
    text = doc_text()
    refs = list(pattern.finditer(text))
    problems = []
    for m in refs:
        path, name = m.groups()
        where = f"docs/design.md:{line_of(text, m.start())}: `{path}{sep}{name}`"
        if not (ROOT / path).is_file():
            problems.append(f"{where}: no file {path}")
        elif not exists(path, name):
            problems.append(f"{where}: no {what} {name} in {path}")
    return len(refs), problems


def test_functions_named_in_the_doc_exist():
    count, problems = missing_refs(CODE_REF, ": ", "function or class",
                                   lambda path, name: defines(tree(path).body, name))
    assert count > 50, "the doc should name the functions behind its claims"
    assert not problems, "\n".join(problems)


def test_tests_named_in_the_doc_exist():
    def is_test(path, name):
        return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
                   for n in ast.walk(tree(path)))

    count, problems = missing_refs(TEST_REF, "::", "test function", is_test)
    assert count > 30, "each safety rule should name the tests that prove it"
    assert not problems, "\n".join(problems)


def test_paths_quoted_or_linked_in_the_doc_exist():
    text = doc_text()
    problems = []
    for m in PATH_REF.finditer(text):
        quoted, linked = m.groups()
        target = ROOT / quoted if quoted else DOC.parent / linked
        if not target.is_file():
            problems.append(f"docs/design.md:{line_of(text, m.start())}: "
                            f"{quoted or linked} does not exist")
    assert not problems, "\n".join(problems)


def rule_sections(text: str) -> dict[int, str]:
    start = text.index("\n## Safety rules\n")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    heads = list(RULE_HEADING.finditer(section))
    return {int(h.group(1)): section[h.start():(heads[i + 1].start() if i + 1 < len(heads)
                                                else len(section))]
            for i, h in enumerate(heads)}


def test_rules_are_numbered_from_one_and_each_names_code_and_tests():
    rules = rule_sections(doc_text())
    assert sorted(rules) == list(range(1, len(rules) + 1)), \
        f"safety rules must be numbered 1..N without gaps, found {sorted(rules)}"
    for number, body in rules.items():
        assert CODE_REF.search(body), f"safety rule {number}: names no enforcing function"
        assert TEST_REF.search(body), f"safety rule {number}: names no test that proves it"


def citing_files():
    for top in ("hakari", "lab", "bench", "tests"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != pathlib.Path(__file__).resolve():
                yield path
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield ROOT / "README.md"


def test_every_rule_cited_is_defined_in_the_doc():
    defined = set(rule_sections(doc_text()))
    problems = []
    for path in citing_files():
        text = path.read_text(encoding="utf-8")
        for m in RULE_CITATION.finditer(text):
            for number in map(int, re.findall(r"\d+", m.group(1))):
                if number not in defined:
                    problems.append(f"{path.relative_to(ROOT)}:{line_of(text, m.start())}: "
                                    f"cites rule {number}, which docs/design.md does not "
                                    f"define (it has {min(defined)}-{max(defined)})")
    assert not problems, "\n".join(problems)


def test_no_citation_of_documents_outside_the_repository():
    places = [p for top in ("hakari", "lab", "bench") for p in sorted((ROOT / top).rglob("*.py"))]
    places += sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    problems = []
    for path in places:
        text = path.read_text(encoding="utf-8")
        for m in OUTSIDE_DOC.finditer(text):
            problems.append(f"{path.relative_to(ROOT)}:{line_of(text, m.start())}: cites "
                            f"{m.group(0)!r}; point at docs/design.md (or state the fact)")
    assert not problems, "\n".join(problems)


# -- the layers table --------------------------------------------------------------------

def layer_rows(text: str) -> list[list[str]]:
    """The first cell of each row of the Layers table, as package/module names: row i
    holds e.g. ["cluster"] or ["model", "errors", …]."""
    start = text.index("\n## Layers\n")
    end = text.index("\n## ", start + 1)
    rows = []
    for line in text[start:end].splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        names = [n.rstrip("/").removesuffix(".py") for n in re.findall(r"`([^`]+)`", first)]
        rows.append([n for n in names if n != "templates"])
    return rows


def row_of(module: str, rows: list[list[str]]) -> int | None:
    """Row index of a dotted hakari module (``hakari.engine.loop`` -> the engine row)."""
    parts = module.split(".")[1:] or ["__init__"]
    for i, names in enumerate(rows):
        if parts[0] in names:
            return i
    return None


def imported_modules(path: pathlib.Path) -> set[str]:
    """hakari modules ``path`` imports, lazily or not; ``from hakari import x`` counts as
    hakari.x when x is a module, else as the package."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "hakari"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "hakari":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / (sub.replace(".", "/") + ".py")).is_file() or \
                    (ROOT / sub.replace(".", "/")).is_dir()
                out.add(sub if is_module else node.module)
    return out


def test_imports_follow_the_layers_table():
    rows = layer_rows(doc_text())
    assert len(rows) >= 10, f"Layers table not found or cut short: {rows}"
    problems = []
    for path in sorted((ROOT / "hakari").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 2
                          else rel.parts)
        mine = row_of(module, rows)
        if mine is None:
            problems.append(f"{path.relative_to(ROOT)}: in no row of the Layers table")
            continue
        for target in sorted(imported_modules(path)):
            theirs = row_of(target, rows)
            if theirs is None:
                problems.append(f"{path.relative_to(ROOT)}: imports {target}, which is in "
                                "no row of the Layers table")
            elif theirs > mine:
                problems.append(f"{path.relative_to(ROOT)} (row {rows[mine]}) imports "
                                f"{target} (row {rows[theirs]}), a later row of the Layers "
                                "table in docs/design.md")
    assert not problems, "\n".join(problems)
