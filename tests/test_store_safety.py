"""The history store against hostile names, garbage trees and crashes (issue 20): machine and
commit names from a fixed character set, every path inside the history root, merge
validating every file before copying any, atomic writes; and the readers (list, compare,
dashboard) naming the bad file in one line instead of a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from history_helpers import CPP_GBENCH, FINGERPRINT_B, gram_times, pybench_doc, write
from pybench import cli
from pybench.results import schema
from pybench.results import store as history

ROOT = Path(__file__).resolve().parents[1]
GIT = {"commit": "1" * 40, "commit_date": "2026-12-01T10:00:00+00:00", "dirty": False}


def tree(root: Path) -> list[str]:
    """Every file under root, relative, hidden ones included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def one_line_error(capsys, *names) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("pybench"), err
    for name in names:
        assert str(name) in last, (name, last)
    return last


@pytest.fixture
def store(tmp_path):
    """A valid history with two machines, and a source file for `history add`."""
    h = tmp_path / "h"
    history.record(pybench_doc(gram_times(1e-3, 2e-3)), h, git=GIT)
    history.record(pybench_doc(gram_times(1e-3, 2e-3), fingerprint=FINGERPRINT_B), h, git=GIT)
    return h


# --- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [
    ("--machine", "../../../tmp/x"),
    ("--machine", ".."),
    ("--machine", ".hidden"),
    ("--machine", "a/b"),
    ("--machine", ""),
    ("--machine", "x" * 81),
    ("--commit", "../../../tmp"),
    ("--commit", "main"),
    ("--commit", "abc"),  # too short to be a commit
    ("--commit", "1234567/../.."),
    ("--commit", "0" * 65),
])
def test_add_refuses_names_that_are_not_names(tmp_path, capsys, flag, value):
    f = write(tmp_path / "in" / "gram_bench.json", CPP_GBENCH)
    h = tmp_path / "sandbox" / "h"
    with pytest.raises(SystemExit) as exc:
        cli.main(["history", "add", f, "--history", str(h), flag, value])
    assert exc.value.code == 2
    one_line_error(capsys, flag)
    # nothing written anywhere: not in the history, not beside it
    assert not (tmp_path / "sandbox").exists() and not Path("/tmp/x").exists()


def test_names_in_the_api_are_checked_too(tmp_path):
    doc = pybench_doc(gram_times(1e-3, 2e-3))
    with pytest.raises(ValueError, match="bad machine id"):
        history.record(doc, tmp_path / "h", machine="../x", git=GIT)
    with pytest.raises(ValueError, match="bad commit"):
        history.record(doc, tmp_path / "h", git={**GIT, "commit": "../../x"})
    assert not (tmp_path / "h").exists()
    # hex in any case is a commit (stored lower-case), and "unknown" outside a work tree
    path = history.record(doc, tmp_path / "h", git={**GIT, "commit": "ABCDEF0123"})
    assert path.parent.name == "abcdef0123"
    path = history.record(doc, tmp_path / "h", git={**GIT, "commit": "unknown"})
    assert path.parent.name == "unknown"


def test_a_symlink_in_the_history_cannot_lead_outside(tmp_path):
    h, outside = tmp_path / "h", tmp_path / "outside"
    outside.mkdir()
    h.mkdir()
    (h / "evil").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the history directory"):
        history.record(pybench_doc(gram_times(1e-3, 2e-3)), h, machine="evil", git=GIT)
    assert tree(outside) == []


def test_add_validates_every_file_before_storing_any(tmp_path, capsys):
    good = write(tmp_path / "good.json", CPP_GBENCH)
    bad = write(tmp_path / "bad.json", {**CPP_GBENCH, "benchmarks": [{"name": "x",
                                                                      "real_time": "fast"}]})
    h = tmp_path / "h"
    assert cli.main(["history", "add", good, bad, "--history", str(h), "--commit",
                     "abcdef1"]) == 2
    one_line_error(capsys, bad, "real_time")
    assert not h.exists() or tree(h) == []


# --- merge ---------------------------------------------------------------------------------

def garbage(tmp_path) -> dict[str, Path]:
    """One source tree per way of being garbage, each holding a valid run besides."""
    valid = tmp_path / "valid"
    history.record(pybench_doc(gram_times(1e-3, 2e-3)), valid, git=GIT)
    run = next(valid.rglob("gram-*.json"))
    rel = run.relative_to(valid)
    machine, commit = rel.parts[0], rel.parts[1]
    out = {}

    def tree_with(name: str, path: str, content: str | bytes | None = None,
                  link: Path | None = None) -> None:
        src = tmp_path / name
        for f in valid.rglob("*.json"):
            dest = src / f.relative_to(valid)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.read_bytes())
        target = src / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if link is not None:
            target.symlink_to(link)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        out[name] = target

    doc = json.loads(run.read_text())
    doc["benchmarks"][0]["real_time"] = float("nan")
    tree_with("not-json", f"{machine}/{commit}/a.json", "xx")
    tree_with("binary", f"{machine}/{commit}/b.json", b"\xff\xfe\x00garbage")
    tree_with("array", f"{machine}/{commit}/c.json", "[]")
    tree_with("wrong-types", f"{machine}/{commit}/d.json", '{"context": 5, "benchmarks": 3}')
    tree_with("nan-time", f"{machine}/{commit}/e.json", json.dumps(doc))  # NaN, as Python writes
    tree_with("raw-result", f"{machine}/{commit}/f.json", json.dumps(pybench_doc(
        gram_times(1e-3, 2e-3))))  # no history entry: not filed by `history add`
    tree_with("misfiled", f"other-machine/{commit}/g.json", run.read_text())
    tree_with("bad-commit-dir", f"{machine}/not-hex/h.json", run.read_text())
    tree_with("too-deep", f"{machine}/{commit}/x/i.json", run.read_text())
    tree_with("hidden-name", f"{machine}/{commit}/.j.json", run.read_text())
    tree_with("bad-machine-file", f"{machine}/machine.json", '{"machine": "someone-else"}')
    tree_with("symlink", f"{machine}/{commit}/k.json", link=run)
    return out


def test_merge_of_garbage_fails_naming_the_file_and_copies_nothing(tmp_path, capsys, store):
    before = {f: (store / f).read_bytes() for f in tree(store)}
    cases = garbage(tmp_path)
    for name, bad in cases.items():
        src = bad.parents[2] if name != "bad-machine-file" else bad.parents[1]
        if name == "too-deep":
            src = bad.parents[3]
        assert cli.main(["history", "merge", str(src), "--history", str(store)]) == 2, name
        line = one_line_error(capsys)
        assert str(bad) in line or (name == "symlink" and str(bad) in line), (name, line)
        # the valid run beside the bad file was not copied either
        assert {f: (store / f).read_bytes() for f in tree(store)} == before, name
    # and the store still reads
    assert cli.main(["history", "list", "--history", str(store)]) == 0
    assert "2 run(s)" in capsys.readouterr().out


@pytest.mark.parametrize("make", [
    pytest.param(lambda p: None, id="missing"),
    pytest.param(lambda p: p.mkdir(), id="empty"),
    pytest.param(lambda p: (p.mkdir(), (p / "notes.txt").write_text("hi")), id="no-runs"),
    pytest.param(lambda p: p.write_text("{}"), id="a-file"),
])
def test_merge_of_nothing_is_an_error(tmp_path, capsys, store, make):
    src = tmp_path / "src"
    make(src)
    assert cli.main(["history", "merge", str(src), "--history", str(store)]) == 2
    one_line_error(capsys, src)


def test_merge_validates_all_sources_before_copying(tmp_path, capsys, store):
    good = tmp_path / "good"
    history.record(pybench_doc(gram_times(1e-4, 3e-4), fingerprint=FINGERPRINT_B), good,
                   git={**GIT, "commit": "2" * 40})
    bad = garbage(tmp_path)["not-json"].parents[2]
    before = tree(store)
    assert cli.main(["history", "merge", str(good), str(bad), "--history", str(store)]) == 2
    assert tree(store) == before
    # a clash with different content, in the second source, stops the first one too
    clash = tmp_path / "clash"
    victim = next(store.rglob("gram-*.json"))
    (clash / victim.relative_to(store)).parent.mkdir(parents=True)
    (clash / victim.relative_to(store)).write_text(victim.read_text().replace("AMD", "amd"))
    assert cli.main(["history", "merge", str(good), str(clash), "--history", str(store)]) == 2
    one_line_error(capsys, "exists with different content")
    assert tree(store) == before
    assert cli.main(["history", "merge", str(good), "--history", str(store)]) == 0
    assert len(tree(store)) == len(before) + 1


# --- atomic writes ---------------------------------------------------------------------------

def test_a_failed_write_leaves_the_old_file_or_none(tmp_path, monkeypatch):
    path = schema.write(tmp_path / "doc.json", {"a": 1})

    def crash(*args):
        raise KeyboardInterrupt  # what Ctrl-C between write and rename looks like
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        schema.write(path, {"a": 2})
    with pytest.raises(KeyboardInterrupt):
        schema.write(tmp_path / "new.json", {"b": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert tree(tmp_path) == ["doc.json"]  # no temporary left, no half file


def test_record_and_merge_write_atomically(tmp_path, monkeypatch, store):
    src = tmp_path / "src"
    for commit in ("3" * 40, "4" * 40):
        history.record(pybench_doc(gram_times(1e-4, 3e-4)), src, git={**GIT, "commit": commit})
    calls = []
    real = os.replace

    def second_fails(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)
    monkeypatch.setattr(os, "replace", second_fails)
    before = len(history.load(store))
    with pytest.raises(OSError, match="No space left"):
        history.merge([src], store)
    # the first copy is whole, the second absent: never a half-written run
    for f in tree(store):
        assert not f.endswith(".tmp")
        json.loads((store / f).read_text())
    assert len(history.load(store)) == before + 1


def test_a_crash_mid_write_leaves_only_a_temporary_the_store_ignores(tmp_path, store):
    """A process killed between writing and renaming (os._exit: no cleanup runs)."""
    code = (
        "import os, sys, json\n"
        "from pybench.results import store\n"
        "sys.path.insert(0, 'tests')\n"
        "from history_helpers import pybench_doc, gram_times\n"
        "os.replace = lambda *a: os._exit(9)\n"
        f"store.record(pybench_doc(gram_times(1e-3, 2e-3)), {str(store)!r}, "
        f"git={{'commit': '5' * 40}})\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 9
    leftovers = [f for f in tree(store) if f.endswith(".tmp")]
    assert leftovers and all(Path(f).name.startswith(".") for f in leftovers)
    assert len(history.load(store)) == 2  # the temporary is not a run
    assert not any(f.endswith(".json") and "5555" in f for f in tree(store))


# --- readers name the bad file -------------------------------------------------------------

BAD_DOCS = {
    "nan": '{"context": {}, "benchmarks": [{"name": "b", "real_time": NaN, "time_unit": "ns"}]}',
    "inf": '{"context": {}, "benchmarks": [{"name": "b", "real_time": Infinity}]}',
    "negative": '{"context": {}, "benchmarks": [{"name": "b", "real_time": -1}]}',
    "string": '{"context": {}, "benchmarks": [{"name": "b", "real_time": "1"}]}',
    "unit": '{"context": {}, "benchmarks": [{"name": "b", "real_time": 1, "time_unit": "h"}]}',
    "entry": '{"context": {}, "benchmarks": [5]}',
    "context": '{"context": [], "benchmarks": []}',
    "pybench": '{"context": {"pybench": {"api_version": 1, "history": 5}}, "benchmarks": []}',
    "index": '{"context": {}, "benchmarks": [{"name": "b", "real_time": 1, '
             '"repetition_index": "x"}]}',
    "date": '{"context": {"pybench": {"api_version": 1, "history": {"commit_date": 5}}}, '
            '"benchmarks": []}',
}


@pytest.mark.parametrize("kind", sorted(BAD_DOCS))
def test_compare_names_the_bad_file(tmp_path, capsys, kind):
    good = write(tmp_path / "good.json", pybench_doc(gram_times(1e-3, 2e-3)))
    bad = tmp_path / f"{kind}.json"
    bad.write_text(BAD_DOCS[kind])
    assert cli.main(["compare", good, str(bad)]) == 2
    one_line_error(capsys, bad)


def test_compare_refuses_nan_real_time(tmp_path, capsys):
    """The issue's reproducer: a real_time of NaN used to be dropped without a word."""
    doc = pybench_doc(gram_times(1e-3, 2e-3))
    doc["benchmarks"][0]["real_time"] = float("nan")
    bad = tmp_path / "nan.json"
    bad.write_text(json.dumps(doc))  # Python writes NaN, as some tools do
    good = write(tmp_path / "good.json", pybench_doc(gram_times(1e-3, 2e-3)))
    assert cli.main(["compare", good, str(bad)]) == 2
    line = one_line_error(capsys, bad, "real_time is nan")
    assert "gram/grid:c64_hw784/pybench/cpu" in line


def test_a_bad_file_in_the_store_is_named_by_list_and_dashboard(tmp_path, capsys, store):
    machine = next(p for p in store.iterdir() if p.is_dir())
    bad = machine / ("1" * 12) / "gram-bad.json"
    bad.write_text('{"context": 5, "benchmarks": 3}')
    assert cli.main(["history", "list", "--history", str(store)]) == 2
    one_line_error(capsys, bad)
    assert cli.main(["dashboard", str(store), "-o", str(tmp_path / "site")]) == 2
    one_line_error(capsys, bad)
    assert cli.main(["compare", str(store), str(store)]) == 2
    one_line_error(capsys, bad)
