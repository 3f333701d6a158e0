"""pybench.allocator: `pybench run` times kernel suites with freed memory kept mapped.

What it must do is measurable: with glibc's defaults every fresh allocation of a large
output page-faults all its pages back in; with pages kept the second and later ones fault
none. Each check runs in a subprocess of its own, because the setting is process-wide."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from pybench import allocator

# 64 MiB: past glibc's largest dynamic mmap threshold (32 MiB), so under its defaults every
# allocation is a fresh mapping.
# torch allocates with posix_memalign, whose request is a little larger than the chunk it
# frees, so glibc reaches its steady state (the freed chunk reused) only after the first
# few rounds, at most 10 here; the warm-up rounds cover that, as a benchmark's do.
FAULTS_PER_ROUND = """
import resource, torch
def faults(warmup=16, rounds=8, n=16 << 20):
    for _ in range(warmup):
        torch.empty(n).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        torch.empty(n).fill_(1.0)  # allocated, every page written, freed
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds
"""
PAGES = (64 << 20) // os.sysconf("SC_PAGE_SIZE")


def _child(body: str, env: dict[str, str] | None = None) -> dict:
    code = FAULTS_PER_ROUND + body
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


glibc_only = pytest.mark.skipif(allocator._glibc() is None,
                                reason="not glibc: the keep policy is a no-op there")


@glibc_only
def test_keep_stops_the_page_faults_of_a_fresh_output_and_system_does_not():
    body = """
import json
from pybench import allocator
record = allocator.apply("{policy}")
print(json.dumps({{"faults": faults(), "record": record}}))
"""
    env = {"GLIBC_TUNABLES": ""}  # no inherited setting
    system = _child(body.format(policy="system"), env)
    keep = _child(body.format(policy="keep"), env)
    assert system["record"] == {"policy": "system", "libc": keep["record"]["libc"]}
    assert keep["record"]["policy"] == "keep" and keep["record"]["libc"].startswith("glibc ")
    assert system["faults"] > 0.9 * PAGES, system
    assert keep["faults"] < 0.01 * PAGES, keep


@glibc_only
def test_keep_reaches_the_processes_started_after_it_and_keeps_other_tunables():
    body = """
import json, os, subprocess, sys
from pybench import allocator
allocator.apply("keep")
child = subprocess.run([sys.executable, "-c", {code!r} + "print(faults())"],
                       capture_output=True, text=True, check=True)
print(json.dumps({{"tunables": os.environ["GLIBC_TUNABLES"],
                  "child_faults": float(child.stdout)}}))
""".format(code=FAULTS_PER_ROUND)
    got = _child(body, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_max=9"})
    assert got["tunables"].split(":") == ["glibc.malloc.arena_max=2",
                                          f"glibc.malloc.trim_threshold={2**31 - 1}",
                                          "glibc.malloc.mmap_max=0",
                                          "glibc.malloc.tcache_count=0"]
    assert got["child_faults"] < 0.01 * PAGES, got


# A call's output freed after a temporary the call carved out of the heap right after it: with
# glibc's tcache holding the temporary, the output cannot merge back and the next one (asking
# posix_memalign for 64-byte alignment on top) comes from fresh heap above, page-faulted in.
OUTPUT_AFTER_TEMPORARY = """
import ctypes, json
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
                                ctypes.c_size_t]
def addresses(calls=6, n=12 << 20):
    out = []
    for _ in range(calls):
        p = ctypes.c_void_p()
        assert libc.posix_memalign(ctypes.byref(p), 64, n) == 0
        libc.free(libc.malloc(200))
        libc.free(p.value)
        out.append(p.value)
    return len(set(out))
"""


@glibc_only
def test_keep_restarts_with_the_tcache_off_so_a_freed_output_is_reused_in_place():
    body = OUTPUT_AFTER_TEMPORARY + """
import os
from pybench import allocator
{setup}
print(json.dumps({{"distinct": addresses(), "record": record,
                  "pid_kept": os.getpid() == int(os.environ["PARENT_PID"])}}))
"""
    env = {"GLIBC_TUNABLES": ""}
    # What the restart fixes: mallopt alone leaves the tcache on.
    tcache_on = _child(body.format(setup="""
import ctypes
ctypes.CDLL(None).mallopt(-1, 2**31 - 1); ctypes.CDLL(None).mallopt(-4, 0)
record = None"""), {**env, "PARENT_PID": "0"})
    assert tcache_on["distinct"] > 1, tcache_on
    code = body.format(setup='record = allocator.apply("keep")')
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_ROUND + code], capture_output=True,
                         text=True, check=True, timeout=120,
                         env={**os.environ, **env, "PARENT_PID": "0"})
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout  # the restart printed nothing twice
    keep = json.loads(lines[0])
    assert keep["record"]["tcache"] == "off", keep
    assert keep["distinct"] == 1, keep


def test_a_policy_it_does_not_know_is_an_error():
    with pytest.raises(ValueError, match="allocator policy 'warm': expected one of keep, system"):
        allocator.apply("warm")


def test_without_glibc_keep_says_the_system_allocator_ran(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    record = allocator.apply("keep")
    assert record["policy"] == "system" and "not glibc" in record["note"]
    assert "the system's defaults (not glibc" in allocator.describe(record)


@pytest.mark.parametrize("suite, flag, policy", [
    ("conv", None, "keep"), ("gram", None, "keep"), ("cnn", None, "system"),
    ("conv", "system", "system"), ("cnn", "keep", "keep"),
])
def test_run_defaults_keep_for_kernel_suites_and_system_for_cnn(suite, flag, policy, capsys):
    from pybench.commands import run as run_command
    record = run_command._allocator(argparse.Namespace(suite=suite, allocator=flag))
    assert record["policy"] == policy or record.get("note")  # "system" where not glibc
    assert allocator.describe(record) in capsys.readouterr().out
