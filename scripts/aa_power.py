#!/usr/bin/env python
"""A/A and power experiment for the compare gate (issue 8).

For each of ``--pairs`` rounds, ``--processes`` x three ``pybench run``s of the same commit,
interleaved: BASE, A (same code again) and SLOW (the same code with the test-only knob
``PYBENCH_TEST_GRAM_SLOWDOWN=<fraction>``, which makes every timed pybench Gram call also
compute the Gram matrix of the first <fraction> of its columns: that much more work of
the same kind). Then the gate with its defaults (alpha 0.01, minimum effect 5%,
``--normalize torch``) is applied to BASE vs A (any failure is a false alarm) and to
BASE vs SLOW (a failure is a detection). The same pairs are also judged without
normalisation, to show what it buys on a shared host.

Every run is a real ``python -m pybench run`` (through pybench.cli.main) in a process of its
own, forked from this one after torch is imported so that 3 x 20 runs fit in minutes.
Result files and a summary (summary.json, summary.md) go to ``--out``.

    PYTHONPATH=$PWD .venv/bin/python scripts/aa_power.py     # about 9 min on the shared 2-core host
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from pybench import cli, peak
from pybench.analysis import compare as cmp
from pybench.suites.gram import SLOWDOWN_ENV

#: A few mid-sized Gram cases (about 0.3-3 ms a call here): long enough that Python call
#: overhead is small against the kernel, short enough to keep the experiment cheap.
#: The gate settings judged: label -> (normalize, metric). PRIMARY is what CI uses.
VARIANTS = {"--normalize torch --metric cpu": ("torch", "cpu_time"),
            "--normalize torch": ("torch", "real_time"),
            "--metric cpu": (None, "cpu_time"),
            "raw wall time": (None, "real_time")}
PRIMARY = "--normalize torch --metric cpu"
DEFAULT_FILTER = r"grid:c(64_hw3136|128_hw784|128_hw3136)/"


def _run(out_dir: Path, args: argparse.Namespace, slowdown: float) -> Path:
    """One ``pybench run`` in a forked child; returns its result file."""
    if out_dir.exists():
        for old in out_dir.glob("gram-*.json"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = ["run", "--suite", "gram", "--filter", args.filter, "--threads", str(args.threads),
            "--repetitions", str(args.repetitions), "--min-time", str(args.min_time),
            "--warmup", str(args.warmup), "--output", str(out_dir)]
    pid = os.fork()
    if pid == 0:  # child: one Google Benchmark run per process
        code = 3
        try:
            if slowdown:
                os.environ[SLOWDOWN_ENV] = str(slowdown)
            else:
                os.environ.pop(SLOWDOWN_ENV, None)
            log = os.open(out_dir / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(log, 1)  # Google Benchmark prints from C++: redirect the descriptors
            os.dup2(log, 2)
            # The roofline (% of peak) is not needed here and costs seconds a run.
            peak.measure = lambda *a, **k: {"skipped": "scripts/aa_power.py"}
            code = cli.main(argv)
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    files = sorted(out_dir.glob("gram-*.json"))
    if os.waitstatus_to_exitcode(status) != 0 or len(files) != 1:
        raise RuntimeError(f"pybench run failed in {out_dir} (status {status})")
    return files[0]


def _gate(base: list[Path], new: list[Path], normalize: str | None, metric: str,
          thresholds: cmp.Thresholds = cmp.Thresholds()) -> cmp.Result:
    return cmp.compare(cmp.load_side(base, normalize, metric),
                       cmp.load_side(new, normalize, metric), normalize=normalize,
                       thresholds=thresholds)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--processes", type=int, default=3,
                   help="runs (processes) pooled per side: the run, not the repetition, is "
                   "the unit a shared host's slow phases and per-process effects hit")
    p.add_argument("--slowdown", type=float, default=0.10)
    p.add_argument("--filter", default=DEFAULT_FILTER)
    p.add_argument("--repetitions", type=int, default=10)
    p.add_argument("--min-time", type=float, default=0.02)
    p.add_argument("--warmup", type=float, default=0.02)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="build/aa_power")
    args = p.parse_args()
    out = Path(args.out)
    start = time.time()
    pairs = []
    for i in range(args.pairs):
        kinds = ["base", "aa", "slow"]
        kinds = kinds[i % 3:] + kinds[:i % 3]  # rotate so no kind always runs first
        files: dict[str, list[Path]] = {k: [] for k in kinds}
        for j in range(args.processes):  # interleaved: base, aa, slow, base, aa, slow, ...
            for k in kinds:
                files[k].append(_run(out / f"pair{i:02d}" / f"{k}{j}", args,
                                     args.slowdown if k == "slow" else 0))
        row = {"pair": i, "order": kinds, "files": files}
        for label, (norm, metric) in VARIANTS.items():
            aa = _gate(files["base"], files["aa"], norm, metric)
            slow = _gate(files["base"], files["slow"], norm, metric)
            pyb = slow.table[slow.table["implementation"] == "pybench"]
            row[label] = {
                "aa_fail": aa.exit_status == 1,
                "aa_slower": list(aa.regressions["benchmark"]),
                "slow_fail": slow.exit_status == 1,
                "slow_cases_caught": int((pyb["status"] == "slower").sum()),
                "slow_cases": len(pyb),
                "slow_ratios": [round(float(r), 4) for r in pyb["ratio"]],
                "aa_ratios": [round(float(r), 4) for r in
                              aa.table[aa.table["implementation"] == "pybench"]["ratio"]],
            }
        pairs.append(row)
        t = row[PRIMARY]
        print(f"pair {i + 1:2d}/{args.pairs}: A/A {'FAIL' if t['aa_fail'] else 'ok  '}  "
              f"slowdown {'caught' if t['slow_fail'] else 'MISSED'} "
              f"({t['slow_cases_caught']}/{t['slow_cases']} cases; ratios {t['slow_ratios']})  "
              + " ".join(f"[{k}: A/A {'FAIL' if row[k]['aa_fail'] else 'ok'}, "
                         f"{'caught' if row[k]['slow_fail'] else 'MISSED'}]"
                         for k in VARIANTS if k != PRIMARY) + f"  {time.time() - start:.0f} s",
              flush=True)

    summary = {"settings": {k: v for k, v in vars(args).items()},
               "defaults": {"alpha": cmp.Thresholds().alpha,
                            "min_effect": cmp.Thresholds().min_effect},
               "wall_s": round(time.time() - start, 1), "pairs": pairs}
    lines = [f"A/A and power: {args.pairs} pairs of {args.processes} runs a side, gram cases "
             f"/{args.filter}/, "
             f"{args.repetitions} repetitions x {args.min_time} s, {args.threads} thread(s), "
             f"injected slowdown {args.slowdown:.0%}, gate defaults alpha "
             f"{cmp.Thresholds().alpha}, min effect {cmp.Thresholds().min_effect:.0%}; "
             f"{summary['wall_s']:.0f} s wall", "",
             "| comparison | A/A false alarms | slowdown detected | slowdown cases flagged | "
             "median measured slowdown |", "|---|---|---|---|---|"]
    for label in VARIANTS:
        aa = sum(r[label]["aa_fail"] for r in pairs)
        caught = sum(r[label]["slow_fail"] for r in pairs)
        cases = sum(r[label]["slow_cases_caught"] for r in pairs)
        total = sum(r[label]["slow_cases"] for r in pairs)
        ratios = [x for r in pairs for x in r[label]["slow_ratios"]]
        summary[label] = {"aa_false_alarms": aa, "detected": caught, "cases_flagged": cases,
                          "cases": total, "median_slow_ratio": float(np.median(ratios))}
        name = label + (" (the CI gate)" if label == PRIMARY else "")
        lines.append(f"| {name} | {aa}/{args.pairs} | {caught}/{args.pairs} | {cases}/{total} | "
                     f"{(np.median(ratios) - 1) * 100:+.1f}% |")
    # What the default gate would need on this host: the same pairs at larger minimum effects.
    lines += ["", f"The CI gate ({PRIMARY}) at other minimum effects, same pairs:", "",
              "| min effect | A/A false alarms | slowdown detected |", "|---|---|---|"]
    norm, metric = VARIANTS[PRIMARY]
    for effect in (0.05, 0.075, 0.10, 0.15):
        t = cmp.Thresholds(min_effect=effect)
        fa = det = 0
        for r in pairs:
            f = r["files"]
            fa += _gate(f["base"], f["aa"], norm, metric, t).exit_status
            det += _gate(f["base"], f["slow"], norm, metric, t).exit_status
        summary.setdefault("min_effect_sweep", {})[effect] = {"aa_false_alarms": fa,
                                                              "detected": det}
        lines.append(f"| {effect:.1%} | {fa}/{args.pairs} | {det}/{args.pairs} |")
    # Spread of the per-process medians of A/A runs: the noise the gate is up against.
    spread = []
    for r in pairs:
        for k in ("base", "aa"):
            per_run = [cmp.load_side(f, norm, metric).samples for f in r["files"][k]]
            for name in per_run[0]:
                meds = [np.median(s[name]) for s in per_run if name in s]
                spread.append(max(meds) / min(meds) - 1)
    summary["process_spread_median"] = float(np.median(spread))
    lines += ["", f"Median spread (max/min - 1) of one benchmark's per-process medians within "
              f"one side: {np.median(spread):.1%} (90th percentile {np.percentile(spread, 90):.1%})"]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    (out / "summary.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
