"""pybench.results.schema: the one writer and reader of result documents (issue 16)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pybench import results
from pybench.results import schema, store

ROOT = Path(__file__).resolve().parents[1]


def _doc(version=schema.API_VERSION):
    return {"context": {"pybench": {"api_version": version, "failures": []}},
            "benchmarks": []}


def test_write_is_strict_json_and_leaves_no_temporary(tmp_path):
    path = schema.write(tmp_path / "sub" / "r.json",
                        {**_doc(), "x": float("nan"), "y": [float("inf"), 1.5]})
    assert json.loads(path.read_text())["y"] == [None, 1.5]  # NaN/inf are null, never bare
    assert "NaN" not in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_read_names_the_problem(tmp_path):
    newer = schema.write(tmp_path / "newer.json", _doc(schema.API_VERSION + 1))
    with pytest.raises(ValueError, match=rf"newer.json: result api_version "
                                         rf"{schema.API_VERSION + 1} is newer than this "
                                         rf"pybench reads \({schema.API_VERSION}\)"):
        results.load(newer)
    foreign = schema.write(tmp_path / "gb.json", {"context": {}, "benchmarks": []})
    with pytest.raises(ValueError, match="not a pybench result file"):
        results.read(foreign)
    broken = tmp_path / "broken.json"
    broken.write_text('{"context": ')
    with pytest.raises(ValueError, match="broken.json: not JSON"):
        results.read(broken)
    assert results.read(_doc())["context"]["pybench"]["api_version"] == schema.API_VERSION


def test_files_written_before_the_package_still_load():
    # The committed history was recorded by the pre-package pybench (api_version 1).
    files = sorted((ROOT / "perf" / "history").rglob("gram-*.json"))
    assert files, "the committed baseline history is missing"
    run = store.load_run(files[0])
    assert run.records and run.document["context"]["pybench"]["api_version"] == 1


def _pybench_imports(path: Path, module: str) -> set[str]:
    """The pybench modules ``path`` (module ``module``) imports, anywhere in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pybench")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("pybench"):
                continue
            for alias in node.names:  # "from pkg import submodule" imports the submodule
                sub = f"{base}.{alias.name}"
                found.add(sub if _module_path(sub) else base)
    return found


def _module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def test_the_package_has_no_import_circle():
    # A package's __init__ importing its own submodules (re-exports, registration) is not
    # counted: Python runs the __init__ first, so those edges cannot form a circle.
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "pybench").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        graph[module] = {m for m in _pybench_imports(path, module)
                         if m != module and not (path.name == "__init__.py"
                                                 and m.startswith(module + "."))}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(n):]
                                                                     + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
