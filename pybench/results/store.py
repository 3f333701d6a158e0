"""The result store (history):  one Google Benchmark JSON file per machine x commit x run.

Layout (like asv's ``results/<machine>/<commit>-<env>.json``)::

    <history>/<machine>/machine.json                      the machine kind's fingerprint
    <history>/<machine>/<commit12>/<suite>-<UTC stamp>-<6 hex>.json

``<machine>`` names a machine *kind* (CPU model, core count, detected ISA, GPU), not a host:
results from two hosts of one kind are comparable, results from different kinds never are.
Every file name is unique (time stamp plus random suffix), so history trees recorded on many
machines merge by plain copying (:func:`merge`) without conflicts.

Three sources share the store, all normalised to Google Benchmark's JSON on the way in:
``pybench run`` documents (``context["pybench"]``, per-repetition samples under each
benchmark's ``"pybench"`` key), the C++ Google Benchmark binaries' ``--benchmark_out`` files
(samples are the ``run_type: iteration`` entries of each repetition) and pytest-benchmark's
``--benchmark-json`` files (converted: one iteration entry per round). Each stored file gets
``context["pybench"]["history"]``: commit, commit date, machine, source, recording time.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping


from pybench.results import schema
from pybench.results import stats as _stats
from pybench.results.schema import gb_spec_name

__all__ = ["DEFAULT_DIR", "MACHINE_KIND_FIELDS", "Record", "Run", "machine_id", "git_info",
           "detect_source", "to_gbench", "record", "add_file", "load", "merge", "records_frame"]

#: Where ``pybench run --history`` records when given no directory.
DEFAULT_DIR = ".pybench/history"
#: Fingerprint fields that define a machine kind (see the module docstring).
MACHINE_KIND_FIELDS = ("cpu_model", "cpu_count", "cpu_isa_detected", "gpu")

_TIME_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "unknown"


def machine_id(fingerprint: Mapping[str, Any]) -> str:
    """``<cpu model slug>-<8 hex>``: readable, and a hash of :data:`MACHINE_KIND_FIELDS`."""
    kind = {k: fingerprint.get(k) for k in MACHINE_KIND_FIELDS}
    digest = hashlib.sha256(json.dumps(kind, sort_keys=True).encode()).hexdigest()[:8]
    return f"{_slug(str(kind['cpu_model'] or 'unknown'), 32)}-{digest}"


def git_info(cwd: str | Path = ".") -> dict[str, Any]:
    """The commit being measured: ``{"commit", "commit_date", "dirty"}``; "unknown" and None
    outside a git work tree. ``dirty`` means tracked files differ from the commit."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        date = git("show", "-s", "--format=%cI", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "commit_date": None, "dirty": None}
    return {"commit": commit, "commit_date": date, "dirty": dirty}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --- the three input formats -------------------------------------------------------------

def detect_source(doc: Mapping[str, Any]) -> str:
    """"pybench", "google-benchmark" or "pytest-benchmark"; ValueError for anything else."""
    if not isinstance(doc, Mapping):
        raise ValueError("not a JSON object")
    if "context" in doc and "benchmarks" in doc:
        ctx = doc["context"].get("pybench") if isinstance(doc["context"], Mapping) else None
        if isinstance(ctx, Mapping) and "api_version" in ctx:
            return ctx.get("history", {}).get("source", "pybench")
        return "google-benchmark"
    if "benchmarks" in doc and "machine_info" in doc:
        return "pytest-benchmark"
    raise ValueError("neither Google Benchmark JSON (context + benchmarks) nor "
                     "pytest-benchmark JSON (machine_info + benchmarks)")


def _from_pytest_benchmark(doc: Mapping[str, Any]) -> dict[str, Any]:
    """pytest-benchmark JSON as Google Benchmark JSON: each round becomes one iteration
    entry (``stats.data`` is there with ``--benchmark-save-data``, which perf/conftest.py
    turns on), else one entry per benchmark holding the median. A benchmark's
    ``extra_info`` may name ``suite``/``case``/``implementation``/``device``."""
    info = doc.get("machine_info", {})
    context = {"date": doc.get("datetime"), "host_name": info.get("node"),
               "executable": "pytest-benchmark", "num_cpus": info.get("cpu", {}).get("count"),
               "library_version": doc.get("version"), "json_schema_version": 1}
    benchmarks = []
    for b in doc["benchmarks"]:
        extra = b.get("extra_info") or {}
        name = "/".join(str(extra[k]) for k in ("suite", "case", "implementation", "device")) \
            if all(k in extra for k in ("suite", "case", "implementation", "device")) \
            else b.get("fullname", b["name"])
        stats = b["stats"]
        data = stats.get("data") or [stats["median"]]
        iterations = int(stats.get("iterations", 1) or 1)
        for i, seconds in enumerate(data):
            benchmarks.append({"name": name, "run_name": name, "run_type": "iteration",
                               "repetitions": len(data), "repetition_index": i,
                               "iterations": iterations, "real_time": seconds * 1e3,
                               "cpu_time": seconds * 1e3, "time_unit": "ms",
                               "pybench": {k: extra[k] for k in
                                           ("suite", "case", "implementation", "device")
                                           if k in extra}})
    return {"context": context, "benchmarks": benchmarks}


def to_gbench(doc: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``(Google Benchmark JSON, source)`` for any of the three input formats."""
    source = detect_source(doc)
    if "context" not in doc:  # pytest-benchmark's own layout; once stored it has a context
        return _from_pytest_benchmark(doc), source
    return json.loads(json.dumps(doc)), source


# --- records: one benchmark of one run ---------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One benchmark of one stored run: its samples (seconds per call, one per repetition,
    in repetition order) and where they come from. ``name`` is the key compare matches on."""

    name: str
    suite: str
    case: str
    implementation: str
    device: str
    samples: tuple[float, ...]
    flops: float | None = None

    @property
    def median(self) -> float:
        return _stats.median(self.samples)

    @property
    def family(self) -> str:
        """The case's family: the part of its label before ":" (conv/CNN suites name cases
        ``model:layer``), else the suite."""
        return self.case.split(":", 1)[0] if ":" in self.case else self.suite


def records(doc: Mapping[str, Any], metric: str = "real_time") -> list[Record]:
    """The benchmarks of a Google Benchmark JSON document (pybench's or a C++ binary's).

    ``metric`` is ``"real_time"`` (wall time; pybench's manual time) or ``"cpu_time"``
    (CPU time of the benchmark's thread: robust to time-slicing on a busy host, but only
    meaningful for single-threaded CPU benchmarks).

    Samples are the ``run_type: iteration`` entries (one per repetition); aggregate entries
    (mean/median/stddev/cv) are used only when a file holds nothing else, as one sample of
    the median. Errored benchmarks are left out.
    """
    ctx = doc.get("context", {})
    pyctx = ctx.get("pybench", {}) if isinstance(ctx.get("pybench"), Mapping) else {}
    exe = Path(str(ctx.get("executable") or "gbench")).name
    default_suite = pyctx.get("suite") or f"cpp:{exe}"
    samples: dict[str, list[tuple[int, float]]] = {}
    medians: dict[str, float] = {}
    meta: dict[str, Mapping[str, Any]] = {}
    for e in doc.get("benchmarks", []):
        if e.get("error_occurred"):
            continue
        name = gb_spec_name(str(e.get("run_name", e.get("name"))))
        scale = _TIME_UNIT_S.get(e.get("time_unit", "ns"), 1e-9)
        if e.get(metric) is None:
            continue
        if e.get("run_type", "iteration") == "iteration":
            samples.setdefault(name, []).append(
                (int(e.get("repetition_index", 0)), float(e[metric]) * scale))
            meta.setdefault(name, e.get("pybench") or {})
        elif e.get("aggregate_name") == "median":
            medians[name] = float(e[metric]) * scale
            meta.setdefault(name, e.get("pybench") or {})
    out = []
    for name in list(samples) + [n for n in medians if n not in samples]:
        values = tuple(s for _, s in sorted(samples[name])) if name in samples else (medians[name],)
        m = meta.get(name, {})
        if "case" in m:
            suite, case = m.get("suite", default_suite), m["case"]
            impl, device = m.get("implementation", ""), m.get("device", "cpu")
        else:  # a C++ binary: BM_<op>/<variant>/<args...>; the variant is the implementation
            parts = name.split("/")
            suite, case, device = default_suite, name, "cuda" if "cuda" in name.lower() else "cpu"
            impl = parts[1] if len(parts) > 1 and not re.search(r"[:=]|^\d+$", parts[1]) else ""
            if impl:
                case = "/".join(parts[:1] + parts[2:])
        out.append(Record(name, suite, case, impl, device, values, m.get("flops")))
    return out


@dataclass
class Run:
    """One stored file of the history."""

    path: Path
    machine: str
    commit: str
    commit_date: str | None
    recorded_at: str
    source: str
    suite: str | None
    document: dict[str, Any] = field(repr=False)
    records: list[Record] = field(repr=False, default_factory=list)

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        return self.document["context"].get("pybench", {}).get("fingerprint", {})


# --- writing -------------------------------------------------------------------------------

def record(doc: Mapping[str, Any], history: str | Path = DEFAULT_DIR, *,
           fingerprint: Mapping[str, Any] | None = None, machine: str | None = None,
           git: Mapping[str, Any] | None = None, cwd: str | Path = ".") -> Path:
    """Store one result document (any of the three formats) in ``history``; returns its path.

    The machine is ``machine`` if given, else derived from the document's own fingerprint
    (pybench files), else from ``fingerprint`` (the ingesting machine's, for C++ and
    pytest-benchmark files). The commit is ``git`` if given, else HEAD of ``cwd``.
    """
    gb, source = to_gbench(doc)
    ctx = gb.setdefault("context", {})
    py = ctx.setdefault("pybench", {})
    py.setdefault("api_version", schema.API_VERSION)
    fp = py.get("fingerprint") or fingerprint or {}
    if fp and "fingerprint" not in py:
        py["fingerprint"] = dict(fp)
    mid = machine or machine_id(fp)
    g = dict(git) if git is not None else git_info(cwd)
    if source != "pybench":
        suites = {r.suite for r in records(gb)}
        py.setdefault("suite", suites.pop() if len(suites) == 1 else source)
    py["history"] = {"machine": mid, "commit": g.get("commit", "unknown"),
                     "commit_date": g.get("commit_date"), "dirty": g.get("dirty"),
                     "source": source, "recorded_at": _now()}
    root = Path(history) / mid
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = root / str(g.get("commit", "unknown"))[:12] / \
        f"{_slug(str(py.get('suite', 'run')), 60)}-{stamp}-{secrets.token_hex(3)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    machine_file = root / "machine.json"
    if fp and not machine_file.exists():
        kind = {k: fp.get(k) for k in MACHINE_KIND_FIELDS}
        schema.write(machine_file, {"machine": mid, **kind})
    return schema.write(path, gb)


def add_file(path: str | Path, history: str | Path = DEFAULT_DIR, **kwargs: Any) -> Path:
    """:func:`record` for a JSON file on disk (``pybench history add``)."""
    doc = schema.read_json(path)
    try:
        detect_source(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return record(doc, history, **kwargs)


def merge(sources: Iterable[str | Path], history: str | Path) -> list[Path]:
    """Copy every history file of ``sources`` into ``history``; returns the files added.
    Files already present with the same content are skipped; a name clash with different
    content (impossible for files :func:`record` wrote) raises."""
    added = []
    dest_root = Path(history)
    for src in sources:
        src = Path(src)
        for f in sorted(src.rglob("*.json")):
            dest = dest_root / f.relative_to(src)
            if dest.exists():
                if dest.read_bytes() != f.read_bytes():
                    raise FileExistsError(f"{dest} exists with different content")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
            if f.name != "machine.json":
                added.append(dest)
    return added


# --- reading -------------------------------------------------------------------------------

def load_run(path: str | Path, metric: str = "real_time") -> Run:
    """One result file, from a history tree or not (then machine and commit come from its
    fingerprint, or are "unknown")."""
    path = Path(path)
    gb, source = to_gbench(schema.read_json(path))
    py = gb.get("context", {}).get("pybench", {})
    h = py.get("history", {})
    fp = py.get("fingerprint")
    return Run(path=path, machine=h.get("machine") or (machine_id(fp) if fp else "unknown"),
               commit=h.get("commit", "unknown"), commit_date=h.get("commit_date"),
               recorded_at=h.get("recorded_at") or gb.get("context", {}).get("date") or "",
               source=h.get("source", source), suite=py.get("suite"), document=gb,
               records=records(gb, metric))


def load(paths: str | Path | Iterable[str | Path], metric: str = "real_time") -> list[Run]:
    """Every run under the given files/directories (recursively), oldest first by commit
    date then recording time. ``machine.json`` files are skipped."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.json") if f.name != "machine.json")
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    runs = [load_run(f, metric) for f in files]
    runs.sort(key=lambda r: (r.commit_date or "", r.recorded_at))
    return runs


def records_frame(runs: Iterable[Run]):
    """A pandas DataFrame, one row per benchmark per run: machine, commit, commit_date,
    recorded_at, run (file), suite, family, case, implementation, device, name, median_s,
    n (samples), flops."""
    import pandas as pd
    rows = [{"machine": r.machine, "commit": r.commit, "commit_date": r.commit_date,
             "recorded_at": r.recorded_at, "run": str(r.path), "suite": rec.suite,
             "family": rec.family, "case": rec.case, "implementation": rec.implementation,
             "device": rec.device, "name": rec.name, "median_s": rec.median,
             "n": len(rec.samples), "flops": rec.flops}
            for r in runs for rec in r.records]
    columns = ["machine", "commit", "commit_date", "recorded_at", "run", "suite", "family",
               "case", "implementation", "device", "name", "median_s", "n", "flops"]
    return pd.DataFrame.from_records(rows, columns=columns)


def environ_history(default: str = DEFAULT_DIR) -> str:
    """``$PYBENCH_HISTORY`` or the default directory."""
    return os.environ.get("PYBENCH_HISTORY", default)


def committed_baseline(history: str | Path, machine: str, cwd: str | Path = ".") -> list[Path]:
    """The runs of the newest commit (by commit date) that git tracks under
    ``<history>/<machine>/``: the committed baseline CI compares against; [] if none."""
    try:
        out = subprocess.run(["git", "ls-files", "--", str(Path(history) / machine)], cwd=cwd,
                             capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [Path(cwd) / f for f in out.splitlines()
             if f.endswith(".json") and not f.endswith("machine.json")]
    runs = [load_run(f) for f in files if f.exists()]
    if not runs:
        return []
    newest = max(runs, key=lambda r: (r.commit_date or "", r.recorded_at)).commit
    return sorted(r.path for r in runs if r.commit == newest)
