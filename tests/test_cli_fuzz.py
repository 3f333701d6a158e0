"""CLI fuzz (issue 20): every command and flag, given invalid values, must answer with exit
status 2 and one line on stderr naming the flag, value or file -- never a traceback, a
crash or a hang, and before any work starts (the expensive steps are replaced by tripwires).

A table rather than hypothesis: every row is an attack a user or a careless script makes,
and a failure names it. The counts (tried / clear errors / tracebacks / crashes / hangs) are
printed and written to ``build/cli-fuzz-counts.json``. Crashes: a row that kills the process
kills this test; ``test_cli.py`` runs the issue's crash and hang reproducers in a process of
their own."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import traceback
from pathlib import Path

import pytest

from history_helpers import CPP_GBENCH, gram_times, pybench_doc, write
from pybench import cli
from pybench.results import store as history

ROOT = Path(__file__).resolve().parents[1]
HANG_S = 60


class WorkStarted(Exception):
    """Raised by a tripwire: the command started measuring before rejecting its input."""


@pytest.fixture
def tripwires(monkeypatch):
    import pybench.harness
    import pybench.peak
    import pybench.runner

    def trip(*args, **kwargs):
        raise WorkStarted
    for module, name in ((pybench.harness, "run_benchmarks"), (pybench.peak, "measure"),
                         (pybench.runner, "run")):
        monkeypatch.setattr(module, name, trip)


# --- the hostile values --------------------------------------------------------------------

NOT_INTS = ["", " ", "abc", "1.5", "0x10", "nan", "inf", "1e309", "9" * 400, "-1", "0", "1_0_"]
NOT_SECONDS = ["", "abc", "nan", "NaN", "inf", "Infinity", "-inf", "-1", "1e309", "3601",
               "1e9s", "s", "0x1p3"]
NOT_FRACTIONS = ["0", "1", "-0.5", "nan", "inf", "abc", "", "2"]
NOT_EFFECTS = ["-3%", "nan", "inf", "abc", "", "%", "1000", "nan%", "1e400%"]
NOT_REGEXES = ["(", "[", "*", "(?P<", "a{2,1}", "\\"]
NOT_MACHINES = ["../x", "..", ".hidden", "a/b", "", "x" * 81, "a b", "é", "-x"]
NOT_COMMITS = ["../../../tmp", "main", "abc", "g" * 40, "", "0" * 65, "12345/..", "HEAD~1"]


def _files(base: Path) -> dict[str, Path]:
    """Named files and trees: a few valid ones the attacks need besides the attacked value,
    and every kind of bad input."""
    f: dict[str, Path] = {}
    f["out"] = base / "out"
    f["regular"] = base / "regular.txt"
    f["regular"].write_text("x")
    f["dir"] = base / "adir"
    f["dir"].mkdir()
    f["gram"] = Path(write(base / "gram.json", pybench_doc(gram_times(1e-3, 2e-3))))
    f["cpp"] = Path(write(base / "cpp.json", CPP_GBENCH))
    f["store"] = base / "store"
    history.record(pybench_doc(gram_times(1e-3, 2e-3)), f["store"],
                   git={"commit": "1" * 40, "commit_date": None, "dirty": None})
    bad_json = {
        "missing": None, "empty": "", "not-json": "{", "array": "[]", "null": "null",
        "number": "42", "string": '"x"', "object": "{}", "foreign": '{"foo": []}',
        "context-number": '{"context": 42, "benchmarks": []}',
        "benchmarks-number": '{"context": {}, "benchmarks": 5}',
        "entry-number": '{"context": {}, "benchmarks": [5]}',
        "nan": '{"context": {}, "benchmarks": [{"name": "b", "real_time": NaN}]}',
        "inf": '{"context": {}, "benchmarks": [{"name": "b", "real_time": -Infinity}]}',
        "negative": '{"context": {}, "benchmarks": [{"name": "b", "real_time": -5}]}',
        "time-string": '{"context": {}, "benchmarks": [{"name": "b", "real_time": "5"}]}',
        "time-bool": '{"context": {}, "benchmarks": [{"name": "b", "real_time": true}]}',
        "unit": '{"context": {}, "benchmarks": [{"name": "b", "real_time": 5, "time_unit": 5}]}',
        "meta": '{"context": {}, "benchmarks": [{"name": "b", "real_time": 5, "pybench": 5}]}',
        "pybench-string": '{"context": {"pybench": "x"}, "benchmarks": []}',
        "fingerprint": '{"context": {"pybench": {"api_version": 1, "fingerprint": 5}}, '
                       '"benchmarks": []}',
        "history-number": '{"context": {"pybench": {"api_version": 1, "history": 5}}, '
                          '"benchmarks": []}',
        "pytest-stats": '{"machine_info": {}, "benchmarks": [{"name": "t", "stats": 5}]}',
        "pytest-data": '{"machine_info": {}, "benchmarks": [{"name": "t", "stats": '
                       '{"median": 1, "data": [NaN]}}]}',
        "pytest-list": '{"machine_info": [], "benchmarks": []}',
        "deep": "[" * 100000 + "]" * 100000,
        "cnn-broken": '{"context": {"pybench": {"api_version": 1, "suite": "cnn", "cases": 5}}, '
                      '"benchmarks": [{"x": 1}]}',
        "cnn-version": '{"context": {"pybench": {"api_version": true, "suite": "cnn"}}, '
                       '"benchmarks": []}',
        "newer": '{"context": {"pybench": {"api_version": 99, "suite": "cnn"}}, "benchmarks": []}',
        "gram-report": None,  # a valid result of another suite: no cnn report
    }
    for name, text in bad_json.items():
        f[f"json:{name}"] = base / f"{name}.json"
        if text is not None:
            f[f"json:{name}"].write_text(text)
    f["json:gram-report"] = f["gram"]
    f["json:binary"] = base / "binary.json"
    f["json:binary"].write_bytes(b"\xff\xfe\x00\x81garbage")
    f["json:a-directory"] = base / "dir.json"
    f["json:a-directory"].mkdir()

    # history trees: one bad thing each, next to a valid run
    def tree(name: str, rel: str, text: str | None = None, link: Path | None = None) -> None:
        src = base / f"tree-{name}"
        for g in f["store"].rglob("*.json"):
            (src / g.relative_to(f["store"])).parent.mkdir(parents=True, exist_ok=True)
            (src / g.relative_to(f["store"])).write_bytes(g.read_bytes())
        machine = next(p.name for p in f["store"].iterdir())
        target = src / rel.replace("M", machine)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link is not None:
            target.symlink_to(link)
        else:
            target.write_text(text)
        f[f"tree:{name}"] = src
        f[f"bad:{name}"] = target
    tree("not-json", "M/111111111111/a.json", "garbage")
    tree("nan", "M/111111111111/b.json", f["json:nan"].read_text())
    tree("raw-result", "M/111111111111/c.json", f["gram"].read_text())
    tree("bad-commit", "M/zzz/d.json", f["gram"].read_text())
    tree("bad-machine", "a machine/111111111111/e.json", f["gram"].read_text())
    tree("symlink", "M/111111111111/f.json", link=Path("/etc/passwd"))
    tree("loose-file", "stray.json", "{}")
    f["tree:empty"] = base / "tree-empty"
    f["tree:empty"].mkdir()
    f["tree:missing"] = base / "tree-missing"
    # a store holding one bad run, for the readers
    f["store-bad"] = base / "store-bad"
    history.record(pybench_doc(gram_times(1e-3, 2e-3)), f["store-bad"],
                   git={"commit": "1" * 40, "commit_date": None, "dirty": None})
    bad_run = next(f["store-bad"].rglob("gram-*.json")).with_name("gram-bad.json")
    bad_run.write_text(f["json:nan"].read_text())
    f["bad:store-bad"] = bad_run

    toml = {
        "not-toml": "[[[", "alpha-string": 'alpha = "x"', "alpha-nan": "[defaults]\nalpha = nan",
        "alpha-big": "[defaults]\nalpha = 1.5", "alpha-bool": "[defaults]\nalpha = true",
        "effect-list": "[defaults]\nmin_effect = [1]", "effect-text": '[defaults]\nmin_effect = "x"',
        "effect-inf": "[defaults]\nmin_effect = inf", "ignore-text": '[[case]]\nmatch = "a"\nignore = "yes"',
        "match-number": "[[case]]\nmatch = 5", "match-regex": '[[case]]\nmatch = "("',
        "no-match": "[[case]]\nalpha = 0.1", "case-number": "case = 5", "defaults-number": "defaults = 5",
        "unknown-key": "[defaults]\nbeta = 1", "unknown-table": "[other]\na = 1",
        "case-items": "case = [1, 2]",
    }
    for name, text in toml.items():
        f[f"toml:{name}"] = base / f"{name}.toml"
        f[f"toml:{name}"].write_text(text)
    f["toml:binary"] = base / "binary.toml"
    f["toml:binary"].write_bytes(b"\xff\xfe\x00")
    f["toml:missing"] = base / "missing.toml"
    return f


# Output paths nobody can write: the kernel's, a file where a directory must be, a
# directory where a file must be, a name too long for the file system.
def bad_dirs(f):
    return ["/proc/x", "/proc/self/nope/x", str(f["regular"]), str(f["regular"] / "sub"),
            "/dev/null", "a" * 5000, ""]


def bad_files(f):
    return ["/proc/x", str(f["dir"]), str(f["dir"] / "missing" / "x.csv"), "/dev/null",
            str(f["regular"] / "x"), "b" * 5000, ""]


def cases(f) -> list[tuple[str, list[str], str]]:
    """(id, argv, what the error line must name)."""
    out: list[tuple[str, list[str], str]] = []

    def add(argv: list[str], names: str, label: str | None = None) -> None:
        out.append((label or " ".join(a if len(a) < 40 else a[:37] + "..." for a in argv),
                    argv, names))

    json_bad = [k for k in f if k.startswith("json:")]
    # top level
    for argv in ([], ["bogus"], ["--bogus"], ["history"], ["history", "bogus"]):
        add(argv, "pybench")
    for argv in (["run", "--suite", "gram"], ["list"], ["report", str(f["gram"])], ["info"],
                 ["peak"], ["compare", str(f["gram"]), str(f["gram"])],
                 ["dashboard", str(f["store"])], ["history", "list"], ["history", "add", "x"],
                 ["history", "merge", "x"]):
        add(argv + ["--bogus"], "--bogus")
    # run
    run = ["run", "--suite", "gram", "--out", str(f["out"])]
    cnn = ["run", "--suite", "cnn", "--out", str(f["out"])]
    add(["run", "--suite", "bogus"], "bogus")
    add(["run"], "--suite")
    add(run + ["--device", "tpu"], "tpu")
    # 4 threads a core is the most --threads takes (common_args.MAX_THREADS_PER_CORE)
    for v in NOT_INTS + [str(len(os.sched_getaffinity(0)) * 4 + 1), "1000000000"]:
        add(run + ["--threads", v], "--threads")
    for v in NOT_INTS + ["1001"]:
        add(run + ["--repetitions", v], "--repetitions")
    for v in NOT_EFFECTS:
        add(run + ["--target-ci", v], "--target-ci")
    for v in NOT_INTS + ["1001"]:
        add(run + ["--target-ci", "2%", "--max-repetitions", v], "--max-repetitions")
    add(run + ["--max-repetitions", "9"], "--max-repetitions", "run --max-repetitions alone")
    add(cnn + ["--target-ci", "2%"], "--target-ci", "run cnn --target-ci")
    for flag in ("--min-time", "--warmup"):
        for v in NOT_SECONDS:
            add(run + [flag, v], flag)
    for v in bad_dirs(f):
        add(run + ["--out", v], "--out")
        add(run + ["--history", v], "--history")
    for v in NOT_REGEXES:
        add(run + ["--filter", v], "--filter")
    add(run + ["--filter", "^matches-nothing$"], "no benchmark matches")
    for flag in ("--models", "--batch", "--backends", "--size", "--choose"):
        value = {"--models": "lenet5", "--batch": "1", "--backends": "torch", "--size": "32",
                 "--choose": "all"}[flag]
        add(run + [flag, value], flag, f"run gram {flag} (cnn only)")
    for v in ["bogus", "lenet5,,vgg11", "lenet5,lenet5", "", ","]:
        add(cnn + ["--models", v], "--models")
    for v in NOT_INTS + ["1025", "1,1", "1,x", "100000"]:
        add(cnn + ["--batch", v], "--batch")
    for v in ["tensorrt", "torch,torch", "", "torch,"]:
        add(cnn + ["--backends", v], "--backends")
    for v in NOT_INTS + ["1025", "99999"]:
        add(cnn + ["--size", v], "--size")
    add(cnn + ["--choose", "best"], "--choose")
    try:
        import torch
        if not torch.cuda.is_available():
            add(run + ["--device", "cuda"], "--device cuda")
    except ImportError:
        pass
    # list, info, peak
    add(["list", "bogus"], "bogus")
    for v in ["nope", "", str(f["json:missing"]), str(f["dir"]), str(f["json:binary"]),
              str(f["json:nan"])]:
        add(["list", "shapes", "--shapes-file", v], "--shapes-file")
    add(["info", "extra"], "extra")
    for v in NOT_INTS + ["1000000000"]:
        add(["peak", "--threads", v], "--threads")
    # report
    for k in json_bad:
        add(["report", str(f[k])], str(f[k]), f"report {k}")
    add(["report", str(f["dir"])], str(f["dir"]), "report dir-without-results")
    for v in bad_dirs(f):
        add(["report", str(f["gram"]), "--out", v], "--out")
    # history
    for k in json_bad:
        if k in ("json:gram-report", "json:cnn-broken"):
            continue  # valid results, as far as the history goes
        add(["history", "add", str(f[k]), "--history", str(f["out"] / "h")], str(f[k]),
            f"history add {k}")
    add(["history", "add", str(f["cpp"]), str(f["json:nan"]), "--history",
         str(f["out"] / "h")], str(f["json:nan"]), "history add good+bad")
    for v in NOT_MACHINES:
        add(["history", "add", str(f["cpp"]), "--machine", v], "--machine")
        add(["history", "list", "--history", str(f["store"]), "--machine", v], "--machine")
    for v in NOT_COMMITS:
        add(["history", "add", str(f["cpp"]), "--commit", v], "--commit")
    for v in bad_dirs(f):
        add(["history", "add", str(f["cpp"]), "--history", v], "--history")
    for k in [k for k in f if k.startswith("tree:")]:
        name = k.split(":", 1)[1]
        names = str(f.get(f"bad:{name}", f[k]))
        add(["history", "merge", str(f[k]), "--history", str(f["out"] / "m")], names,
            f"history merge {name}")
    add(["history", "merge", str(f["store"]), "--history", "/proc/x"], "/proc/x")
    add(["history", "merge", str(f["store"]), "--history", str(f["regular"])],
        str(f["regular"]))
    for v in [str(f["tree:missing"]), str(f["json:nan"]), str(f["json:not-json"])]:
        add(["history", "list", "--history", v], v)
    add(["history", "list", "--history", str(f["store-bad"])], str(f["bad:store-bad"]),
        "history list store-with-bad-run")
    # compare
    good = str(f["gram"])
    for k in json_bad:
        if k == "json:gram-report":
            continue
        add(["compare", good, str(f[k])], str(f[k]), f"compare NEW {k}")
        add(["compare", str(f[k]), good], str(f[k]), f"compare BASE {k}")
    for v in [str(f["tree:empty"]), str(f["tree:missing"])]:
        add(["compare", good, v], v)
    add(["compare", good, str(f["store-bad"])], str(f["bad:store-bad"]),
        "compare store-with-bad-run")
    add(["compare", good, str(f["cpp"])], "no benchmark in common")
    for v in NOT_FRACTIONS:
        add(["compare", good, good, "--alpha", v], "--alpha")
    for v in NOT_EFFECTS:
        add(["compare", good, good, "--min-effect", v], "--min-effect")
        add(["dashboard", str(f["store"]), "-o", str(f["out"] / "s"), "--min-effect", v],
            "--min-effect")
    for flag, v in (("--normalize", "numpy"), ("--metric", "user"), ("--fail-on", "always")):
        add(["compare", good, good, flag, v], flag)
    for k in [k for k in f if k.startswith("toml:")]:
        add(["compare", good, good, "--config", str(f[k])], str(f[k]), f"compare --config {k}")
    for flag in ("--markdown", "--csv"):
        for v in bad_files(f):
            add(["compare", good, good, flag, v], flag)
    # dashboard
    for v in [str(f["tree:missing"]), str(f["json:not-json"])]:
        add(["dashboard", v, "-o", str(f["out"] / "s")], v)
    add(["dashboard", str(f["store-bad"]), "-o", str(f["out"] / "s")], str(f["bad:store-bad"]),
        "dashboard store-with-bad-run")
    for v in bad_dirs(f):
        add(["dashboard", str(f["store"]), "-o", v], "--output")
    return out


def _alarm(signum, frame):
    raise TimeoutError(f"no answer in {HANG_S} s")


def attack(argv: list[str]) -> tuple[str, int | None, str, str]:
    """Run one command line in-process: (outcome, exit status, stderr, traceback)."""
    err, outp = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outp):
            try:
                rc = cli.main(argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
        return "exit", rc, err.getvalue(), ""
    except TimeoutError:
        return "hang", None, err.getvalue(), ""
    except WorkStarted:
        return "work", None, err.getvalue(), ""
    except BaseException:  # noqa: BLE001 -- the traceback is the finding
        return "traceback", None, err.getvalue(), traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_cli_fuzz(tmp_path, tripwires, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a default output directory lands here, if any
    f = _files(tmp_path)
    rows = cases(f)
    counts = {"tried": 0, "clear errors": 0, "tracebacks": 0, "crashes": 0, "hangs": 0,
              "unclear": 0, "work before validation": 0}
    problems = []
    for label, argv, names in rows:
        outcome, rc, err, tb = attack(argv)
        counts["tried"] += 1
        lines = [line for line in err.strip().splitlines() if "warning:" not in line]
        last = lines[-1] if lines else ""
        if outcome == "traceback":
            counts["tracebacks"] += 1
            problems.append(f"{label}: traceback\n{tb}")
        elif outcome == "hang":
            counts["hangs"] += 1
            problems.append(f"{label}: no answer in {HANG_S} s")
        elif outcome == "work":
            counts["work before validation"] += 1
            problems.append(f"{label}: started measuring before rejecting its input")
        elif (rc == 2 and last.startswith("pybench") and names in last
              and "Traceback" not in err and (len(lines) == 1 or "usage:" in err)):
            # one line of ours, or argparse's usage and its one "error:" line
            counts["clear errors"] += 1
        else:
            counts["unclear"] += 1
            problems.append(f"{label}: rc {rc}, want 2 and a line naming {names!r}; "
                            f"stderr ends {last!r}")
    # nothing was written outside the test's directory by a hostile name
    assert not Path("/tmp/x").exists()
    with capsys.disabled():
        print(f"\nCLI fuzz: {counts}")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "cli-fuzz-counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    assert not problems, f"{len(problems)} of {len(rows)} attacks:\n" + "\n".join(problems)
    assert counts["clear errors"] == counts["tried"] > 400
