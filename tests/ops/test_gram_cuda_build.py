"""Build-time checks of the CUDA Gram kernel: the ptxas report of the installed extension,
a fresh ptxas run on gram_cuda.cu when nvcc exists, and the report parser itself.

None of these run a kernel, so they need no GPU; the first two skip without a CUDA build
or without nvcc.
"""
import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAM_CU = ROOT / "csrc" / "kernels" / "gram" / "gram_cuda.cu"
ARCHS = ("sm_80", "sm_90")


def load_ptxas():
    """pybench/_ptxas.py by path, as setup.py loads it (no torch, no built extension)."""
    spec = importlib.util.spec_from_file_location("pybench_ptxas_under_test",
                                                  ROOT / "pybench" / "_ptxas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ptxas = load_ptxas()


def find_nvcc():
    """nvcc of the toolkit setup.py builds with, or None."""
    home = ptxas.find_cuda_home()
    return str(Path(home) / "bin" / "nvcc") if home else None


def fresh_report(*sources):
    """ptxas -v of the kernel sources for sm_80 and sm_90, as setup.py runs it; skips the
    calling test without nvcc."""
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("no nvcc found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda*)")
    return ptxas.build_report(nvcc=nvcc, sources=[str(s) for s in sources],
                              include_dirs=[str(ROOT / "csrc" / "kernels")], archs=("80", "90"))


def installed_report():
    """The ptxas report setup.py left beside the installed extension; skips the calling
    test for a CPU-only build."""
    import pybench
    from pybench import ops

    if not ops.has_cuda_kernels():
        pytest.skip("the installed pybench._C is a CPU-only build (no CUDA kernels)")
    return ptxas.read_report(Path(pybench._C.__file__).parent / ptxas.REPORT_NAME)


def gram_kernel_entries(report, arch):
    # "gram_kernel" matches the main kernel only, not gram_finalize_kernel.
    return ptxas.kernel_entries(report, "gram_kernel", arch)


def test_installed_extension_ptxas_report():
    import pybench
    from pybench import ops

    if not ops.has_cuda_kernels():
        pytest.skip("the installed pybench._C is a CPU-only build (no CUDA kernels), "
                    "so it has no ptxas_report.json")
    path = Path(pybench._C.__file__).parent / ptxas.REPORT_NAME
    assert path.is_file(), f"a CUDA build must leave {path} next to {pybench._C.__file__}"
    report = ptxas.read_report(path)
    for arch in ARCHS:
        assert gram_kernel_entries(report, arch), f"no gram_kernel for {arch} in {path}"
    assert ptxas.spilling_kernels(report) == []


def test_gram_cuda_ptxas_fresh_build():
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("no nvcc found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda*)")
    report = ptxas.build_report(nvcc=nvcc, sources=[str(GRAM_CU)],
                                include_dirs=[str(ROOT / "csrc" / "kernels")],
                                archs=("80", "90"))
    assert report["archs"] == list(ARCHS)
    for arch in ARCHS:
        entries = gram_kernel_entries(report, arch)
        assert len(entries) == 1, f"expected one gram_kernel for {arch}: {entries}"
        e = entries[0]
        assert e["kind"] == "entry"
        assert e["registers"] is not None and e["registers"] <= 255
        assert 0 < e["shared_bytes"] <= 48 * 1024  # static shared memory only
        assert ptxas.kernel_entries(report, "gram_finalize_kernel", arch)
    assert ptxas.spilling_kernels(report) == [], ptxas.format_report(report)


# ptxas -v output of CUDA 13 (sm_90, no cmem), of an older toolkit (sm_80, with cmem),
# a kernel that spills, a kernel with a stack frame but no spills, and a device function.
CANNED = textwrap.dedent("""\
    ptxas info    : 0 bytes gmem
    ptxas info    : Compiling entry function '_Z11good_kernelPf' for 'sm_90'
    ptxas info    : Function properties for _Z11good_kernelPf
        0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ptxas info    : Used 72 registers, used 1 barriers, 16384 bytes smem
    ptxas info    : Compile time = 12.345 ms
    ptxas info    : Compiling entry function '_Z12spill_kernelPfi' for 'sm_90'
    ptxas info    : Function properties for _Z12spill_kernelPfi
        96 bytes stack frame, 88 bytes spill stores, 120 bytes spill loads
    ptxas info    : Used 255 registers, used 0 barriers, 96 bytes cumulative stack size
    ptxas info    : Compiling entry function '_Z12local_kernelPf' for 'sm_90'
    ptxas info    : Function properties for _Z12local_kernelPf
        256 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ptxas info    : Used 40 registers, used 0 barriers, 256 bytes cumulative stack size
    ptxas info    : Function properties for _Z6helperPfi
        8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    """)

CANNED_OLD = textwrap.dedent("""\
    ptxas info    : 0 bytes gmem
    ptxas info    : Compiling entry function '_Z11good_kernelPf' for 'sm_80'
    ptxas info    : Function properties for _Z11good_kernelPf
        0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ptxas info    : Used 64 registers, 8192 bytes smem, 360 bytes cmem[0], 4 bytes cmem[2]
    """)


def test_parse_canned_ptxas_output():
    entries = {e["mangled"]: e for e in ptxas.parse_ptxas_output(CANNED, "90")}
    assert set(entries) == {"_Z11good_kernelPf", "_Z12spill_kernelPfi", "_Z12local_kernelPf",
                            "_Z6helperPfi"}
    good = entries["_Z11good_kernelPf"]
    assert (good["kind"], good["arch"], good["registers"], good["barriers"],
            good["shared_bytes"]) == ("entry", "sm_90", 72, 1, 16384)
    assert (good["spill_store_bytes"], good["spill_load_bytes"]) == (0, 0)
    spill = entries["_Z12spill_kernelPfi"]
    assert (spill["registers"], spill["stack_frame_bytes"], spill["spill_store_bytes"],
            spill["spill_load_bytes"], spill["cumulative_stack_bytes"]) == (255, 96, 88, 120, 96)
    local = entries["_Z12local_kernelPf"]
    assert (local["stack_frame_bytes"], local["spill_store_bytes"]) == (256, 0)
    helper = entries["_Z6helperPfi"]
    assert (helper["kind"], helper["arch"], helper["stack_frame_bytes"]) == ("function", "sm_90", 8)

    old = ptxas.parse_ptxas_output(CANNED_OLD, "sm_80")
    assert len(old) == 1
    assert (old[0]["registers"], old[0]["barriers"], old[0]["shared_bytes"],
            old[0]["constant_bytes"]) == (64, None, 8192, {"0": 360, "2": 4})


def test_spilling_kernels_flags_only_spills():
    kernels = []
    for text, arch in ((CANNED, "sm_90"), (CANNED_OLD, "sm_80")):
        kernels += ptxas.parse_ptxas_output(text, arch)
    report = {"format_version": ptxas.FORMAT_VERSION, "kernels": kernels}
    # A stack frame without spill traffic (local_kernel's array) is not a spill.
    assert ptxas.spilling_kernels(report) == ["_Z12spill_kernelPfi@sm_90"]
    assert ptxas.spilling_kernels({"kernels": kernels[:1]}) == []


def test_demangle_with_and_without_cxxfilt(monkeypatch):
    names = ["_Z11good_kernelPf"]
    if shutil.which("c++filt"):
        assert ptxas.demangle(names) == {"_Z11good_kernelPf": "good_kernel(float*)"}
    monkeypatch.setattr(ptxas.shutil, "which", lambda _: None)
    assert ptxas.demangle(names) == {"_Z11good_kernelPf": "_Z11good_kernelPf"}


def fake_nvcc(tmp_path, body):
    """An executable standing in for nvcc: a Python script given `body` (argv in `args`)."""
    script = tmp_path / "nvcc"
    script.write_text(f"#!{sys.executable}\nimport sys\nargs = sys.argv[1:]\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_build_report_with_fake_nvcc(tmp_path):
    # Echoes CANNED_OLD for the arch it was asked for, so the whole pipeline runs anywhere.
    nvcc = fake_nvcc(tmp_path, textwrap.dedent(f"""\
        if args == ["--version"]:
            print("Cuda compilation tools, release 99.0, V99.0.0"); sys.exit(0)
        gencode = [a for a in args if a.startswith("-gencode=")]
        assert len(gencode) == 1, args
        assert args[args.index("-Xptxas") + 1] == "-v", args
        assert "-std=c++17" in args and "-O3" in args and "-c" in args, args
        arch = gencode[0].rsplit("sm_", 1)[1]
        open(args[args.index("-o") + 1], "w").close()
        sys.stderr.write({CANNED_OLD!r}.replace("sm_80", "sm_" + arch))
        """))
    src = tmp_path / "k.cu"
    src.write_text("")
    report = ptxas.build_report(nvcc=nvcc, sources=[src], include_dirs=[tmp_path / "inc"],
                                archs=("80", "sm_90"))
    assert report["nvcc_version"] == "Cuda compilation tools, release 99.0, V99.0.0"
    assert report["archs"] == ["sm_80", "sm_90"]
    assert [c["arch"] for c in report["compilations"]] == ["sm_80", "sm_90"]
    assert f"-I{tmp_path / 'inc'}" in report["compilations"][0]["command"]
    assert sorted(e["arch"] for e in report["kernels"]) == ["sm_80", "sm_90"]
    assert all(e["source"] == str(src) for e in report["kernels"])
    assert ptxas.spilling_kernels(report) == []

    path = ptxas.write_report(report, tmp_path / "out" / ptxas.REPORT_NAME)
    assert ptxas.read_report(path) == json.loads(json.dumps(report))
    assert "good_kernel" in ptxas.format_report(report)


def test_build_report_raises_with_nvcc_stderr(tmp_path):
    nvcc = fake_nvcc(tmp_path, "sys.stderr.write('k.cu(3): error: identifier \"x\" is undefined\\n')"
                               "\nsys.exit(2)")
    with pytest.raises(ptxas.PtxasError, match=r'(?s)exit status 2.*identifier "x" is undefined'):
        ptxas.build_report(nvcc=nvcc, sources=[tmp_path / "k.cu"], archs=("80",))
    with pytest.raises(ptxas.PtxasError, match="nvcc not found"):
        ptxas.build_report(nvcc=str(tmp_path / "no_such_nvcc"), sources=["k.cu"])


def test_read_report_rejects_other_files(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"format_version": 0, "kernels": []}))
    with pytest.raises(ptxas.PtxasError, match="unsupported ptxas report format"):
        ptxas.read_report(bad)
    bad.write_text("not json")
    with pytest.raises(ptxas.PtxasError, match="not a ptxas report"):
        ptxas.read_report(bad)
