"""The history store: recording, C++ / pytest-benchmark ingestion, merging two machines."""
import json

import pytest

from history_helpers import (CPP_GBENCH, FINGERPRINT_A, FINGERPRINT_B, PYTEST_BENCHMARK,
                             gram_times, pybench_doc, write)
from pybench import cli
from pybench.results import store as history
from pybench.analysis import compare as cmp

GIT_1 = {"commit": "1" * 40, "commit_date": "2026-12-01T10:00:00+00:00", "dirty": False}
GIT_2 = {"commit": "2" * 40, "commit_date": "2026-12-01T12:00:00+00:00", "dirty": False}


def test_machine_id_is_the_kind_not_the_host():
    a = history.machine_id(FINGERPRINT_A)
    assert a == history.machine_id({**FINGERPRINT_A, "threads": 1, "torch": "x"})
    assert a != history.machine_id(FINGERPRINT_B)
    assert a.startswith("amd-epyc-9999-test-")


def test_record_layout_and_round_trip(tmp_path):
    doc = pybench_doc(gram_times(1e-3, 2e-3, n=5))
    p1 = history.record(doc, tmp_path, git=GIT_1)
    p2 = history.record(doc, tmp_path, git=GIT_1)  # same machine, commit and second: no clash
    machine = history.machine_id(FINGERPRINT_A)
    assert p1 != p2 and p1.parent == p2.parent == tmp_path / machine / ("1" * 12)
    assert json.loads((tmp_path / machine / "machine.json").read_text())["cpu_count"] == 2
    stored = json.loads(p1.read_text())
    assert stored["benchmarks"] == doc["benchmarks"]  # Google Benchmark JSON, untouched
    h = stored["context"]["pybench"]["history"]
    assert h["commit"] == "1" * 40 and h["machine"] == machine and h["source"] == "pybench"
    run = history.load_run(p1)
    recs = {r.name: r for r in run.records}
    rec = recs["gram/grid:c64_hw784/pybench/cpu"]
    assert rec.samples == tuple(doc["benchmarks"][0]["pybench"]["samples_s"])
    assert (rec.suite, rec.family, rec.implementation, rec.flops) == ("gram", "grid", "pybench", 2e6)


def test_merge_two_machines(tmp_path):
    a, b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    for git in (GIT_1, GIT_2):
        history.record(pybench_doc(gram_times(1e-3, 2e-3), fingerprint=FINGERPRINT_A), a, git=git)
        history.record(pybench_doc(gram_times(1e-4, 3e-4), fingerprint=FINGERPRINT_B), b, git=git)
    # a file both machines have already (e.g. merged before) is skipped, not duplicated
    assert len(history.merge([a], merged)) == 2
    assert len(history.merge([a, b], merged)) == 2
    assert cli.main(["history", "merge", str(a), str(b), "--history", str(merged)]) == 0
    runs = history.load(merged)
    assert len(runs) == 4
    assert {r.machine for r in runs} == {history.machine_id(FINGERPRINT_A),
                                         history.machine_id(FINGERPRINT_B)}
    assert [r.commit for r in runs] == ["1" * 40] * 2 + ["2" * 40] * 2  # by commit date
    # a clash with different content is refused
    victim = next(merged.rglob("gram-*.json"))
    original = victim.read_text()
    src = tmp_path / "c" / victim.relative_to(merged)
    src.parent.mkdir(parents=True)
    src.write_text(original.replace("gram", "GRAM"))
    with pytest.raises(FileExistsError):
        history.merge([tmp_path / "c"], merged)


def test_cpp_google_benchmark_ingestion(tmp_path):
    f = write(tmp_path / "gram_bench.json", CPP_GBENCH)
    path = history.add_file(f, tmp_path / "h", fingerprint=FINGERPRINT_A, git=GIT_1)
    run = history.load_run(path)
    assert run.source == "google-benchmark" and run.suite == "cpp:gram_bench"
    assert run.machine == history.machine_id(FINGERPRINT_A)
    recs = {r.name: r for r in run.records}
    assert set(recs) == {"BM_gram/avx512/grid:c64_hw784/N=1", "BM_gram/avx2/grid:c64_hw784/N=1"}
    r = recs["BM_gram/avx512/grid:c64_hw784/N=1"]
    assert r.samples == pytest.approx((40.1e-6, 39.8e-6, 41.0e-6))  # us -> s, per repetition
    assert (r.implementation, r.case, r.device) == ("avx512", "BM_gram/grid:c64_hw784/N=1", "cpu")
    # C++ and Python results share the store and the compare gate
    history.record(pybench_doc(gram_times(1e-3, 2e-3)), tmp_path / "h", git=GIT_1)
    side = cmp.load_side(tmp_path / "h")
    assert "BM_gram/avx2/grid:c64_hw784/N=1" in side.samples
    assert "gram/grid:c64_hw784/pybench/cpu" in side.samples


def test_run_options_do_not_change_a_benchmarks_key():
    # Google Benchmark appends the options a benchmark was registered with to its run name;
    # results recorded with and without a per-benchmark warm-up must still compare.
    assert history.gb_spec_name("gram/c64/pybench/cpu/min_warmup_time:0.020/manual_time") \
        == "gram/c64/pybench/cpu"
    assert history.gb_spec_name("BM_gram/avx2/N=1/real_time") == "BM_gram/avx2/N=1"
    assert history.gb_spec_name("BM_conv2d/avx2/lenet5:conv2/N=1") == "BM_conv2d/avx2/lenet5:conv2/N=1"
    doc = json.loads(json.dumps(CPP_GBENCH))
    for e in doc["benchmarks"]:
        e["run_name"] += "/min_warmup_time:0.050"
    assert {r.name for r in history.records(doc)} == {r.name for r in history.records(CPP_GBENCH)}


def test_pytest_benchmark_ingestion(tmp_path):
    f = write(tmp_path / "pb.json", PYTEST_BENCHMARK)
    path = history.add_file(f, tmp_path / "h", fingerprint=FINGERPRINT_A, git=GIT_1)
    stored = json.loads(path.read_text())
    assert "context" in stored and stored["context"]["pybench"]["history"]["source"] == \
        "pytest-benchmark"
    recs = {r.name: r for r in history.load_run(path).records}
    r = recs["pytest-ops/grid:c64_hw784/pybench/cpu"]
    assert r.samples == pytest.approx((4.0e-5, 4.1e-5, 4.4e-5, 4.1e-5))
    assert r.implementation == "pybench" and r.suite == "pytest-ops"
    assert recs["benchmarks/test_ops.py::test_other"].samples == (1e-3,)  # median only


def test_history_add_rejects_foreign_json(tmp_path, capsys):
    bad = write(tmp_path / "bad.json", {"foo": []})
    assert cli.main(["history", "add", bad, "--history", str(tmp_path / "h")]) == 2
    assert "bad.json" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert cli.main(["history", "add", str(tmp_path / "broken.json"),
                     "--history", str(tmp_path / "h")]) == 2


def test_history_cli_add_and_list(tmp_path, capsys):
    f = write(tmp_path / "gram_bench.json", CPP_GBENCH)
    h = str(tmp_path / "h")
    assert cli.main(["history", "add", f, "--history", h, "--commit", "abc123",
                     "--machine", "ci-kind"]) == 0
    assert (tmp_path / "h" / "ci-kind" / "abc123").is_dir()
    assert cli.main(["history", "list", "--history", h]) == 0
    out = capsys.readouterr().out
    assert "ci-kind  abc123" in out and "google-benchmark" in out and "1 run(s)" in out


def test_run_records_into_history_and_gates_end_to_end(tmp_path):
    """A real ``pybench run --history`` (tiny), then the gate on it and the dashboard."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    hist = tmp_path / "history"
    proc = subprocess.run(
        [sys.executable, "-m", "pybench", "run", "--suite", "gram", "--filter",
         "grid:c64_hw784/", "--threads", "1", "--repetitions", "5", "--min-time", "0.001",
         "--warmup", "0", "--output", str(tmp_path / "results"), "--history", str(hist)],
        capture_output=True, text=True, timeout=300, cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = history.load(hist)
    assert len(runs) == 1 and runs[0].source == "pybench" and runs[0].suite == "gram"
    assert runs[0].commit == history.git_info(root)["commit"]
    assert {r.implementation for r in runs[0].records} == {"pybench", "torch"}
    assert all(len(r.samples) == 5 for r in runs[0].records)
    result = runs[0].path
    assert cli.main(["compare", str(result), str(hist), "--normalize", "torch"]) == 0
    assert cli.main(["dashboard", str(hist), "-o", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "suite-gram.html").exists()


def test_committed_baseline_picks_newest_tracked_commit(tmp_path):
    import subprocess
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    hist = repo / "perf" / "history"
    old = history.record(pybench_doc(gram_times(1e-3, 2e-3)), hist, git=GIT_1)
    new = [history.record(pybench_doc(gram_times(1e-3, 2e-3)), hist, git=GIT_2) for _ in "ab"]
    untracked = history.record(pybench_doc(gram_times(1e-3, 2e-3)),
                               hist, git={**GIT_2, "commit": "3" * 40,
                                          "commit_date": "2026-12-02T00:00:00+00:00"})
    subprocess.run(["git", "add", str(old), *map(str, new)], cwd=repo, check=True)
    machine = history.machine_id(FINGERPRINT_A)
    got = history.committed_baseline("perf/history", machine, cwd=repo)
    assert sorted(p.resolve() for p in got) == sorted(p.resolve() for p in new)
    assert untracked.exists()
    assert history.committed_baseline("perf/history", "other-kind", cwd=repo) == []


def test_family_is_the_model_registrys():
    """The dashboard's per-family table groups ResNet-18 and -50 as ResNet (it listed the
    case prefix, i.e. the model, as its family)."""
    from pybench.results.store import Record
    rec = lambda case, suite="conv": Record("n", suite, case, "pybench", "cpu", (1.0,))
    assert rec("resnet18:layer1.0.conv1/N:1").family == "ResNet"
    assert rec("resnet50:layer2.0.conv2/N:8").family == "ResNet"
    assert rec("resnet18/N:1/HW:224", "cnn").family == "ResNet"
    assert rec("grid:c64_hw784", "gram").family == "grid"
    assert rec("c64", "gram").family == "gram"
