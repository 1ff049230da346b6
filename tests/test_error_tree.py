"""The error tree stays one tree: its docstring draws every class, the wire table covers every class, and
no raiser spells out a code (or status) the tree has a type for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shipyard import errors
from shipyard.wire import errors as wire_errors

SRC = Path(errors.__file__).resolve().parent
TREE_LINE = re.compile(r"^\s*(?:[│ ]*(?:├──|└──)\s*)?([A-Z]\w+)\s{2,}(\S.*?)\s{2,}(\d{3}|4xx)\b")


def _classes() -> dict[str, type[errors.ShipyardError]]:
    return {name: obj for name, obj in vars(errors).items()
            if isinstance(obj, type) and issubclass(obj, errors.ShipyardError) and obj.__module__ == errors.__name__}


def _drawn() -> dict[str, tuple[str, str, int]]:
    """name -> (parent, code, status) as the module docstring draws them (indentation gives the parent)."""
    out: dict[str, tuple[str, str, int]] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        m = TREE_LINE.match(line)
        if not m:
            continue
        name, code, status = m.group(1), m.group(2).strip(), m.group(3)
        depth = line.index(name)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        stack.append((depth, name))
        out[name] = (parent, code, 0 if status == "4xx" else int(status))
    return out


def test_the_docstring_draws_every_class_with_its_parent_code_and_status():
    drawn, classes = _drawn(), _classes()
    assert set(drawn) == set(classes), "errors.py's docstring must draw exactly the classes it defines"
    for name, cls in classes.items():
        parent, code, status = drawn[name]
        assert parent == ("" if cls is errors.ShipyardError else cls.__bases__[0].__name__), name
        if not code.startswith("(code given per case)"):
            assert (code, status) == (cls.code, cls.http_status), name


def test_the_wire_table_covers_the_whole_tree():
    assert set(wire_errors.TABLE) == set(_classes().values())
    for cls, row in wire_errors.TABLE.items():
        assert row == (cls.code, cls.http_status)
    for column in wire_errors.PROTOCOL_OVERRIDES.values():
        assert set(column) <= set(wire_errors.TABLE)


def test_errors_imports_nothing_of_ours():
    tree = ast.parse((SRC / "errors.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("shipyard"), ast.dump(node)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("shipyard") for a in node.names)


# Codes the tree has a type for: nobody raises them by string. (S3Error's and AuthError's own vocabularies
# stay codes given per case; these three are not among them.)
TYPED_CODES = ("UnknownOperationException", "SerializationException", "NotImplemented", "InvalidAction")
ALLOWED = {SRC / "errors.py", SRC / "wire" / "errors.py"}


def _sources() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if p not in ALLOWED]


@pytest.mark.parametrize("code", TYPED_CODES)
def test_no_code_literal_for_typed_errors(code):
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value == code:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"raise the typed error instead of the code {code!r}: {offenders}"


def test_no_raiser_sets_a_status_by_hand_for_a_typed_code():
    pattern = re.compile(r"code=\"(%s)\"" % "|".join(TYPED_CODES))
    offenders = [str(p.relative_to(SRC)) for p in _sources() if pattern.search(p.read_text())]
    assert not offenders


def _class_names() -> set[str]:
    """Names that only a class-name match would compare against: the tree's classes (except those whose name is
    also an AWS code, such as ModelError) and Python's built-in exceptions."""
    import builtins

    codes = {code for code, _ in wire_errors.TABLE.values()} | {"ValidationError"}  # runtime's modeled code
    tree = {name for name in _classes() if name not in codes}
    return tree | {n for n, o in vars(builtins).items() if isinstance(o, type) and issubclass(o, BaseException)}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def test_no_error_is_matched_by_class_name():
    names = _class_names()
    name_compare = re.compile(r"""__name__\s*(==|!=|in\b|not in\b)\s*[(\[{]?\s*["']\w*(Error|Exception)["']""")
    offenders = []
    for path in _sources():
        text = path.read_text()
        for i, line in enumerate(text.splitlines(), 1):
            if name_compare.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    if names & set(_strings(side)):
                        offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "match errors with isinstance on shipyard.errors types:\n" + "\n".join(offenders)


def test_the_class_name_check_would_catch_the_old_habits():
    names = _class_names()
    old = ast.parse('name in ("S3Error", "ValueError", "ValidationError")').body[0].value
    assert names & set(_strings(old.comparators[0]))
