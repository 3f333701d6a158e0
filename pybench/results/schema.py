"""The result document: its version, its names, and the one way to write and read it.

A pybench result file is Google Benchmark's JSON (``context`` + ``benchmarks[]``, so
``compare.py`` and common dashboards read it) with pybench's extras under
``context["pybench"]`` (``api_version``, fingerprint, peak, failures, ...) and each
benchmark's ``"pybench"`` key (spec, samples, statistics). Every writer (the harness, the
cnn runner and its workers, the history store) goes through :func:`write`; every reader of
pybench documents through :func:`read`, which checks the version first.

This module imports nothing of pybench's, so every other module can depend on it.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

__all__ = ["API_VERSION", "BASELINE", "INTERRUPTED", "sanitize", "gb_spec_name", "result_path",
           "write", "write_bytes", "read", "read_json", "parse_json"]

#: Version of the ``context["pybench"]`` / ``benchmarks[i]["pybench"]`` layout. Raise it
#: when a field changes meaning; :func:`read` refuses documents newer than this.
API_VERSION = 1
#: The implementation speedups are computed against.
BASELINE = "torch"
#: Error message of every benchmark cut short by Ctrl-C (SIGINT).
INTERRUPTED = "interrupted (KeyboardInterrupt)"

#: The options Google Benchmark appends to a registered name in a run's name.
_GB_OPTION = re.compile(r"(manual_time|real_time|min_warmup_time:.*)")


def sanitize(obj: Any) -> Any:
    """Copy of a JSON-like object with every NaN/inf float replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    return obj


def gb_spec_name(run_name: str) -> str:
    """The registered name of a Google Benchmark run, without the options it appends:
    ``<name>/min_warmup_time:0.050/manual_time`` -> ``<name>``. Keys that do not depend on
    how a run was configured, so histories recorded with other options still compare."""
    parts = run_name.split("/")
    while parts and _GB_OPTION.fullmatch(parts[-1]):
        parts.pop()
    return "/".join(parts)


def result_path(output_dir: str | Path, stem: str) -> Path:
    """``<output_dir>/<stem>-<UTC timestamp>.json``, with a counter if that file exists."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(output_dir) / f"{stem}-{stamp}.json"
    n = 1
    while path.exists():
        path, n = Path(output_dir) / f"{stem}-{stamp}-{n}.json", n + 1
    return path


def write(path: str | Path, doc: Mapping[str, Any], *, indent: int | None = 1) -> Path:
    """Write ``doc`` as strict JSON (NaN/inf as null), atomically: a temporary file in the
    same directory renamed over ``path``, so a reader (or an interrupted run) never sees
    half a file. Creates the directory; returns ``path``."""
    text = json.dumps(sanitize(doc), indent=indent, allow_nan=False) + "\n"
    return write_bytes(path, text.encode())


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write`): the file is whole or
    absent, never half written; a crash leaves at most a ``.<name>.*.tmp`` beside it.
    Creates the directory; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> Any:
    """Any JSON file; ValueError naming the file when it is not JSON."""
    return parse_json(Path(path).read_bytes(), path)


def parse_json(data: bytes | str, path: str | Path) -> Any:
    """The JSON of file ``path``'s content ``data``; ValueError naming the file when it is
    not JSON (binary garbage and absurd nesting included)."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: not JSON this reader takes (nested too deeply)") from None


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def read(path: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The document of a pybench result file (a document passes through, checked too).

    Raises:
        ValueError: not JSON, not a pybench result (no ``context.pybench.api_version``), or
            written by a newer pybench (the message names both versions).
    """
    doc = dict(path) if isinstance(path, Mapping) else read_json(path)
    where = "document" if isinstance(path, Mapping) else str(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: not a pybench result file (a JSON {_json_kind(doc)}, not "
                         f"an object)")
    context = doc.get("context", {})
    extra = context.get("pybench") if isinstance(context, dict) else None
    if not isinstance(extra, dict) or "api_version" not in extra:
        raise ValueError(f"{where}: not a pybench result file (no context.pybench.api_version)")
    version = extra["api_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where}: bad result api_version {version!r}")
    if version > API_VERSION:
        raise ValueError(f"{where}: result api_version {version} is newer than this pybench "
                         f"reads ({API_VERSION}); update pybench to read it")
    if not isinstance(doc.get("benchmarks", []), list):
        raise ValueError(f"{where}: 'benchmarks' is not a list")
    return doc
