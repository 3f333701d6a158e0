"""convert()'s per-layer choice (issue 23): pybench's layer or PyTorch's, by measurement,
cached on disk per machine and input; the converted model stays exact whatever is chosen."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import pybench.nn as pnn
from pybench.models.mobilenet import DepthwiseSeparable
from pybench.nn import choose


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 6, 3, stride=2), nn.ReLU(),
                         nn.Conv2d(6, 5, 1)).eval()


def _reference64(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return copy.deepcopy(model).double()(x.double())


def _rel(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).norm() / ref.norm()).item()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBENCH_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def scripted_times(monkeypatch):
    """choose._time answering from a script, in the order layers are decided; counts calls."""
    script: list[tuple[float, float]] = []
    calls = []

    def fake(candidates, device):
        calls.append(sorted(candidates))
        pybench_s, torch_s = script[len(calls) - 1]
        return {"pybench": pybench_s, "torch": torch_s}
    monkeypatch.setattr(choose, "_time", fake)
    return script, calls


def test_keeps_the_faster_layer_and_caches_the_choice(cache_dir, scripted_times):
    script, calls = scripted_times
    script += [(1e-3, 2e-3), (3e-3, 2e-3), (1e-3, 1e-3)]  # pybench, torch, tie -> pybench
    model, x = _net(), torch.randn(2, 3, 11, 9)
    conv = pnn.convert(model, example_inputs=(x,))
    kinds = [type(conv[i]) for i in (0, 2, 4)]
    assert kinds == [pnn.Conv2d, nn.Conv2d, pnn.Conv2d]
    r = conv.pybench_report
    assert [(c.path, c.chosen, c.source) for c in r.choices] == [
        ("0", "pybench", "measured"), ("2", "torch", "measured"), ("4", "pybench", "measured")]
    assert "2" in {s.path for s in r.skipped} and "measured slower" in str(r)
    assert r.choices[0].input == "float32[2, 3, 11, 9]c@cpu"
    assert _rel(conv(x), _reference64(model, x)) < 1e-5
    table = json.loads((cache_dir / "convert-choices.json").read_text())
    assert len(table) == 3

    again = pnn.convert(model, example_inputs=(x,))  # same machine, layers and inputs
    assert len(calls) == 3  # nothing timed a second time
    assert [(c.chosen, c.source) for c in again.pybench_report.choices] == [
        ("pybench", "cache"), ("torch", "cache"), ("pybench", "cache")]
    assert [type(again[i]) for i in (0, 2, 4)] == kinds

    script += [(2e-3, 1e-3)] * 3  # another input size is another key: timed again
    pnn.convert(model, example_inputs=(torch.randn(1, 3, 12, 12),))
    assert len(calls) == 6


def test_real_timings_are_consistent_and_exact(cache_dir):
    model, x = _net(), torch.randn(1, 3, 13, 13)
    conv = pnn.convert(model, example_inputs=(x,))
    choices = conv.pybench_report.choices
    assert len(choices) == 3
    for c in choices:
        assert c.pybench_s > 0 and c.torch_s > 0
        assert c.chosen == ("pybench" if c.pybench_s <= c.torch_s else "torch")
    assert _rel(conv(x), _reference64(model, x)) < 1e-5


def test_a_losing_block_is_converted_layer_by_layer(cache_dir, scripted_times):
    script, calls = scripted_times
    torch.manual_seed(1)
    model = nn.Sequential(DepthwiseSeparable(8, 12), DepthwiseSeparable(12, 16, 2)).eval()
    x = torch.randn(1, 8, 10, 10)
    # block 0: fused form loses -> its dw and pw convs decided one by one; block 1 wins.
    script += [(2e-3, 1e-3), (1e-3, 2e-3), (1e-3, 2e-3), (1e-3, 2e-3)]
    conv = pnn.convert(model, example_inputs=(x,))
    assert isinstance(conv[1], pnn.SeparableConv2d)
    assert isinstance(conv[0], DepthwiseSeparable)
    assert isinstance(conv[0].dw, pnn.Conv2d) and isinstance(conv[0].pw, pnn.Conv2d)
    assert [c.path for c in conv.pybench_report.choices] == ["0", "0.dw", "0.pw", "1"]
    assert _rel(conv(x), _reference64(model, x)) < 1e-5


def test_a_layer_the_example_does_not_reach_gets_the_heuristic(cache_dir, scripted_times):
    script, calls = scripted_times

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.used(x)
    script += [(2e-3, 1e-3)]
    conv = pnn.convert(Branchy().eval(), example_inputs=(torch.randn(1, 3, 8, 8),))
    assert isinstance(conv.used, nn.Conv2d) and not isinstance(conv.used, pnn.Conv2d)
    assert isinstance(conv.unused, pnn.Conv2d) and len(calls) == 1


def test_corrupt_cache_is_remeasured(cache_dir, scripted_times):
    script, calls = scripted_times
    (cache_dir / "convert-choices.json").write_text("{not json")
    script += [(1e-3, 2e-3)] * 3
    pnn.convert(_net(), example_inputs=(torch.randn(1, 3, 8, 8),))
    assert len(calls) == 3
    assert len(json.loads((cache_dir / "convert-choices.json").read_text())) == 3


def test_choose_arguments_are_checked():
    with pytest.raises(ValueError, match="needs example_inputs"):
        pnn.convert(_net(), choose="measure")
    with pytest.raises(ValueError, match="choose must be"):
        pnn.convert(_net(), choose="fastest")
    r = pnn.convert(_net()).pybench_report  # the heuristic: every supported layer swapped
    assert r.choices == [] and len(r.converted) == 3
