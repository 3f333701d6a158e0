"""ptxas resource reports of the CUDA kernels: registers, shared memory, stack, spills.

``build_report`` compiles every torch-free kernel source once per architecture with
``nvcc -c -Xptxas -v`` and parses ptxas' ``info`` lines into a JSON-able dict, one entry
per (function, architecture). ``setup.py`` writes it next to the built ``_C`` library as
``ptxas_report.json`` and fails the build when ``spilling_kernels`` is not empty.

Pure standard library on purpose: setup.py loads this file by path while building, before
(and without) importing torch or the pybench package.

Run as a script to print a report: ``python pybench/_ptxas.py path/to/ptxas_report.json``.
"""
from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "FORMAT_VERSION", "REPORT_NAME", "PtxasError", "build_report", "parse_ptxas_output",
    "demangle", "write_report", "read_report", "spilling_kernels", "kernel_entries",
    "format_report",
]

#: Version of the report layout; read_report refuses others.
FORMAT_VERSION = 1
#: File name of the report next to the built library.
REPORT_NAME = "ptxas_report.json"


class PtxasError(RuntimeError):
    """nvcc is missing or failed, or a report file is not one this module wrote."""


# ptxas -v lines (CUDA 11 to 13). "Used" lines list only what is non-zero or known to
# that ptxas version, so every field has its own pattern.
_COMPILING = re.compile(r"Compiling (entry )?function '([^']+)' for '(sm_\w+)'")
_PROPERTIES = re.compile(r"Function properties for (\S+)")
_FRAME = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGISTERS = re.compile(r"Used (\d+) registers")
_BARRIERS = re.compile(r"used (\d+) barriers")
_SMEM = re.compile(r"(\d+) bytes smem")
_CMEM = re.compile(r"(\d+) bytes cmem\[(\d+)\]")
_CUMULATIVE_STACK = re.compile(r"(\d+) bytes cumulative stack size")



def find_cuda_home():
    """The CUDA toolkit folder (nvcc in bin/, libcudart in lib64/), or None.

    torch's own guess takes the parent of the first nvcc on PATH, which here is a link in
    /usr/local/bin and so points at /usr/local, where the CUDA libraries are not.
    """
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    candidates += ["/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    for c in candidates:
        if c and (Path(c) / "bin" / "nvcc").exists() and glob.glob(f"{c}/lib64/libcudart.so*"):
            return str(Path(c).resolve())
    return None

def _arch_number(arch: str | int) -> str:
    """"80", 80, "sm_80" and "compute_80" all mean "80"."""
    text = str(arch)
    for prefix in ("sm_", "compute_"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if not re.fullmatch(r"\d+[a-z]?", text):
        raise ValueError(f"not a CUDA architecture: {arch!r} (expected e.g. '80' or 'sm_80')")
    return text


def _new_entry(mangled: str, arch: str | None, kind: str) -> dict:
    return {
        "name": mangled,
        "mangled": mangled,
        "kind": kind,  # "entry" (a __global__ kernel) or "function" (a non-inlined callee)
        "arch": arch,
        "registers": None,
        "barriers": None,
        "shared_bytes": 0,
        "constant_bytes": {},
        "stack_frame_bytes": 0,
        "cumulative_stack_bytes": 0,
        "spill_store_bytes": 0,
        "spill_load_bytes": 0,
    }


def parse_ptxas_output(text: str, arch: str | None = None) -> list[dict]:
    """Function entries of one ptxas -v output, in the order ptxas reports them.

    ``arch`` (e.g. "sm_80") is used for functions whose line names none. Names stay
    mangled here; build_report demangles them.
    """
    default_arch = f"sm_{_arch_number(arch)}" if arch is not None else None
    entries: dict[tuple[str, str | None], dict] = {}
    current: dict | None = None  # the function the next "Used ..." line belongs to
    pending: dict | None = None  # the function the next stack-frame line belongs to

    def entry(name: str, at: str | None, kind: str) -> dict:
        key = (name, at)
        if key not in entries:
            entries[key] = _new_entry(name, at, kind)
        elif kind == "entry":
            entries[key]["kind"] = "entry"
        return entries[key]

    for line in text.splitlines():
        m = _COMPILING.search(line)
        if m:
            current = entry(m.group(2), m.group(3), "entry" if m.group(1) else "function")
            pending = None
            continue
        m = _PROPERTIES.search(line)
        if m:
            name = m.group(1)
            at = current["arch"] if current is not None else default_arch
            if current is not None and current["mangled"] == name:
                pending = current
            else:
                pending = entry(name, at, "function")
            continue
        m = _FRAME.search(line)
        if m and pending is not None:
            pending["stack_frame_bytes"] = int(m.group(1))
            pending["spill_store_bytes"] = int(m.group(2))
            pending["spill_load_bytes"] = int(m.group(3))
            pending = None
            continue
        m = _REGISTERS.search(line)
        if m and current is not None:
            current["registers"] = int(m.group(1))
            b = _BARRIERS.search(line)
            if b:
                current["barriers"] = int(b.group(1))
            s = _SMEM.search(line)
            if s:
                current["shared_bytes"] = int(s.group(1))
            for size, bank in _CMEM.findall(line):
                current["constant_bytes"][bank] = int(size)
            c = _CUMULATIVE_STACK.search(line)
            if c:
                current["cumulative_stack_bytes"] = int(c.group(1))
    return list(entries.values())


def demangle(names: Iterable[str]) -> dict[str, str]:
    """Mangled name -> demangled name via c++filt; names map to themselves without it."""
    names = list(dict.fromkeys(names))
    identity = {n: n for n in names}
    cxxfilt = shutil.which("c++filt")
    if not names or cxxfilt is None:
        return identity
    try:
        proc = subprocess.run([cxxfilt], input="\n".join(names) + "\n", capture_output=True,
                              text=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return identity
    out = proc.stdout.splitlines()
    if len(out) != len(names):
        return identity
    return dict(zip(names, out))


def _nvcc_version(nvcc: str) -> str | None:
    try:
        proc = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [ln.strip() for ln in proc.stdout.splitlines() if "release" in ln]
    return lines[-1] if lines else None


def _compile(nvcc: str, source: str, arch: str, flags: list[str], tmp: str,
             index: int) -> dict:
    obj = os.path.join(tmp, f"{index}_{Path(source).stem}_sm_{arch}.o")
    command = [nvcc, "-c", "-o", obj, *flags, f"-gencode=arch=compute_{arch},code=sm_{arch}",
               "-Xptxas", "-v", source]
    try:
        proc = subprocess.run(command, capture_output=True, text=True)
    except OSError as e:
        raise PtxasError(f"cannot run nvcc ({nvcc}): {e}") from e
    if proc.returncode != 0:
        raise PtxasError(
            f"nvcc failed (exit status {proc.returncode}) compiling {source} for sm_{arch}\n"
            f"command: {' '.join(command)}\n"
            f"stderr:\n{proc.stderr.strip()}\n"
            f"stdout:\n{proc.stdout.strip()}")
    # nvcc relays ptxas -v on stderr; keep stdout too in case a version moves it.
    return {"source": source, "arch": f"sm_{arch}", "command": command,
            "ptxas_output": proc.stderr + proc.stdout}


def build_report(nvcc: str, sources: Sequence[str | os.PathLike],
                 include_dirs: Sequence[str | os.PathLike] = (),
                 archs: Sequence[str | int] = ("80", "90"),
                 extra_flags: Sequence[str] = (), jobs: int | None = None) -> dict:
    """Compiles each source once per arch with ptxas -v and returns the parsed report.

    Each compile is ``nvcc -c -o <tmp> -std=c++17 -O3 <extra_flags>
    -gencode=arch=compute_XX,code=sm_XX -Xptxas -v -I<dir>... <source>``, ``jobs`` of them
    at a time (default: one per CPU). Raises PtxasError with nvcc's stderr when a compile
    fails or nvcc cannot be run.

    The report: ``format_version``, ``nvcc``, ``nvcc_version``, ``archs``, ``flags``,
    ``compilations`` (source, arch, command and the raw ptxas text of each compile) and
    ``kernels``, one entry per function and arch: name (demangled when c++filt exists),
    mangled, kind, source, arch, registers, barriers, shared_bytes, constant_bytes,
    stack_frame_bytes, cumulative_stack_bytes, spill_store_bytes, spill_load_bytes.
    """
    nvcc = str(nvcc)
    if shutil.which(nvcc) is None and not Path(nvcc).is_file():
        raise PtxasError(f"nvcc not found: {nvcc}")
    arch_numbers = list(dict.fromkeys(_arch_number(a) for a in archs))
    flags = ["-std=c++17", "-O3", *(f"-I{d}" for d in include_dirs), *extra_flags]
    tasks = [(str(s), a) for s in sources for a in arch_numbers]
    compilations: list[dict] = []
    if tasks:
        workers = max(1, min(len(tasks), jobs or os.cpu_count() or 1))
        with tempfile.TemporaryDirectory(prefix="pybench_ptxas_") as tmp:
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_compile, nvcc, s, a, flags, tmp, i)
                           for i, (s, a) in enumerate(tasks)]
                compilations = [f.result() for f in futures]

    kernels: list[dict] = []
    for comp in compilations:
        for e in parse_ptxas_output(comp["ptxas_output"], comp["arch"]):
            e["source"] = comp["source"]
            kernels.append(e)
    names = demangle(e["mangled"] for e in kernels)
    for e in kernels:
        e["name"] = names.get(e["mangled"], e["mangled"])
    return {
        "format_version": FORMAT_VERSION,
        "nvcc": nvcc,
        "nvcc_version": _nvcc_version(nvcc),
        "archs": [f"sm_{a}" for a in arch_numbers],
        "flags": flags,
        "compilations": compilations,
        "kernels": kernels,
    }


def write_report(report: dict, path: str | os.PathLike) -> Path:
    """Writes the report as JSON (through a temporary file, so readers never see half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_report(path: str | os.PathLike) -> dict:
    """Loads a report written by write_report; PtxasError for any other file."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PtxasError(f"{path} is not a ptxas report: {e}") from e
    if not isinstance(report, dict) or report.get("format_version") != FORMAT_VERSION:
        version = report.get("format_version") if isinstance(report, dict) else None
        raise PtxasError(f"{path}: unsupported ptxas report format {version!r} "
                         f"(expected {FORMAT_VERSION})")
    return report


def spilling_kernels(report: dict) -> list[str]:
    """"name@sm_XX" of every function that spills registers to local memory."""
    found = [f"{e['name']}@{e['arch']}" for e in report.get("kernels", [])
             if e.get("spill_store_bytes", 0) > 0 or e.get("spill_load_bytes", 0) > 0]
    return sorted(dict.fromkeys(found))


def kernel_entries(report: dict, name_contains: str | None = None,
                   arch: str | int | None = None) -> list[dict]:
    """The report's function entries, optionally filtered by name substring and arch."""
    want_arch = f"sm_{_arch_number(arch)}" if arch is not None else None
    return [e for e in report.get("kernels", [])
            if (name_contains is None or name_contains in e["name"]
                or name_contains in e["mangled"])
            and (want_arch is None or e["arch"] == want_arch)]


def format_report(report: dict) -> str:
    """A plain-text table: one line per function and arch."""
    rows = [("arch", "regs", "smem", "stack", "spill st/ld", "function")]
    for e in sorted(report.get("kernels", []), key=lambda e: (e["name"], e["arch"] or "")):
        rows.append((e["arch"] or "?", str(e["registers"] if e["registers"] is not None else "-"),
                     str(e["shared_bytes"]), str(e["stack_frame_bytes"]),
                     f"{e['spill_store_bytes']}/{e['spill_load_bytes']}", e["name"]))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r[:5], widths)) + "  " + r[5]
                     for r in rows)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} ptxas_report.json")
    print(format_report(read_report(sys.argv[1])))
