"""The result store (history):  one Google Benchmark JSON file per machine x commit x run.

Layout (like asv's ``results/<machine>/<commit>-<env>.json``)::

    <history>/<machine>/machine.json                      the machine kind's fingerprint
    <history>/<machine>/<commit12>/<suite>-<UTC stamp>-<6 hex>.json

``<machine>`` names a machine *kind* (CPU model, core count, detected ISA, GPU), not a host:
results from two hosts of one kind are comparable, results from different kinds never are.
Every file name is unique (time stamp plus random suffix), so history trees recorded on many
machines merge by plain copying (:func:`merge`) without conflicts.

Names are checked before anything is written: a machine id is ``[A-Za-z0-9][A-Za-z0-9._-]*``
(at most 80 characters), a commit is hex (4 to 64 digits) or ``unknown``, and every path the
store writes is resolved and must lie inside the history directory (symbolic links
included), so no name from a command line or a merged tree can reach outside it. Every file
is written atomically (a temporary file renamed into place), so a crash leaves either the
whole file or none; the temporaries (``.*.tmp``) are never read as runs. :func:`merge`
validates every file of every source before it copies any.

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
import math
import os
import re
import secrets
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pybench import catalog
from pybench.results import schema
from pybench.results import stats as _stats
from pybench.results.schema import gb_spec_name

__all__ = ["DEFAULT_DIR", "MACHINE_KIND_FIELDS", "Record", "Run", "machine_id", "git_info",
           "check_machine", "check_commit", "detect_source", "to_gbench", "record", "add_file",
           "add_files", "read_files", "load", "load_run", "merge", "records_frame"]

#: Where ``pybench run --history`` records when given no directory.
DEFAULT_DIR = ".pybench/history"
#: Fingerprint fields that define a machine kind (see the module docstring).
MACHINE_KIND_FIELDS = ("cpu_model", "cpu_count", "cpu_isa_detected", "gpu")

_TIME_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

_MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
_COMMIT = re.compile(r"[0-9a-f]{4,64}")
#: The commit of results recorded outside a git work tree.
UNKNOWN_COMMIT = "unknown"
#: A run file's name (:func:`record` makes ``<suite slug>-<stamp>-<6 hex>.json``): plain, not
#: hidden.
_RUN_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json")


def check_machine(name: Any) -> str:
    """``name`` if it is a valid machine id (the directory a machine kind's runs live in):
    letters, digits, ``.``, ``_``, ``-``, not starting with ``.`` or ``-``, at most 80;
    else ValueError."""
    if not isinstance(name, str) or not _MACHINE.fullmatch(name):
        raise ValueError(f"bad machine id {name!r}: expected letters, digits, '.', '_' or '-' "
                         f"(at most 80, starting with a letter or digit)")
    return name


def check_commit(commit: Any) -> str:
    """``commit`` lower-cased if it is a git commit (4 to 64 hex digits) or "unknown"; else
    ValueError. Its first 12 digits name the run's directory."""
    if isinstance(commit, str) and (commit == UNKNOWN_COMMIT or _COMMIT.fullmatch(commit.lower())):
        return commit.lower()
    raise ValueError(f"bad commit {commit!r}: expected a git commit (4 to 64 hex digits)")


def _inside(root: Path, path: Path) -> Path:
    """``path`` if, resolved (symbolic links followed), it lies inside ``root``; else
    ValueError. The last line of defence: names are checked before they get here."""
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise ValueError(f"{path}: outside the history directory {root}")
    return path


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
        if not isinstance(doc["context"], Mapping) or not isinstance(doc["benchmarks"], list):
            raise ValueError("Google Benchmark JSON needs a 'context' object and a "
                             "'benchmarks' list")
        ctx = doc["context"].get("pybench")
        if isinstance(ctx, Mapping) and "api_version" in ctx:
            version = ctx["api_version"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValueError(f"bad result api_version {version!r}")
            if version > schema.API_VERSION:
                raise ValueError(f"result api_version {version} is newer than this pybench "
                                 f"reads ({schema.API_VERSION}); update pybench to read it")
            h = ctx.get("history", {})
            if not isinstance(h, Mapping):
                raise ValueError("context.pybench.history is not an object")
            source = h.get("source", "pybench")
            if source not in ("pybench", "google-benchmark", "pytest-benchmark"):
                raise ValueError(f"unknown history source {source!r}")
            return source
        return "google-benchmark"
    if "benchmarks" in doc and "machine_info" in doc:
        if not isinstance(doc["benchmarks"], list) or not isinstance(doc["machine_info"], Mapping):
            raise ValueError("pytest-benchmark JSON needs a 'benchmarks' list and a "
                             "'machine_info' object")
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
        for seconds in data:
            _time({"t": seconds, "time_unit": "s"}, "t", name)
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
        """The model family of the case's model (cases of the cnn, conv and separable suites
        start with a registry model's name: ``resnet18/N:1/...``, ``resnet18:layer1...``):
        "ResNet" for ResNet-18 and -50 alike -- it was the model's name, so a "family" table
        listed models; else the part of the label before ":", else the suite."""
        family = _model_family(re.split(r"[:/ ]", self.case, maxsplit=1)[0])
        if family:
            return family
        return self.case.split(":", 1)[0] if ":" in self.case else self.suite


def _model_family(name: str) -> str | None:
    # The static copy of the model registry: reading a history needs no torch.
    return catalog.model_family(name)


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
    if not isinstance(ctx, Mapping) or not isinstance(doc.get("benchmarks", []), list):
        raise ValueError("expected a 'context' object and a 'benchmarks' list")
    pyctx = ctx.get("pybench", {}) if isinstance(ctx.get("pybench"), Mapping) else {}
    exe = Path(str(ctx.get("executable") or "gbench")).name
    default_suite = str(pyctx.get("suite") or f"cpp:{exe}")
    samples: dict[str, list[tuple[int, float]]] = {}
    medians: dict[str, float] = {}
    meta: dict[str, Mapping[str, Any]] = {}
    for i, e in enumerate(doc.get("benchmarks", [])):
        if not isinstance(e, Mapping):
            raise ValueError(f"benchmarks[{i}] is not an object")
        if e.get("error_occurred"):
            continue
        name = gb_spec_name(str(e.get("run_name", e.get("name"))))
        value = _time(e, metric, name)
        if value is None:
            continue
        m = e.get("pybench") or {}
        if not isinstance(m, Mapping):
            raise ValueError(f"benchmark {name!r}: its 'pybench' entry is not an object")
        if e.get("run_type", "iteration") == "iteration":
            index = e.get("repetition_index", 0)
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"benchmark {name!r}: repetition_index {index!r} is not an "
                                 f"integer")
            samples.setdefault(name, []).append((index, value))
            meta.setdefault(name, m)
        elif e.get("aggregate_name") == "median":
            medians[name] = value
            meta.setdefault(name, m)
    out = []
    for name in list(samples) + [n for n in medians if n not in samples]:
        values = tuple(s for _, s in sorted(samples[name])) if name in samples else (medians[name],)
        m = meta.get(name, {})
        if "case" in m:
            suite, case = str(m.get("suite", default_suite)), str(m["case"])
            impl, device = str(m.get("implementation", "")), str(m.get("device", "cpu"))
        else:  # a C++ binary: BM_<op>/<variant>/<args...>; the variant is the implementation
            parts = name.split("/")
            suite, case, device = default_suite, name, "cuda" if "cuda" in name.lower() else "cpu"
            impl = parts[1] if len(parts) > 1 and not re.search(r"[:=]|^\d+$", parts[1]) else ""
            if impl:
                case = "/".join(parts[:1] + parts[2:])
        flops = m.get("flops")
        if flops is not None and (isinstance(flops, bool) or not isinstance(flops, (int, float))):
            raise ValueError(f"benchmark {name!r}: flops {flops!r} is not a number")
        out.append(Record(name, suite, case, impl, device, values, flops))
    return out


def _time(entry: Mapping[str, Any], metric: str, name: str) -> float | None:
    """``entry[metric]`` in seconds; None where absent or null (pybench writes null for a
    value it could not measure). NaN, infinities, negative times and unknown units are
    errors: a comparison must not quietly drop or rank them."""
    value = entry.get(metric)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"benchmark {name!r}: {metric} is {value!r}; expected a finite time "
                         f">= 0 (or null)")
    unit = entry.get("time_unit", "ns")
    if unit not in _TIME_UNIT_S:
        raise ValueError(f"benchmark {name!r}: unknown time_unit {unit!r} (expected one of "
                         f"{', '.join(_TIME_UNIT_S)})")
    return float(value) * _TIME_UNIT_S[unit]


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
    py = _pybench_context(gb)
    py.setdefault("api_version", schema.API_VERSION)
    fp = py.get("fingerprint") or fingerprint or {}
    if fp and "fingerprint" not in py:
        py["fingerprint"] = dict(fp)
    mid = check_machine(machine or machine_id(fp))
    g = dict(git) if git is not None else git_info(cwd)
    commit = check_commit(g.get("commit", UNKNOWN_COMMIT))
    recs = records(gb)  # validates the samples before anything is written
    if source != "pybench":
        suites = {r.suite for r in recs}
        py.setdefault("suite", suites.pop() if len(suites) == 1 else source)
    py["history"] = {"machine": mid, "commit": commit,
                     "commit_date": g.get("commit_date"), "dirty": g.get("dirty"),
                     "source": source, "recorded_at": _now()}
    root = Path(history)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = _inside(root, root / mid / commit[:12] /
                   f"{_slug(str(py.get('suite', 'run')), 60)}-{stamp}-{secrets.token_hex(3)}.json")
    machine_file = _inside(root, root / mid / "machine.json")
    if fp and not machine_file.exists():
        kind = {k: fp.get(k) for k in MACHINE_KIND_FIELDS}
        schema.write(machine_file, {"machine": mid, **kind})
    return schema.write(path, gb)


def _pybench_context(gb: dict[str, Any]) -> dict[str, Any]:
    """``context["pybench"]`` of a converted document, made if absent; ValueError if it or
    the fingerprint in it is not an object."""
    py = gb["context"].setdefault("pybench", {})
    if not isinstance(py, dict):
        raise ValueError("context.pybench is not an object")
    if not isinstance(py.get("fingerprint") or {}, Mapping):
        raise ValueError("context.pybench.fingerprint is not an object")
    return py


def add_file(path: str | Path, history: str | Path = DEFAULT_DIR, **kwargs: Any) -> Path:
    """:func:`record` for a JSON file on disk (``pybench history add``)."""
    return add_files([path], history, **kwargs)[0]


def add_files(paths: Iterable[str | Path], history: str | Path = DEFAULT_DIR,
              **kwargs: Any) -> list[Path]:
    """:func:`record` for JSON files on disk: all of them are read and validated first
    (:func:`read_files`), so a bad one stores none."""
    return [record(doc, history, **kwargs) for doc in read_files(paths)]


def read_files(paths: Iterable[str | Path]) -> list[Any]:
    """The documents of result files in any of the three formats, each validated as
    :func:`record` will read it; ValueError naming the first bad file."""
    docs = []
    for path in paths:
        try:
            doc = schema.read_json(path)
            gb, _ = to_gbench(doc)
            records(gb)
            _pybench_context(gb)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _file_error(path, exc) from None
        docs.append(doc)
    return docs


def _file_error(path: str | Path, exc: Exception) -> ValueError:
    """One ValueError naming the file: ours already say what is wrong; anything else a
    malformed document raised (a missing key, a wrong type) is named by its kind."""
    text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, ValueError):
        text = f"not a valid result file ({text})"
    return ValueError(text if text.startswith(str(path)) else f"{path}: {text}")


def _tree_files(src: Path) -> list[Path]:
    """Every ``*.json`` under ``src``, refusing symbolic links (a link could smuggle a file
    from anywhere into the store) and skipping the temporaries of atomic writes."""
    if not src.is_dir():
        raise ValueError(f"{src}: no such history directory" if not src.exists()
                         else f"{src}: not a directory")
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            if (Path(dirpath) / name).is_symlink():
                raise ValueError(f"{Path(dirpath) / name}: a symbolic link; a history tree "
                                 f"holds plain files")
        found += [Path(dirpath) / f for f in filenames if f.endswith(".json")]
    return sorted(found)


def _check_tree_file(src: Path, f: Path, data: bytes) -> None:
    """``f`` (under ``src``, its content ``data``) is a history file: ``<machine>/machine.json``
    naming its machine, or ``<machine>/<commit12>/<run>.json``, a result document whose
    recorded machine and commit are its directories'. ValueError naming ``f`` otherwise."""
    rel = f.relative_to(src)
    parts = rel.parts
    layout = "expected <machine>/machine.json or <machine>/<commit>/<run>.json"
    try:
        if len(parts) == 2 and parts[1] == "machine.json":
            check_machine(parts[0])
            doc = schema.parse_json(data, f)
            if not isinstance(doc, Mapping) or doc.get("machine") != parts[0]:
                raise ValueError(f"not the machine file of {parts[0]!r}")
            return
        if len(parts) != 3 or not _RUN_FILE.fullmatch(parts[2]):
            raise ValueError(f"not a history file ({layout})")
        check_machine(parts[0])
        if check_commit(parts[1]) != parts[1] or len(parts[1]) > 12:
            raise ValueError(f"bad commit directory {parts[1]!r} ({layout})")
        run = _run(f, schema.parse_json(data, f), "real_time")
        h = run.document["context"]["pybench"].get("history")
        if not isinstance(h, Mapping):
            raise ValueError("a result file, not a history run (no context.pybench.history)")
        if run.machine != parts[0] or run.commit[:12] != parts[1]:
            raise ValueError(f"recorded for machine {run.machine!r} and commit "
                             f"{run.commit[:12]!r}, filed under {parts[0]}/{parts[1]}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _file_error(f, exc) from None


def _check_writable(root: Path) -> None:
    """Create ``root`` and a file in it (then remove it), so that a history that cannot be
    written fails before the first copy, not halfway through; ValueError naming it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test-", suffix=".tmp", dir=root)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ValueError(f"history directory {root}: cannot write there "
                         f"({exc.strerror or exc})") from None


def merge(sources: Iterable[str | Path], history: str | Path) -> list[Path]:
    """Copy every history file of ``sources`` into ``history``; returns the runs added.

    Every file of every source is validated first (:func:`_check_tree_file`); the first bad
    one raises ValueError naming it, and nothing is copied. A source that is missing or
    holds no runs is an error too. Files already present with the same content are skipped;
    a name clash with different content (impossible for files :func:`record` wrote) raises
    FileExistsError, before anything is copied too. Each copy is atomic."""
    root = Path(history)
    plan: dict[Path, Path] = {}
    for src in map(Path, sources):
        files = _tree_files(src)
        if not any(f.name != "machine.json" for f in files):
            raise ValueError(f"{src}: no history runs in it (expected "
                             f"<machine>/<commit>/<run>.json)")
        for f in files:
            data = f.read_bytes()  # validated and copied from this one read
            _check_tree_file(src, f, data)
            dest = _inside(root, root / f.relative_to(src))
            earlier = plan.get(dest)
            if (earlier is not None and earlier != data) or \
                    (dest.exists() and dest.read_bytes() != data):
                raise FileExistsError(f"{f}: {dest} exists with different content")
            if not dest.exists():
                plan[dest] = data
    _check_writable(root)
    added = []
    for dest, data in plan.items():
        schema.write_bytes(dest, data)
        if dest.name != "machine.json":
            added.append(dest)
    return added


# --- reading -------------------------------------------------------------------------------

def load_run(path: str | Path, metric: str = "real_time") -> Run:
    """One result file, from a history tree or not (then machine and commit come from its
    fingerprint, or are "unknown"). ValueError naming the file for anything malformed."""
    path = Path(path)
    try:
        return _load_run(path, metric)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _file_error(path, exc) from None


def _load_run(path: Path, metric: str) -> Run:
    return _run(path, schema.read_json(path), metric)


def _run(path: Path, doc: Any, metric: str) -> Run:
    gb, source = to_gbench(doc)
    ctx = gb.setdefault("context", {})
    py = ctx.setdefault("pybench", {})
    if not isinstance(py, Mapping):
        raise ValueError("context.pybench is not an object")
    h = py.get("history", {})
    fp = py.get("fingerprint")
    if not isinstance(h, Mapping) or not isinstance(fp, (Mapping, type(None))):
        raise ValueError("context.pybench.history / fingerprint is not an object")
    run = Run(path=path, machine=h.get("machine") or (machine_id(fp) if fp else "unknown"),
              commit=h.get("commit", UNKNOWN_COMMIT), commit_date=h.get("commit_date"),
              recorded_at=h.get("recorded_at") or ctx.get("date") or "",
              source=h.get("source", source), suite=py.get("suite"), document=gb,
              records=records(gb, metric))
    # Sorted and printed as strings; a number here would fail far from the file.
    for name in ("machine", "commit", "recorded_at", "source"):
        if not isinstance(getattr(run, name), str):
            raise ValueError(f"{name} {getattr(run, name)!r} is not a string")
    for name in ("commit_date", "suite"):
        if not isinstance(getattr(run, name), (str, type(None))):
            raise ValueError(f"{name} {getattr(run, name)!r} is not a string")
    return run


def load(paths: str | Path | Iterable[str | Path], metric: str = "real_time") -> list[Run]:
    """Every run under the given files/directories (recursively), oldest first by commit
    date then recording time. ``machine.json`` files are skipped."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.json")
                            if f.name != "machine.json" and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    runs = [load_run(f, metric) for f in files]
    runs.sort(key=lambda r: (r.commit_date or "", r.recorded_at))
    return runs


def _spread(samples: Sequence[float]) -> dict[str, float]:
    stats = _stats.summarize(samples)
    return {"p10_s": stats["p10"], "p90_s": stats["p90"]}


def records_frame(runs: Iterable[Run]):
    """A pandas DataFrame, one row per benchmark per run: machine, commit, commit_date,
    recorded_at, run (file), suite, family, case, implementation, device, name, median_s,
    p10_s / p90_s (the samples' spread), n (samples), flops."""
    import pandas as pd
    rows = [{"machine": r.machine, "commit": r.commit, "commit_date": r.commit_date,
             "recorded_at": r.recorded_at, "run": str(r.path), "suite": rec.suite,
             "family": rec.family, "case": rec.case, "implementation": rec.implementation,
             "device": rec.device, "name": rec.name, "median_s": rec.median,
             **_spread(rec.samples), "n": len(rec.samples), "flops": rec.flops}
            for r in runs for rec in r.records]
    columns = ["machine", "commit", "commit_date", "recorded_at", "run", "suite", "family",
               "case", "implementation", "device", "name", "median_s", "p10_s", "p90_s", "n",
               "flops"]
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
