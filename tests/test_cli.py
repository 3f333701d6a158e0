import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybench import cli

ROOT = Path(__file__).resolve().parents[1]


def _pybench(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "pybench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def _strict_load(path):
    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=no_constants)


def test_info_prints_fingerprint():
    proc = _pybench("info")
    assert proc.returncode == 0, proc.stderr
    for field in ("cpu_model", "cpu_isa_detected", "cpu_isa_in_use", "threads", "torch", "cuda",
                  "cudnn", "onednn", "extension_cuda_kernels", "gpu"):
        assert any(line.split()[0] == field for line in proc.stdout.splitlines()), field
    info = json.loads(_pybench("info", "--json").stdout)
    assert info["cpu_isa_in_use"] in ("avx512", "avx2", "scalar")
    assert isinstance(info["gpu"], str) and info["threads"] >= 1


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--suite", "no_such_suite"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["run", "--suite", "style", "--repetitions", "0"])
    with pytest.raises(SystemExit):
        cli.main([])


def test_run_style_quick_end_to_end(tmp_path):
    proc = _pybench("run", "--suite", "style", "--quick", "--threads", "2", "--min-time", "0.001s",
                    "--repetitions", "2", "--warmup", "0", "--output", str(tmp_path))
    files = list(tmp_path.glob("style-*.json"))
    assert len(files) == 1, proc.stdout + proc.stderr
    doc = _strict_load(files[0])
    extra = doc["context"]["pybench"]
    assert extra["api_version"] == 1 and extra["suite"] == "style" and extra["threads"] == 2
    assert extra["fingerprint"]["threads"] == 2
    timed = {(b["pybench"]["case"], b["pybench"]["implementation"])
             for b in doc["benchmarks"] if b["run_type"] == "iteration"}
    failed = {(f["case"], f["implementation"]) for f in extra["failures"]}
    assert len(timed | failed) == 6  # the first 3 cases x {pybench, torch}
    assert not any(impl == "torch" for _, impl in failed), extra["failures"]
    assert proc.returncode == (1 if failed else 0), proc.stderr
    assert "vs torch" in proc.stdout and "vgg19:conv1_1/N:1/C:64/HW:400" in proc.stdout
    # One output style: Google Benchmark's own rows and header only with --verbose, a
    # progress bar with an ETA on stderr.
    assert "manual_time" not in proc.stdout + proc.stderr and "Run on (" not in proc.stderr
    assert "ETA" in proc.stderr and "18/18" in proc.stderr  # 6 x (validation + 2 repetitions)


def test_run_verbose_shows_google_benchmarks_rows(tmp_path):
    proc = _pybench("run", "--suite", "style", "--quick", "--threads", "2", "--min-time", "0.001s",
                    "--repetitions", "1", "--warmup", "0", "--filter", "conv1_1", "--verbose",
                    "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "manual_time" in proc.stdout and "vs torch" in proc.stdout


def test_run_filter_matching_nothing(tmp_path):
    proc = _pybench("run", "--suite", "gram", "--filter", "^nothing$", "--output", str(tmp_path))
    assert proc.returncode == 2 and "no benchmark matches" in proc.stderr
    assert not list(tmp_path.iterdir())


# --- issue 20: bad input fails first, in one line, and never costs a measurement ---------

@pytest.mark.parametrize("argv, message", [
    (["--min-time", "nan"], "argument --min-time: expected seconds in [0, 3600], got nan"),
    (["--min-time", "inf"], "argument --min-time: expected seconds in [0, 3600], got inf"),
    (["--threads", "1000000000"], "argument --threads: expected a thread count in [1, "),
])
def test_run_hang_and_crash_reproducers_fail_fast(tmp_path, argv, message):
    """In a process of its own: `--min-time inf` ran forever, `--threads 1000000000` died
    in libgomp's allocator."""
    proc = _pybench("run", "--suite", "gram", "--out", str(tmp_path), *argv, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())


class WorkStarted(Exception):
    pass


@pytest.fixture
def no_work(monkeypatch):
    """Tripwires on the steps that measure: a test using this must fail before them."""
    import pybench.harness
    import pybench.peak
    import pybench.runner

    def trip(*args, **kwargs):
        raise WorkStarted
    for module, name in ((pybench.harness, "run_benchmarks"), (pybench.peak, "measure"),
                         (pybench.runner, "run")):
        monkeypatch.setattr(module, name, trip)


def _one_line(capsys, *names):
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "warning:" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


@pytest.mark.parametrize("suite", ["gram", "cnn"])
def test_run_output_checked_before_the_run(tmp_path, capsys, no_work, suite):
    existing = tmp_path / "a-file"
    existing.write_text("x")
    for out in ("/proc/x", str(existing), str(existing / "sub")):
        assert cli.main(["run", "--suite", suite, "--out", out]) == 2
        _one_line(capsys, "--out", out)
        assert cli.main(["run", "--suite", suite, "--out", str(tmp_path / "r"),
                         "--history", out]) == 2
        _one_line(capsys, "--history", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing created


def test_run_warns_past_the_core_count(capsys, no_work, tmp_path):
    from pybench.commands.common_args import MAX_THREADS_PER_CORE, cores
    with pytest.raises(WorkStarted):  # accepted: the run starts
        cli.main(["run", "--suite", "gram", "--out", str(tmp_path),
                  "--threads", str(cores() * MAX_THREADS_PER_CORE)])
    assert f"is more than the {cores()} cores available" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--suite", "gram", "--threads", str(cores() * MAX_THREADS_PER_CORE + 1)])


def test_run_results_are_written_before_a_later_step_fails(tmp_path, capsys, monkeypatch):
    """The history fails after the measurements: they are on disk, and the error says so."""
    import pybench.harness
    import pybench.peak
    from pybench.commands import run as run_command
    from pybench.results import schema, store

    def fake_run(specs, *, output, context, **kwargs):
        doc = {"context": {"pybench": {"api_version": 1, **context}}, "benchmarks": []}
        return pybench.harness.Report([], [], doc, schema.write(output, doc), list(specs))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pybench.harness, "run_benchmarks", fake_run)
    monkeypatch.setattr(pybench.peak, "measure", lambda *a, **k: {})
    monkeypatch.setattr(run_command, "machine_info", lambda: {})
    monkeypatch.setattr(store, "record", full_disk)
    rc = cli.main(["run", "--suite", "gram", "--out", str(tmp_path / "r"), "--filter",
                   "c64_hw784", "--history", str(tmp_path / "h")])
    assert rc == 2
    _one_line(capsys, "--history", "No space left", "the results file above is complete")
    assert len(list((tmp_path / "r").glob("gram-*.json"))) == 1


def test_kernel_suite_keeps_the_better_of_two_peaks(tmp_path, monkeypatch):
    """The roofline is measured before and after the run and the larger figure kept: one
    measurement in a busy phase made "% peak" exceed 100."""
    import pybench.harness
    import pybench.peak
    from pybench.commands import run as run_command
    from pybench.results import schema

    def fake_run(specs, *, output, context, **kwargs):
        doc = {"context": {"pybench": {"api_version": 1, **context}}, "benchmarks": []}
        return pybench.harness.Report([], [], doc, schema.write(output, doc), list(specs))

    peaks = iter([{"fma_flops": 250e9, "fma_flops_1_thread": 250e9},
                  {"fma_flops": 500e9, "fma_flops_1_thread": 240e9}])
    monkeypatch.setattr(pybench.harness, "run_benchmarks", fake_run)
    monkeypatch.setattr(pybench.peak, "measure", lambda *a, **k: next(peaks))
    monkeypatch.setattr(run_command, "machine_info", lambda: {})
    assert cli.main(["run", "--suite", "gram", "--out", str(tmp_path), "--filter", "c64_hw784"]) == 0
    (path,) = tmp_path.glob("gram-*.json")
    extra = json.loads(path.read_text())["context"]["pybench"]
    assert extra["peak"] == {"fma_flops": 500e9, "fma_flops_1_thread": 250e9}
    assert [p["fma_flops"] for p in extra["peak_runs"]] == [250e9, 500e9]
    from pybench import allocator
    assert extra["allocator"] == allocator.apply("keep")  # the kernel suites' default


def test_measurements_survive_an_unwritable_output(tmp_path):
    """The output directory vanished during the run: the document goes to a temporary
    directory, and the error says where."""
    from pybench.harness import measure
    with pytest.raises(OSError, match="the results were saved to") as exc:
        measure._write("/proc/x/gram.json", {"context": {}, "benchmarks": [1]})
    rescued = Path(str(exc.value).rsplit(" ", 1)[-1])
    assert json.loads(rescued.read_text())["benchmarks"] == [1]
    rescued.unlink()
    rescued.parent.rmdir()


@pytest.mark.parametrize("text, problem", [
    ("[]", "(a JSON array, not an object)"), ("null", "(a JSON null, not an object)"),
    ("42", "(a JSON number, not an object)"), ('"x"', "(a JSON string, not an object)"),
    ('{"context": 42}', "no context.pybench.api_version"),
    ('{"context": {"pybench": []}}', "no context.pybench.api_version"),
    ('{"context": {"pybench": {"api_version": true}}}', "bad result api_version True"),
])
def test_report_of_json_that_is_not_a_result(tmp_path, capsys, text, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert cli.main(["report", str(bad)]) == 2
    line = _one_line(capsys, bad, problem)
    assert line.count(str(bad)) == 1


def test_report_and_compare_outputs_checked(tmp_path, capsys):
    from history_helpers import gram_times, pybench_doc, write
    f = write(tmp_path / "gram.json", pybench_doc(gram_times(1e-3, 2e-3)))
    for out in ("/proc/x", str(tmp_path / "gram.json")):
        assert cli.main(["report", f, "--out", out]) == 2
        _one_line(capsys, "--out", out)
    for flag in ("--csv", "--markdown"):
        for out in ("/proc/x", str(tmp_path), str(tmp_path / "no" / "dir.csv")):
            assert cli.main(["compare", f, f, flag, out]) == 2
            _one_line(capsys, flag, out)
    md, csv = tmp_path / "summary.md", tmp_path / "table.csv"
    md.write_text("# earlier step\n")
    assert cli.main(["compare", f, f, "--markdown", str(md), "--csv", str(csv)]) == 0
    assert md.read_text().startswith("# earlier step\n## pybench compare")  # appended
    assert csv.read_text().startswith("benchmark,")


# --- issue 18: adaptive repetition count (--target-ci) -----------------------------------

def _adaptive_run(tmp_path, *argv):
    proc = _pybench("run", "--suite", "style", "--quick", "--threads", "2", "--min-time", "0.001s",
                    "--warmup", "0", "--filter", "conv1_1", "--output", str(tmp_path), *argv)
    assert proc.returncode == 0, proc.stderr
    [path] = tmp_path.glob("style-*.json")
    return proc, _strict_load(path), path


def test_target_ci_stops_when_the_median_is_precise_enough(tmp_path):
    """A loose target is met as soon as the CI of the median exists (6 samples at 95%):
    every benchmark stops there, its skipped rounds gone from the file, which reads as a
    6-repetition run. At 6 samples that CI is the samples' whole range, so the target is
    loose enough for a sample 9x the median (a 90% target failed CI once, on a sample
    about 2x the median of a millisecond benchmark on a busy 2-core host)."""
    from pybench.results import store
    proc, doc, path = _adaptive_run(tmp_path, "--repetitions", "3", "--target-ci", "900%",
                                    "--max-repetitions", "12")
    assert doc["context"]["pybench"]["adaptive"] == {
        "target_ci": 9.0, "level": 0.95, "min_repetitions": 3, "max_repetitions": 12}
    assert not any(b.get("error_occurred") for b in doc["benchmarks"])
    iterations = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
    assert {b["pybench"]["implementation"] for b in iterations} == {"pybench", "torch"}
    for b in doc["benchmarks"]:
        assert b["repetitions"] == 6 and len(b["pybench"]["samples_s"]) == 6
        assert 0 <= b["pybench"]["median_ci_rel"] <= 9.0
    assert len(iterations) == 12
    assert all(len(r.samples) == 6 for r in store.records(doc))
    assert "--target-ci 900.0%: 2 of 2 benchmarks reached it" in proc.stdout
    assert "26/26" in proc.stderr  # the bar counts the 12 rounds, skipped ones too


def test_target_ci_gives_up_at_max_repetitions(tmp_path):
    proc, doc, _ = _adaptive_run(tmp_path, "--target-ci", "0", "--max-repetitions", "7")
    for b in doc["benchmarks"]:
        assert b["repetitions"] == 7 and len(b["pybench"]["samples_s"]) == 7
    assert "0 of 2 benchmarks reached it" in proc.stdout
    assert "stopped at --max-repetitions 7" in proc.stdout


@pytest.mark.parametrize("argv, message", [
    (["--suite", "cnn", "--target-ci", "2%"], "--target-ci applies to the kernel suites"),
    (["--suite", "gram", "--max-repetitions", "9"], "--max-repetitions only applies with"),
    (["--suite", "gram", "--target-ci", "2%", "--repetitions", "9", "--max-repetitions", "8"],
     "--repetitions 9 is more than --max-repetitions 8"),
])
def test_target_ci_bad_combinations(tmp_path, argv, message):
    proc = _pybench("run", "--out", str(tmp_path), *argv, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())
