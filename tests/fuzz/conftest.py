"""Hypothesis profiles and outcome counts of the fuzz suite.

Profiles: ``ci`` (the default) is derandomized -- a fixed seed, so every run tries the same
cases -- and sized to keep ``tests/fuzz`` well under two minutes on a 2-core machine;
``long`` tries ``LONG_FACTOR`` times as many cases from a fresh random seed, printed in the
header and the summary so a failure can be replayed with ``PYBENCH_FUZZ_SEED``. Select one
with ``PYBENCH_FUZZ_PROFILE=long`` or ``--hypothesis-profile=long``.

Every case a test runs is counted per op (see :func:`expect_result` / :func:`expect_error`);
the totals are printed at the end of the run and written to ``build/fuzz-counts.json``.
"""
from __future__ import annotations

import collections
import json
import os
import random
import re

import pytest
from hypothesis import HealthCheck, Phase, control, core, settings

LONG_FACTOR = 25

# Hypothesis' own timing health checks trip on the first call of a kernel (thread-pool
# start, plan caches) and on the float64 references; the sizes are bounded instead.
_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
# No shrink phase: shrinking a failure replays it hundreds of times, which would break the
# time bound and inflate the counts; the printed draws and blob reproduce the case as found.
_COMMON["phases"] = [Phase.explicit, Phase.generate]
# database=None: a CI run must not replay examples an earlier (local) run saved.
settings.register_profile("ci", derandomize=True, database=None, max_examples=100, **_COMMON)
settings.register_profile("long", derandomize=False, max_examples=100 * LONG_FACTOR, **_COMMON)

#: The exceptions an invalid call may raise. Anything else (or a result) is a finding.
ALLOWED_ERRORS = (TypeError, ValueError, RuntimeError, NotImplementedError, IndexError)

OUTCOMES = ("tried", "matched", "raised", "wrong", "crashed")
COUNTS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_SEED: list[int | None] = [None]


def pytest_configure(config):
    name = (config.getoption("hypothesis_profile", None)
            or os.environ.get("PYBENCH_FUZZ_PROFILE", "ci"))
    settings.load_profile(name)
    if not settings.default.derandomize:
        seed = config.getoption("hypothesis_seed", None) or os.environ.get("PYBENCH_FUZZ_SEED")
        _SEED[0] = int(seed) if seed is not None else random.randrange(2**32)
        # What --hypothesis-seed sets: every test then draws from this one seed.
        core.global_force_seed = _SEED[0]


def pytest_report_header(config):
    return f"pybench fuzz: {_describe_profile()}"


def _describe_profile() -> str:
    s = settings.default
    seed = "fixed (derandomized)" if s.derandomize else f"{_SEED[0]} (PYBENCH_FUZZ_SEED)"
    return f"hypothesis profile {settings.get_current_profile_name()!r}, seed {seed}"


def examples(ci: int) -> settings:
    """Settings for a test that runs ``ci`` cases under the ci profile (more under long)."""
    factor = LONG_FACTOR if settings.get_current_profile_name() == "long" else 1
    return settings(max_examples=ci * factor)


def _counter(op: str) -> collections.Counter:
    # Hypothesis runs a failing case once more to report it; that run is not another case.
    context = control.current_build_context() if control.currently_in_test_context() else None
    return collections.Counter() if context is not None and context.is_final else COUNTS[op]


def expect_result(op: str, call, check):
    """Count one valid case: ``call()`` must return, and ``check(result)`` must pass."""
    counts = _counter(op)
    counts["tried"] += 1
    try:
        out = call()
    except ALLOWED_ERRORS as e:
        counts["wrong"] += 1
        pytest.fail(f"{op} refused valid arguments: {type(e).__name__}: {e}")
    except Exception:
        counts["crashed"] += 1
        raise
    try:
        check(out)
    except (AssertionError, pytest.fail.Exception):
        counts["wrong"] += 1
        raise
    counts["matched"] += 1
    return out


def expect_error(op: str, call, what: str, errors=ALLOWED_ERRORS, match: str | None = None):
    """Count one invalid case: ``call()`` must raise one of ``errors``, whose message
    matches the regular expression ``match`` when given."""
    counts = _counter(op)
    counts["tried"] += 1
    try:
        out = call()
    except errors as e:
        if match is not None and not re.search(match, str(e)):
            counts["wrong"] += 1
            pytest.fail(f"{op} with {what}: {type(e).__name__} {str(e)!r} does not match "
                        f"{match!r}")
        counts["raised"] += 1
        return
    except Exception as e:  # noqa: BLE001 -- the point is to see every other type
        # An allowed type that is not the one expected here is a wrong answer, not a crash.
        counts["wrong" if isinstance(e, ALLOWED_ERRORS) else "crashed"] += 1
        pytest.fail(f"{op} with {what}: unexpected {type(e).__name__}: {e}")
    counts["wrong"] += 1
    pytest.fail(f"{op} with {what} returned a result instead of raising: {_describe(out)}")


def _describe(out) -> str:
    if isinstance(out, (tuple, list)):
        return "(" + ", ".join(_describe(o) for o in out) + ")"
    if hasattr(out, "shape"):
        return f"tensor{tuple(out.shape)} {out.dtype} on {out.device}"
    return repr(out)


def pytest_terminal_summary(terminalreporter, config):
    if not COUNTS:
        return
    rows = {op: {k: COUNTS[op][k] for k in OUTCOMES} for op in sorted(COUNTS)}
    total = {k: sum(r[k] for r in rows.values()) for k in OUTCOMES}
    tr = terminalreporter
    tr.section("pybench fuzz counts")
    tr.write_line(_describe_profile())
    width = max(map(len, rows)) + 2
    tr.write_line("op".ljust(width) + "".join(k.rjust(9) for k in OUTCOMES))
    for op, r in [*rows.items(), ("total", total)]:
        tr.write_line(op.ljust(width) + "".join(str(r[k]).rjust(9) for k in OUTCOMES))
    path = config.rootpath / "build" / "fuzz-counts.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"profile": settings.get_current_profile_name(),
                                "seed": _SEED[0], "ops": rows, "total": total}, indent=2) + "\n")
    tr.write_line(f"written to {path}")
