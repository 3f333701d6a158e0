"""pybench's ops against PyTorch, as pytest-benchmark tests (see conftest.py)."""
import pytest
import torch
import torch.nn.functional as F

from pybench import ops

pytest.importorskip("pytest_benchmark", reason="pip install pytest-benchmark")

GRAM = {"grid:c64_hw784": (1, 64, 28, 28), "grid:c128_hw3136": (1, 128, 56, 56)}
CONV = {"resnet18:layer1.0.conv1": ((1, 64, 56, 56), (64, 64, 3, 3), 1)}


def _tag(benchmark, suite, case, impl):
    benchmark.group = suite
    benchmark.extra_info.update(suite=suite, case=case, implementation=impl, device="cpu")


@pytest.mark.parametrize("impl", ["pybench", "torch"])
@pytest.mark.parametrize("case", list(GRAM))
def test_gram(benchmark, case, impl):
    x = torch.randn(GRAM[case], generator=torch.Generator().manual_seed(0))
    v = x.reshape(x.shape[0], x.shape[1], -1)
    fn = (lambda: ops.gram(x)) if impl == "pybench" else (lambda: v @ v.transpose(-1, -2))
    _tag(benchmark, "pytest-gram", case, impl)
    out = benchmark(fn)
    torch.testing.assert_close(out.reshape(v.shape[0], v.shape[1], -1),
                               (v.double() @ v.double().transpose(-1, -2)).float(),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("impl", ["pybench", "torch"])
@pytest.mark.parametrize("case", list(CONV))
def test_conv2d(benchmark, case, impl):
    xs, ws, pad = CONV[case]
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(xs, generator=gen), torch.randn(ws, generator=gen) / 24
    fn = ((lambda: ops.conv2d(x, w, padding=pad)) if impl == "pybench"
          else (lambda: F.conv2d(x, w, padding=pad)))
    _tag(benchmark, "pytest-conv", case, impl)
    out = benchmark(fn)
    torch.testing.assert_close(out, F.conv2d(x.double(), w.double(), padding=pad).float(),
                               rtol=1e-4, atol=1e-4)
