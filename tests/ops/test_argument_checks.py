"""Every tensor argument of every op is checked: device, layout, dtype (issue 17).

Two layers are tested:
- the public ops (pybench.ops.*), whose mixed meta / CPU calls reach the fake kernel
  (the dispatcher picks Meta whenever any argument is meta) -- before issue 17 that
  returned an uninitialised CPU tensor;
- the adapters' shared checks (csrc/ops/*_args.h) through the test-only
  ``torch.ops.pybench._check_*_args`` ops, which run exactly what the CPU and CUDA adapters
  run, for the backend named by their last argument. With no GPU, the meta device stands
  in for CUDA: the same code path checks "every operand on the input's device".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch

import pybench.ops as ops


def _t(*shape, device="cpu"):
    return torch.randn(*shape, device=device)


@dataclass(frozen=True)
class OpCase:
    """One op: valid operands by name (the first is the input), the public call, and the
    test-only check op's call (operands, backend device)."""
    name: str
    operands: Callable[[], dict[str, torch.Tensor]]
    call: Callable[..., object]
    check: Callable[..., None]


_PAD = ([1, 1], [1, 1, 1, 1], [1, 1])  # stride, (top, bottom, left, right), dilation

CASES = [
    OpCase("gram", lambda: {"features": _t(2, 3, 4, 5)},
           lambda features: ops.gram(features),
           lambda d, features: torch.ops.pybench._check_gram_args(features, d)),
    OpCase("conv2d", lambda: {"input": _t(1, 3, 8, 8), "weight": _t(4, 3, 3, 3), "bias": _t(4)},
           lambda input, weight, bias: ops.conv2d(input, weight, bias, padding=1),
           lambda d, input, weight, bias: torch.ops.pybench._check_conv2d_args(
               input, weight, bias, *_PAD, 1, d)),
    OpCase("conv2d_epilogue",
           lambda: {"input": _t(1, 3, 8, 8), "weight": _t(4, 3, 3, 3), "bias": _t(4),
                    "residual": _t(1, 4, 8, 8)},
           lambda input, weight, bias, residual: ops.conv2d(
               input, weight, bias, padding=1, residual=residual, activation="relu"),
           lambda d, input, weight, bias, residual: torch.ops.pybench._check_conv2d_args(
               input, weight, bias, *_PAD, 1, d, residual, "relu")),
    OpCase("depthwise_conv2d",
           lambda: {"input": _t(1, 3, 8, 8), "weight": _t(6, 1, 3, 3), "bias": _t(6)},
           lambda input, weight, bias: ops.depthwise_conv2d(input, weight, bias, padding=1),
           lambda d, input, weight, bias: torch.ops.pybench._check_depthwise_conv2d_args(
               input, weight, bias, *_PAD, d)),
    OpCase("separable_conv2d",
           lambda: {"input": _t(1, 3, 8, 8), "dw_weight": _t(3, 1, 3, 3),
                    "pw_weight": _t(5, 3, 1, 1), "dw_bias": _t(3), "pw_bias": _t(5)},
           lambda input, dw_weight, pw_weight, dw_bias, pw_bias: ops.separable_conv2d(
               input, dw_weight, pw_weight, dw_bias, pw_bias, padding=1, activation="relu"),
           lambda d, input, dw_weight, pw_weight, dw_bias, pw_bias:
               torch.ops.pybench._check_separable_conv2d_args(
                   input, dw_weight, pw_weight, dw_bias, pw_bias, *_PAD, "relu", "relu", d)),
    OpCase("lstm_cell",
           lambda: {"input": _t(2, 5), "hx": _t(2, 3), "cx": _t(2, 3), "w_ih": _t(12, 5),
                    "w_hh": _t(12, 3), "b_ih": _t(12), "b_hh": _t(12)},
           lambda **t: ops.lstm_cell(**t),
           lambda d, input, hx, cx, w_ih, w_hh, b_ih, b_hh: torch.ops.pybench._check_lstm_args(
               input, hx, cx, w_ih, w_hh, b_ih, b_hh, False, False, None, None, d)),
    OpCase("lstm",
           lambda: {"input": _t(4, 2, 5), "hx": _t(2, 3), "cx": _t(2, 3), "w_ih": _t(12, 5),
                    "w_hh": _t(12, 3), "b_ih": _t(12), "b_hh": _t(12)},
           lambda **t: ops.lstm(**t),
           lambda d, input, hx, cx, w_ih, w_hh, b_ih, b_hh: torch.ops.pybench._check_lstm_args(
               input, hx, cx, w_ih, w_hh, b_ih, b_hh, True, False, None, None, d)),
    OpCase("max_pool2d", lambda: {"input": _t(1, 3, 8, 8)},
           lambda input: ops.max_pool2d(input, 3, 2, 1),
           lambda d, input: torch.ops.pybench._check_max_pool2d_args(
               input, [3, 3], [2, 2], [1, 1], [1, 1], False, d)),
    OpCase("avg_pool2d", lambda: {"input": _t(3, 8, 7)},
           lambda input: ops.avg_pool2d(input, 3, 2, 1, ceil_mode=True),
           lambda d, input: torch.ops.pybench._check_avg_pool2d_args(
               input, [3, 3], [2, 2], [1, 1], True, True, None, d)),
    OpCase("adaptive_avg_pool2d", lambda: {"input": _t(2, 3, 8, 8)},
           lambda input: ops.adaptive_avg_pool2d(input, (3, 2)),
           lambda d, input: torch.ops.pybench._check_adaptive_avg_pool2d_args(input, [3, 2], d)),
]
IDS = [c.name for c in CASES]


def _operand_params():
    return [pytest.param(c, name, id=f"{c.name}-{name}")
            for c in CASES for name in list(c.operands())[1:]]


def _first(case: OpCase) -> str:
    return next(iter(case.operands()))


# --- the public ops ----------------------------------------------------------------------

def test_issue_17_reproducer_meta_weight_raises():
    with pytest.raises(RuntimeError, match=r"input is on cpu but weight is on meta"):
        ops.conv2d(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3).to("meta"))


@pytest.mark.parametrize("case, name", _operand_params())
def test_an_operand_on_another_device_raises_naming_it(case, name):
    args = case.operands()
    args[name] = args[name].to("meta")
    with pytest.raises(RuntimeError, match=rf"is on cpu but {name} is on meta"):
        case.call(**args)
    cpu = case.operands()
    args = {k: v.to("meta") for k, v in cpu.items()}
    args[name] = cpu[name]
    with pytest.raises(RuntimeError, match=rf"is on meta but {name} is on cpu"):
        case.call(**args)


@pytest.mark.parametrize("bias_on_meta", [False, True])
def test_raw_ops_check_devices_in_their_fake_kernels(bias_on_meta):
    # torch.ops.pybench.* skip the Python wrappers: the dispatcher sends any call with a
    # meta argument to the fake kernel, which must refuse the mix itself.
    x, w, b = _t(1, 3, 8, 8), _t(3, 1, 3, 3), _t(3)
    if bias_on_meta:
        b = b.to("meta")
    else:
        w = w.to("meta")
    name = "bias" if bias_on_meta else "weight"
    with pytest.raises(RuntimeError, match=f"input is on cpu but {name} is on meta"):
        torch.ops.pybench.conv2d(x, w, b, *_PAD, 3)
    with pytest.raises(RuntimeError, match=f"input is on cpu but {name} is on meta"):
        torch.ops.pybench.depthwise_conv2d(x, w, b, *_PAD)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_all_meta_operands_infer_the_shape(case):
    # Every operand on meta is shape inference, as for PyTorch's own ops: a meta result
    # with the real kernel's shape, never data.
    real = case.call(**case.operands())
    meta = case.call(**{k: v.to("meta") for k, v in case.operands().items()})
    flat_real = real if isinstance(real, tuple) else (real,)
    flat_meta = meta if isinstance(meta, tuple) else (meta,)
    flat_real = [t for x in flat_real for t in (x if isinstance(x, tuple) else (x,))]
    flat_meta = [t for x in flat_meta for t in (x if isinstance(x, tuple) else (x,))]
    assert [t.shape for t in flat_meta] == [t.shape for t in flat_real]
    assert all(t.device.type == "meta" for t in flat_meta)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("kind", ["sparse", "float64", "int32", "quantized"])
def test_every_operand_must_be_dense_float32(case, kind):
    for name in case.operands():
        args = case.operands()
        t = args[name]
        args[name] = {"sparse": lambda: t.to_sparse(),
                      "float64": lambda: t.double(),
                      "int32": lambda: t.int(),
                      "quantized": lambda: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8),
                      }[kind]()
        expected = r"a dense \(strided\) " if kind == "sparse" else "float32 "
        with pytest.raises(TypeError, match=rf"expected {expected}{name}"):
            case.call(**args)


def test_packed_lstm_weights_on_another_device_raise():
    args = CASES[IDS.index("lstm_cell")].operands()
    packed_ih, packed_hh = ops.lstm_pack_weights(args["w_ih"], args["w_hh"])
    with pytest.raises(RuntimeError, match="but packed_hh is on meta"):
        ops.lstm_cell(**args, packed_ih=packed_ih, packed_hh=packed_hh.to("meta"))
    with pytest.raises(RuntimeError, match="w_ih is on cpu but w_hh is on meta"):
        ops.lstm_pack_weights(args["w_ih"], args["w_hh"].to("meta"))


# --- the adapters' checks, meta standing in for CUDA -------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("backend", ["cpu", "meta"])
def test_adapter_checks_accept_operands_on_the_backend(case, backend):
    # The positive control: without it the refusals below could come from a check that
    # refuses everything.
    case.check(torch.device(backend),
               **{k: v.to(backend) for k, v in case.operands().items()})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adapter_checks_refuse_an_input_of_another_backend(case):
    # What the CUDA adapter says when handed meta (or CPU) tensors.
    with pytest.raises(RuntimeError, match=rf"expected {_first(case)} on a CUDA device, got "
                                           r"one on meta"):
        case.check(torch.device("cuda"),
                   **{k: v.to("meta") for k, v in case.operands().items()})


@pytest.mark.parametrize("case, name", _operand_params())
def test_adapter_checks_refuse_an_operand_off_the_input_device(case, name):
    cpu = case.operands()
    args = {k: v.to("meta") for k, v in cpu.items()}
    args[name] = cpu[name]
    with pytest.raises(RuntimeError, match=rf"input is on meta but {name} is on cpu"):
        case.check(torch.device("meta"), **args)


@pytest.mark.parametrize("case, name", _operand_params())
def test_adapter_checks_refuse_a_sparse_operand(case, name):
    args = {k: v.to("meta") for k, v in case.operands().items()}
    args[name] = case.operands()[name].to_sparse().to("meta")
    with pytest.raises(TypeError, match=rf"expected a dense \(strided\) {name}"):
        case.check(torch.device("meta"), **args)


def test_adapter_checks_name_packed_weights():
    args = {k: v.to("meta") for k, v in CASES[IDS.index("lstm_cell")].operands().items()}
    packed = torch.randn(1, 5, 64)
    with pytest.raises(RuntimeError, match="input is on meta but packed_ih is on cpu"):
        torch.ops.pybench._check_lstm_args(*args.values(), False, False, packed, None,
                                           torch.device("meta"))
