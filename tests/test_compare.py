"""The compare gate: statistics on synthetic samples, normalisation, thresholds, exit codes."""
import math

import numpy as np
import pytest

from history_helpers import gram_times, lognormal, pybench_doc, write
from pybench import cli
from pybench.analysis import compare as cmp


@pytest.mark.parametrize("shift", [0.10, 0.20, 0.50])
def test_known_slowdown_is_detected(shift):
    for seed in range(5):
        base = lognormal(seed, 1e-3, 10)
        new = lognormal(seed + 100, 1e-3 * (1 + shift), 10)
        res = cmp.compare_samples(base, new)
        assert res["status"] == "slower", (seed, res)
        assert res["p"] < 0.01 and res["ci_low"] > 1.0 and res["ratio"] > 1.05


def test_known_speedup_is_faster_not_a_failure():
    res = cmp.compare_samples(lognormal(1, 1e-3, 10), lognormal(2, 0.8e-3, 10))
    assert res["status"] == "faster" and res["ratio"] < 0.9


def test_identical_samples_are_same():
    s = lognormal(3, 1e-3, 10)
    res = cmp.compare_samples(s, list(s))
    assert res["status"] == "same" and res["ratio"] == 1.0 and res["p"] > 0.5
    assert cmp.compare_samples([1.0] * 5, [1.0] * 5)["status"] == "same"


def test_same_distribution_false_alarm_rate():
    # 300 A/A pairs of 10 samples a side, 3% noise. Mann-Whitney's guarantee: p < alpha in
    # at most about alpha of them (two-sided, so about half of those "slower"); the 5%
    # minimum effect only removes alarms.
    alarms = significant = 0
    for seed in range(300):
        res = cmp.compare_samples(lognormal(seed, 1e-3, 10), lognormal(seed + 10_000, 1e-3, 10))
        alarms += res["status"] == "slower"
        significant += res["p"] < 0.01
    assert alarms <= significant <= 8
    assert alarms <= 3


def test_small_significant_change_is_same_and_large_uncertain_is_noisy():
    base = lognormal(4, 1.0, 20, sigma=0.002)
    res = cmp.compare_samples(base, lognormal(5, 1.02, 20, sigma=0.002))
    assert res["p"] < 0.01 and res["status"] == "same"  # real but below the 5% minimum effect
    noisy = cmp.compare_samples(lognormal(6, 1.0, 4, sigma=0.3), lognormal(7, 1.3, 4, sigma=0.3))
    assert noisy["status"] == "noisy"


def test_too_few_samples_can_never_be_significant():
    assert cmp.min_p_value(3, 3) == pytest.approx(0.1)
    assert cmp.min_p_value(5, 5) == pytest.approx(2 / 252)
    res = cmp.compare_samples([1.0, 1.01, 0.99], [2.0, 2.01, 1.99])
    assert res["p"] >= 0.01 and res["status"] == "noisy"
    assert cmp.compare_samples([1.0], [2.0])["status"] == "noisy"


def test_bootstrap_ci_contains_true_ratio_and_is_reproducible():
    base, new = np.array(lognormal(8, 1.0, 10)), np.array(lognormal(9, 1.2, 10))
    lo, hi = cmp.bootstrap_ratio_ci(base, new)
    assert lo < 1.2 < hi and (lo, hi) == cmp.bootstrap_ratio_ci(base, new)


def test_parse_effect():
    assert cmp.parse_effect("5%") == pytest.approx(0.05)
    assert cmp.parse_effect("0.1") == pytest.approx(0.1)
    assert cmp.parse_effect("10") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        cmp.parse_effect("-3%")


def _files(tmp_path, base_doc, new_doc):
    return write(tmp_path / "base.json", base_doc), write(tmp_path / "new.json", new_doc)


def test_normalize_torch_cancels_a_host_wide_slowdown(tmp_path):
    # NEW ran on a host 30% slower for everything: raw times say "slower", relative to
    # torch measured in the same run nothing changed.
    base = pybench_doc(gram_times(1e-3, 2e-3, seed=1))
    new = pybench_doc({k: [s * 1.3 for s in v] for k, v in gram_times(1e-3, 2e-3, seed=2).items()})
    b, n = _files(tmp_path, base, new)
    raw = cmp.compare(cmp.load_side(b), cmp.load_side(n))
    assert set(raw.table["status"]) == {"slower"} and raw.exit_status == 1
    norm = cmp.compare(cmp.load_side(b, "torch"), cmp.load_side(n, "torch"), normalize="torch")
    assert norm.exit_status == 0 and len(norm.table) == 2  # torch rows are the denominator
    assert norm.table["normalized"].all()
    assert norm.table["ratio"].between(0.95, 1.05).all()


def test_normalize_pairs_repetitions_of_the_same_round(tmp_path):
    base = pybench_doc({("c", "pybench", "cpu"): [1.0, 2.0, 3.0], ("c", "torch", "cpu"): [2.0, 4.0, 6.0]})
    side = cmp.load_side(write(tmp_path / "b.json", base), "torch")
    assert side.samples["gram/c/pybench/cpu"] == [0.5, 0.5, 0.5]


def test_config_thresholds_and_geomeans(tmp_path):
    cfg = tmp_path / "thresholds.toml"
    cfg.write_text('[defaults]\nmin_effect = "5%"\n\n[[case]]\nmatch = "c128"\n'
                   'min_effect = "30%"\n\n[[case]]\nmatch = "c64.*torch"\nignore = true\n')
    defaults, rules = cmp.load_config(cfg)
    assert defaults == {"min_effect": pytest.approx(0.05)} and len(rules) == 2
    base = pybench_doc(gram_times(1e-3, 2e-3, seed=3))
    new = pybench_doc(gram_times(1.15e-3, 2.3e-3, seed=4))  # everything 15% slower
    b, n = _files(tmp_path, base, new)
    res = cmp.compare(cmp.load_side(b), cmp.load_side(n), rules=rules)
    status = dict(zip(res.table["benchmark"], res.table["status"]))
    ignored = dict(zip(res.table["benchmark"], res.table["ignored"]))
    assert status["gram/grid:c64_hw784/pybench/cpu"] == "slower"
    assert status["gram/grid:c128_hw784/pybench/cpu"] != "slower"  # 30% threshold there
    assert ignored["gram/grid:c64_hw784/torch/cpu"]
    assert list(res.regressions["benchmark"]) == ["gram/grid:c64_hw784/pybench/cpu"]
    g = res.geomean_suite.set_index("implementation")["geomean ratio"]
    assert g["pybench"] == pytest.approx(1.15, rel=0.05)
    assert set(res.geomean_family["family"]) == {"grid"}


@pytest.mark.parametrize("text", ["[defaults]\nalpha = 2\n", "[[case]]\nmin_effect = 1\n",
                                  "[[case]]\nmatch = '('\n", "[defaults]\nbogus = 1\n", "x = ["])
def test_bad_config_is_a_clear_error(tmp_path, text):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ValueError, match="bad.toml"):
        cmp.load_config(cfg)


def test_gate_exit_codes(tmp_path, capsys):
    same_a = write(tmp_path / "a.json", pybench_doc(gram_times(1e-3, 2e-3, seed=5)))
    same_b = write(tmp_path / "b.json", pybench_doc(gram_times(1e-3, 2e-3, seed=6)))
    slow = write(tmp_path / "slow.json", pybench_doc(gram_times(1.2e-3, 2e-3, seed=7)))
    fast = write(tmp_path / "fast.json", pybench_doc(gram_times(0.7e-3, 2e-3, seed=8)))
    other = write(tmp_path / "other.json", pybench_doc(gram_times(1e-3, 2e-3, seed=9,
                                                                   cases=("grid:x",))))
    md = tmp_path / "summary.md"
    assert cli.main(["compare", same_a, same_b, "--normalize", "torch"]) == 0
    assert cli.main(["compare", same_a, slow, "--normalize", "torch", "--markdown", str(md)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: 2 significant regression(s)" in out and "SLOWER" in out
    assert "| gram/grid:c64_hw784/pybench/cpu |" in md.read_text()
    assert cli.main(["compare", same_a, slow, "--normalize", "torch", "--fail-on", "never"]) == 0
    assert cli.main(["compare", same_a, slow, "--min-effect", "50%"]) == 0
    assert cli.main(["compare", same_a, fast, "--normalize", "torch"]) == 0  # improvements pass
    assert "faster" in capsys.readouterr().out
    # only in one file: listed, not failed
    mixed = write(tmp_path / "mixed.json", pybench_doc({**gram_times(1e-3, 2e-3, seed=10),
                                                        **gram_times(9e-3, 2e-3, seed=11,
                                                                     cases=("grid:new",))}))
    assert cli.main(["compare", same_a, mixed, "--normalize", "torch"]) == 0
    out = capsys.readouterr().out
    assert "only in NEW (1, not compared)" in out and "gram/grid:new/pybench/cpu" in out
    # nothing in common / unreadable input: 2
    assert cli.main(["compare", same_a, other]) == 2
    assert cli.main(["compare", same_a, str(tmp_path / "missing.json")]) == 2
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    assert cli.main(["compare", same_a, str(tmp_path / "junk.json")]) == 2
    assert "neither Google Benchmark JSON" in capsys.readouterr().err


def test_low_repetitions_warn(tmp_path, capsys):
    a = write(tmp_path / "a.json", pybench_doc(gram_times(1e-3, 2e-3, n=3, seed=12)))
    b = write(tmp_path / "b.json", pybench_doc(gram_times(2e-3, 2e-3, n=3, seed=13)))
    assert cli.main(["compare", a, b]) == 0
    assert "too few samples" in capsys.readouterr().out
    assert math.isclose(cmp.min_p_value(3, 3), 0.1)


def test_slowdown_knob_keeps_the_result_correct(monkeypatch):
    # The power experiment's knob (scripts/aa_power.py) adds work, never changes the answer.
    from pybench import harness, suites
    from pybench.suites.gram import SLOWDOWN_ENV
    monkeypatch.setenv(SLOWDOWN_ENV, "0.1")
    suite = suites.get("gram")
    specs = suite.specs(suite.cases()[0], device="cpu", threads=1)
    pyb = next(s for s in specs if s.implementation == "pybench")
    run, error = harness.validate(pyb)
    assert error <= pyb.tolerance
