"""The checks every op makes of its tensor arguments, and the geometry arguments the
convolutions share (ints / pairs / padding strings)."""
from __future__ import annotations

import torch


def check_operands(op: str, input: torch.Tensor, input_name: str = "input",
                   **operands: torch.Tensor | None) -> None:
    """Refuse any tensor argument the kernels must not read as a dense float32 buffer.

    ``input`` (called ``input_name`` in messages) sets the device; every other tensor of
    ``operands`` (None: absent) must be on exactly that device, and every tensor must be a
    dense (strided) float32 tensor. The same checks as ``csrc/ops/tensor_checks.h``, made
    here too because two paths never reach the C++ adapters: the fake (meta) kernel, which
    the dispatcher picks whenever ANY argument is a meta tensor -- so without this a CPU
    input and a meta weight returned an uninitialised CPU tensor -- and sparse or quantized
    arguments, which the dispatcher would refuse without naming the argument.

    Raises:
        TypeError: not a tensor, not strided (sparse, MKL-DNN), or not float32 (which
            includes quantized dtypes).
        RuntimeError: an operand on another device than ``input``, as PyTorch's own ops.
    """
    for name, t in ((input_name, input), *operands.items()):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
        if t.layout != torch.strided:
            raise TypeError(f"{op}: expected a dense (strided) {name}, got one with layout "
                            f"{t.layout}")
        if t.dtype != torch.float32:
            raise TypeError(f"{op}: expected float32 {name}, got {t.dtype}")
        if t.device != input.device:
            raise RuntimeError(f"{op}: {input_name} is on {input.device} but {name} is on "
                               f"{t.device} (every tensor argument must be on the "
                               f"{input_name}'s device)")


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return (int(value[0]), int(value[0]))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise ValueError(f"pybench.conv2d: expected {name} to be an int or a pair of ints, got {value!r}")


def conv2d_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[int, int, int, int]:
    """Resolve ``F.conv2d``'s ``padding`` into (top, bottom, left, right).

    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size =
    input size, stride 1 only; for an even dilated kernel the extra row / column goes at
    the bottom / right, as PyTorch does it).
    """
    (kh, kw), (sh, sw), (dh, dw) = (_pair(kernel_size, "kernel_size"), _pair(stride, "stride"),
                                    _pair(dilation, "dilation"))
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"pybench.conv2d: invalid padding string {padding!r}, "
                             "should be one of {'valid', 'same'}")
        if sh != 1 or sw != 1:
            raise ValueError("pybench.conv2d: padding='same' is not supported for strided "
                             "convolutions")
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = _pair(padding, "padding")
    return (ph, ph, pw, pw)


def fake_conv_out_size(op: str, h: int, w: int, kh: int, kw: int, stride, padding,
                       dilation) -> tuple[int, int]:
    """(OH, OW) for the fake kernels, after the check of csrc/ops/conv2d_args.h
    ``checked_conv_out_size``: the dilated kernel fits the padded input.
    ``padding`` is (top, bottom, left, right)."""
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    torch._check_value(eh <= h + padding[0] + padding[1] and ew <= w + padding[2] + padding[3],
                       lambda: f"{op}: Kernel size can't be greater than actual input size")
    return ((h + padding[0] + padding[1] - eh) // stride[0] + 1,
            (w + padding[2] + padding[3] - ew) // stride[1] + 1)
