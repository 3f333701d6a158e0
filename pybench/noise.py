"""Is the machine quiet enough to time on? What else used the CPUs while pybench measured.

Timings on a shared machine are slower and noisier (on 2 cores, another job inflated
pybench's ratios 1.5-3x, and a LeNet-5 ratio of 2.06x came out 0.71x at load 2.1) and
nothing in the numbers says so. ``run`` therefore samples the machine before it starts,
around every model of the cnn suite, and at the end, stores the samples in the result file
(``context.pybench.noise``, and ``other_busy_cpus`` per cnn case), warns on stderr when the
machine was busy, and the reports mark what ran busy.

What counts: the CPU time every process on the machine used (``/proc/stat``: user, nice,
system, irq, softirq, and steal -- time a hypervisor gave to another guest), less the time
pybench and its workers used (``os.times``, children included once joined, and the live
descendants' from ``/proc/<pid>/stat``: torch.compile's compile workers live as long as
pybench), divided by the wall time: "other processes kept this many CPUs busy". Busy means at least
:data:`BUSY_OTHER_CPUS` of them, or a 1-minute load average of at least :data:`BUSY_LOAD`
before the run starts (when pybench itself adds nothing to it). Linux only; elsewhere the
samples hold what is readable and never mark a run busy.
"""
from __future__ import annotations

import datetime as _dt
import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Other processes using this many CPUs (a fifth of a core) mark a measurement busy.
BUSY_OTHER_CPUS = 0.2
#: A 1-minute load average of this much before a run marks it busy (DEVELOPERS.md's idle
#: rule: measure only under 0.5).
BUSY_LOAD = 0.5


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds the whole machine spent busy (None where /proc/stat is unreadable),
    CPU seconds of this process and its joined children, and a monotonic time."""
    machine_busy_s: float | None
    own_s: float
    wall: float


def _machine_busy_s(proc: str = "/proc") -> float | None:
    try:
        with open(os.path.join(proc, "stat")) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    # already inside user / nice.
    ticks = [int(v) for v in fields[1:9]] + [0] * max(0, 9 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _live_descendants_s(proc: str = "/proc") -> float:
    """CPU seconds of this process's live descendants (and of their own joined children):
    the processes ``os.times`` does not count until they are joined, such as inductor's
    compile worker pool."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in glob.glob(os.path.join(proc, "[0-9]*", "stat")):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ... utime stime cutime cstime": comm may hold spaces and
        # parentheses, so split after its last ')'.
        pid = int(text.split(" ", 1)[0])
        rest = text[text.rfind(")") + 2:].split()
        if len(rest) < 15:
            continue
        parent[pid] = int(rest[1])
        ticks[pid] = sum(int(v) for v in rest[11:15])
    me, total = os.getpid(), 0
    for pid in ticks:
        p, seen = parent.get(pid), 0
        while p is not None and p != me and p > 1 and seen < 64:
            p, seen = parent.get(p), seen + 1
        if p == me and pid != me:
            total += ticks[pid]
    return total / os.sysconf("SC_CLK_TCK")


def snapshot(proc: str = "/proc") -> Snapshot:
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    if os.path.isdir(proc):
        own += _live_descendants_s(proc)
    return Snapshot(_machine_busy_s(proc), own, time.monotonic())


def other_busy_cpus(a: Snapshot, b: Snapshot) -> float | None:
    """CPUs' worth of time processes other than this one (and its descendants) used
    between ``a`` and ``b``; None where the machine's time is unreadable."""
    if a.machine_busy_s is None or b.machine_busy_s is None or b.wall <= a.wall:
        return None
    other = (b.machine_busy_s - a.machine_busy_s) - (b.own_s - a.own_s)
    return max(0.0, other) / (b.wall - a.wall)


def cpu_mhz(sys_root: str = "/sys") -> list[float] | None:
    """Current frequency of each CPU where the kernel exposes it (often not in a VM)."""
    paths = sorted(glob.glob(os.path.join(sys_root, "devices/system/cpu/cpu[0-9]*/cpufreq/"
                                                     "scaling_cur_freq")))
    mhz = []
    for p in paths:
        try:
            mhz.append(int(Path(p).read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return mhz or None


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def assess(other_cpus: float | None, load: list[float] | None = None) -> list[str]:
    """Why a sample counts as busy (empty: quiet)."""
    why = []
    if other_cpus is not None and other_cpus >= BUSY_OTHER_CPUS:
        why.append(f"other processes used {other_cpus:.2f} CPUs")
    if load is not None and load[0] >= BUSY_LOAD:
        why.append(f"1-minute load average {load[0]:.2f}")
    return why


def sample(seconds: float = 0.5, *, proc: str = "/proc", sys_root: str = "/sys",
           use_load: bool = True) -> dict[str, Any]:
    """The machine over the next ``seconds`` (this process idle meanwhile): load average,
    other processes' CPUs, frequencies, and whether that is busy. ``use_load=False`` when
    pybench itself has been running (its threads are in the load average)."""
    a = snapshot(proc)
    time.sleep(seconds)
    b = snapshot(proc)
    other = other_busy_cpus(a, b)
    load = loadavg()
    why = assess(other, load if use_load else None)
    return {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "loadavg": load, "other_busy_cpus": None if other is None else round(other, 3),
            "cpu_mhz": cpu_mhz(sys_root), "busy": bool(why), "why": why}


def warning(when: str, s: dict[str, Any]) -> str | None:
    """The stderr warning for a busy sample taken ``when`` ("before the run" ...)."""
    if not s.get("busy"):
        return None
    return (f"pybench: warning: the machine was busy {when} ({'; '.join(s['why'])}): "
            f"timings run slower and noisier than on an idle machine. Stop other jobs and "
            f"run again, or compare only ratios measured in one run (README: Noise).")


def thresholds() -> dict[str, float]:
    return {"busy_other_cpus": BUSY_OTHER_CPUS, "busy_load": BUSY_LOAD}


def run_summary(noise: dict[str, Any] | None, cases: list[dict[str, Any]] | None = None
                ) -> list[str]:
    """Lines for a report's headline: whether the machine was quiet before, during (per
    cnn model) and after the run. Empty for result files from before pybench sampled."""
    if not noise:
        return []
    lines = []
    before, after = noise.get("before") or {}, noise.get("after") or {}
    busy_cases = [c for c in cases or [] if c.get("busy")]
    if before.get("busy"):
        lines.append(f"BUSY MACHINE before the run ({'; '.join(before['why'])}): every timing "
                     f"below may be inflated")
    if busy_cases:
        named = ", ".join(f"{c['model']} ({c['other_busy_cpus']:.2f} CPUs)" for c in busy_cases)
        lines.append(f"BUSY during {len(busy_cases)} of {len(cases)} models -- other processes "
                     f"kept CPUs busy while they ran: {named}; their timings may be inflated")
    if after.get("busy"):
        lines.append(f"busy after the run ({'; '.join(after['why'])})")
    if not lines:
        load = before.get("loadavg")
        during = [c["other_busy_cpus"] for c in cases or [] if c.get("other_busy_cpus") is not None]
        lines.append("machine quiet: 1-minute load average "
                     f"{load[0] if load else '?'} before the run"
                     + (f", other processes at most {max(during):.2f} CPUs during any model"
                        if during else ""))
    return lines
