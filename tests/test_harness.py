import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch

from pybench.harness import (BenchmarkSpec, Failure, Measurement, Report, sanitize, validate)


def _spec(impl="good", setup=None, **kw):
    return BenchmarkSpec(suite="t", case="c/N:1", implementation=impl, device="cpu", threads=1,
                         flops=2_000_000, bytes=8, setup=setup or (lambda: (lambda: 1.0, abs)), **kw)


def test_statistics_on_known_samples():
    m = Measurement(_spec(), samples=(5.0, 1.0, 4.0, 2.0, 3.0), iterations=(1,) * 5,
                    validation_error=0.0)
    st = m.stats()
    assert m.median == st["median"] == 3.0 and st["mean"] == 3.0
    assert st["stddev"] == pytest.approx(math.sqrt(2.5))  # Bessel: sum of squares 10 / (5 - 1)
    assert m.cv == st["cv"] == pytest.approx(math.sqrt(2.5) / 3)
    assert st["p10"] == pytest.approx(1.4) and st["p90"] == pytest.approx(4.6)  # linear, type 7
    assert m.flops_per_s == pytest.approx(2e6 / 3)
    even = Measurement(_spec(), (1.0, 2.0, 4.0, 10.0), (1,) * 4, 0.0)
    assert even.median == 3.0


def test_single_sample_has_no_spread():
    st = Measurement(_spec(), (2.0,), (1,), 0.0).stats()
    assert st["median"] == st["mean"] == st["p10"] == st["p90"] == 2.0
    assert math.isnan(st["stddev"]) and math.isnan(st["cv"])
    assert sanitize(st)["stddev"] is None


def test_sanitize_replaces_non_finite():
    doc = {"a": [1.0, math.nan, {"b": math.inf}], "c": -math.inf, "d": "NaN", "e": 3}
    assert sanitize(doc) == {"a": [1.0, None, {"b": None}], "c": None, "d": "NaN", "e": 3}


def _gram_setup(wrong=False):
    x = torch.randn(8, 33)

    def check(out):
        f64 = x.double()
        ref = f64 @ f64.T
        return (torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref)).item()
    run = (lambda: x @ x.T * 1.001) if wrong else (lambda: x @ x.T)
    return lambda: (run, check)


def test_validation_accepts_correct_and_rejects_wrong_result():
    run, err = validate(_spec(setup=_gram_setup()))
    assert err < 1e-6 and run().shape == (8, 8)
    bad = validate(_spec("bad", setup=_gram_setup(wrong=True)))
    assert isinstance(bad, Failure) and bad.stage == "validation"
    assert bad.validation_error == pytest.approx(1e-3, rel=0.01)
    assert "exceeds tolerance" in bad.error


def test_validation_reports_exceptions_and_nan():
    def boom():
        raise RuntimeError("kernel exploded")
    failed = validate(_spec(setup=lambda: (boom, abs)))
    assert isinstance(failed, Failure) and failed.error == "RuntimeError: kernel exploded"
    nan = validate(_spec(setup=lambda: (lambda: math.nan, abs)))
    assert isinstance(nan, Failure) and math.isnan(nan.validation_error)


def test_table_speedup_against_torch_and_failed_rows():
    torch_spec, fast, bad = _spec("torch"), _spec("pybench"), _spec("broken")
    report = Report(
        measurements=[Measurement(torch_spec, (2e-3, 2e-3), (1, 1), 0.0),
                      Measurement(fast, (1e-3, 1e-3), (1, 1), 0.0)],
        failures=[Failure(bad, "validation", "relative error 1 exceeds tolerance 1e-05\nmore")],
        document={}, path=None, order=[fast, torch_spec, bad])
    frame = report.to_frame()
    assert list(frame["impl"]) == ["pybench", "torch", "broken"]
    assert list(frame["vs torch"][:2]) == [2.0, 1.0]
    assert frame["GFLOP/s"][0] == pytest.approx(2.0)
    text = report.format_table()
    assert "2.00x" in text and "FAILED" in text and "relative error 1 exceeds" in text
    assert "more" not in text


_SCRIPT = textwrap.dedent("""
    import math, sys, torch
    from pybench.harness import BenchmarkSpec, run_benchmarks

    x = torch.randn(16, 40)
    def check(out):
        ref = x.double() @ x.double().T
        return (torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref)).item()
    calls = {"n": 0}
    def flaky():
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("died while timed")
        return x @ x.T
    impls = {"torch": lambda: x @ x.T, "wrong": lambda: x @ x.T + 1,
             "nan": lambda: x @ x.T * math.nan, "flaky": flaky}
    specs = [BenchmarkSpec(suite="t", case="g/C:16", implementation=name, device="cpu",
                           threads=1, flops=16 * 17 * 40, bytes=4 * (16 * 40 + 16 * 16),
                           setup=lambda fn=fn: (fn, check)) for name, fn in impls.items()]
    report = run_benchmarks(specs, repetitions=2, min_time=0.001, warmup=0,
                            output=sys.argv[1], context={"suite": "t"})
    print(report.format_table())
""")


def _strict_load(path):
    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=no_constants)


def test_run_rejects_wrong_results_and_writes_google_benchmark_json(tmp_path):
    script, out = tmp_path / "bench.py", tmp_path / "out" / "t.json"
    script.write_text(_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = _strict_load(out)
    assert set(doc) == {"context", "benchmarks"}
    assert doc["context"]["library_version"] == "1.9.5"
    extra = doc["context"]["pybench"]
    assert extra["api_version"] == 1 and extra["suite"] == "t"
    failures = {f["implementation"]: f for f in extra["failures"]}
    assert failures.keys() == {"wrong", "nan", "flaky"}
    assert failures["wrong"]["stage"] == "validation" and failures["wrong"]["validation_error"] > 1e-5
    assert failures["nan"]["validation_error"] is None  # NaN written as null
    assert failures["flaky"]["stage"] == "timing" and "died while timed" in failures["flaky"]["error"]

    timed = [b for b in doc["benchmarks"] if not b.get("error_occurred")]
    assert {b["pybench"]["implementation"] for b in timed} == {"torch"}  # wrong ones never timed
    reps = [b for b in timed if b["run_type"] == "iteration"]
    assert len(reps) == 2 and all(b["name"].endswith("/manual_time") for b in reps)
    for b in reps:
        assert b["FLOP/s"] > 0 and b["bytes/s"] > 0 and b["time_unit"] == "ms"
        assert b["pybench"]["validation_error"] < 1e-6
        assert len(b["pybench"]["samples_s"]) == 2
    assert {b["aggregate_name"] for b in timed if b["run_type"] == "aggregate"} >= {"median", "cv"}
    assert "FAILED" in proc.stdout and "exceeds tolerance" in proc.stdout


_REWARM = textwrap.dedent("""
    import sys, time, types
    import torch
    from pybench.harness import BenchmarkSpec, run_benchmarks, timer

    # The settle pauses the timer takes (time.sleep in pybench.harness.timer only).
    pauses = []
    timer.time = types.SimpleNamespace(
        perf_counter=time.perf_counter, sleep=lambda s: (pauses.append(s), time.sleep(s)))

    calls = {"cold": 0}
    x = torch.randn(8, 8)
    def make(name):
        warm = {"on": False}
        def run():  # a cache every other spec evicts: the first call after one is slow
            for other in evict:
                if other is not warm:
                    other["on"] = False
            if not warm["on"]:
                calls["cold"] += name == "rewarm"
                time.sleep(0.03)
                warm["on"] = True
            time.sleep(0.002)  # slow enough that a repetition is one or two calls
            return x
        return warm, run
    (wa, ra), (wb, rb) = make("rewarm"), make("cold")
    evict = [wa, wb]
    check = lambda out: 0.0
    specs = [BenchmarkSpec(suite="t", case="c", implementation=name, device="cpu", threads=1,
                           flops=1, bytes=1, setup=lambda fn=fn: (fn, check), rewarm=name == "rewarm")
             for name, fn in (("rewarm", ra), ("cold", rb))]
    report = run_benchmarks(specs, repetitions=8, min_time=0.001, warmup=0, output=sys.argv[1])
    got = {m.spec.implementation: m for m in report.measurements}
    print(pauses.count(timer.SETTLE_S), len(pauses))
    print(max(got["rewarm"].samples), max(got["cold"].samples))
""")


def test_rewarm_keeps_the_cold_call_out_of_every_repetition(tmp_path):
    """Interleaved repetitions evict each other's warm state; a ``rewarm`` spec's cold call
    is untimed in every repetition (its slowest sample is warm), the other spec pays it in
    its timings. The interleaving is random, so two repetitions of one spec may run back to
    back and the second find its state warm: the check on the other spec is that some
    repetition paid (its slowest sample), not its median -- with 8 repetitions each, every
    "cold" repetition coming before every "rewarm" one has odds of 1 in 12870."""
    script, out = tmp_path / "rewarm.py", tmp_path / "r.json"
    script.write_text(_REWARM)
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rewarm_slowest, cold_slowest = map(float, proc.stdout.split()[-2:])
    assert rewarm_slowest < 0.015 < cold_slowest
    # A pause before each of the rewarm spec's 8 repetitions (another runtime's spinning
    # threads settle), none for the other spec.
    assert proc.stdout.split()[-4:-2] == ["8", "8"]
    doc = json.loads(out.read_text())
    flags = {b["pybench"]["implementation"]: b["pybench"]["rewarm"] for b in doc["benchmarks"]}
    assert flags == {"rewarm": True, "cold": False}


def test_hardware_efficiency_column():
    """'% HW' is the executed FLOPs' share of the peak: twice '% peak' for an implementation
    executing twice what it is credited with (F @ F.T's full Gram matrix); shown only when
    some spec declares executed_flops."""
    from pybench.harness.measure import Report
    from pybench.harness.spec import Measurement
    spec = lambda impl, executed: BenchmarkSpec(
        suite="gram", case="c", implementation=impl, device="cpu", threads=1, flops=1e9,
        bytes=0, setup=lambda: None, executed_flops=executed)
    a, b = spec("torch", int(2e9)), spec("pybench", 0)
    doc = {"context": {"pybench": {"peak": {"fma_flops": 100e9}}}}
    report = Report([Measurement(a, (0.01,) * 3, (1,) * 3, 0.0),
                     Measurement(b, (0.01,) * 3, (1,) * 3, 0.0)], [], doc, None, [a, b])
    frame = report.to_frame().set_index("impl")
    assert frame.loc["torch", "% HW"] == pytest.approx(2 * frame.loc["torch", "% peak"])
    assert frame.loc["pybench", "% HW"] == pytest.approx(frame.loc["pybench", "% peak"])
    assert "% HW" in report.format_table()
    plain = Report([Measurement(b, (0.01,) * 3, (1,) * 3, 0.0)], [], doc, None, [b])
    assert "% HW" not in plain.format_table()


def test_table_fits_120_columns():
    """Long case labels are shortened (default sizes left out, H/W pairs joined) and, if the
    rows are still too wide, head their rows; one device and thread count go above."""
    from pybench.harness.measure import Report, _short_case
    from pybench.harness.spec import Measurement
    assert _short_case("r18:l1/N:1/C:64/H:56/W:56/K:64/R:3/S:3/SH:1/SW:1/PH:1/PW:1/DH:1/DW:1/G:1") \
        == "r18:l1/N:1/C:64/HW:56/K:64/RS:3/p:1"
    label = "mobilenet_v1:features.1.dw[dw+pw]/N:1/C:32/H:112/W:112/M:1/R:3/S:3/" + "X:1/" * 12 + "Y:2"
    specs = [BenchmarkSpec(suite="s", case=label, implementation=impl, device="cpu", threads=2,
                           flops=1e9, bytes=1e6, setup=lambda: None) for impl in ("pybench", "torch")]
    report = Report([Measurement(s, (0.01, 0.011, 0.012), (1, 1, 1), 0.0) for s in specs], [],
                    {"context": {}}, None, specs)
    text = report.format_table()
    assert max(map(len, text.splitlines())) <= 120, text
    assert text.splitlines()[0] == "cpu, 2 threads" and _short_case(label) in text
