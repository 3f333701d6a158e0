"""pybench.ops.linear: a fully connected layer for small inference batches (CPU only).

``act(input @ weight.T + bias)`` with the weight packed once by :func:`pack_linear` into
48-column panels, each read from memory once per call and multiplied into every row of
the batch while in registers. At batch 1-32 a classifier's weights (AlexNet's 233 MB,
VGG-16's 496 MB) are the whole cost of the layer; the kernel and its reasoning are in
``csrc/kernels/linear/linear.h``.
"""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands

#: Output columns per packed panel (``kLinearPanel`` in linear.h), the same for every ISA.
LINEAR_PANEL = 48
#: The epilogue activations, applied after the bias.
LINEAR_ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "sigmoid")

_OP = "pybench.linear"


def pack_linear(weight: torch.Tensor) -> torch.Tensor:
    """Pack an (N, K) ``nn.Linear`` weight for :func:`linear`, once.

    Returns (ceil(N / 48), K, 48) float32: element [p][k][j] is ``weight[p * 48 + j][k]``,
    zero for rows past N.
    """
    op = "pybench.pack_linear"
    check_operands(op, weight, "weight")
    if weight.dim() != 2 or weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(f"{op}: expected a non-empty 2-D weight (out_features, in_features), "
                         f"got shape {tuple(weight.shape)}")
    n, k = weight.shape
    panels = -(-n // LINEAR_PANEL)
    w = torch.zeros(panels * LINEAR_PANEL, k, dtype=weight.dtype, device=weight.device)
    w[:n] = weight.detach()
    return w.reshape(panels, LINEAR_PANEL, k).transpose(1, 2).contiguous()


def linear(input: torch.Tensor, weight_packed: torch.Tensor, bias: torch.Tensor | None = None,
           out_features: int | None = None, activation: str = "none") -> torch.Tensor:
    """``act(F.linear(input, weight, bias))`` with ``weight_packed = pack_linear(weight)``.

    Args:
        input: float32 CPU (*, in_features); leading dimensions are flattened into the batch.
        weight_packed: from :func:`pack_linear`.
        bias: optional float32 (out_features).
        out_features: N, the unpacked weight's rows (the panels are padded to 48 columns,
            so the packed weight does not say).
        activation: one of :data:`LINEAR_ACTIVATIONS`.

    Returns:
        float32 (*, out_features).

    Raises:
        TypeError: an operand that is not a dense float32 tensor.
        ValueError: a non-CPU input, a weight that is not packed or does not match the
            input, a bias of the wrong shape, an unknown activation.
    """
    check_operands(_OP, input, weight=weight_packed, bias=bias)
    if input.device.type != "cpu":
        raise ValueError(f"{_OP}: CPU only, got input on {input.device} (on a GPU, "
                         "torch.nn.functional.linear calls cuBLAS)")
    if input.dim() < 1:
        raise ValueError(f"{_OP}: expected input of shape (*, in_features), got a 0-d tensor")
    if out_features is None:
        raise ValueError(f"{_OP}: out_features is required (the packed weight's panels are "
                         f"padded to {LINEAR_PANEL} columns, so it does not say)")
    lead = input.shape[:-1]
    y = torch.ops.pybench.linear(input.reshape(-1, input.shape[-1]), weight_packed, bias,
                                 int(out_features), activation)
    return y.reshape(*lead, y.shape[-1])


@torch.library.register_fake("pybench::linear")
def _linear_fake(input, weight, bias, out_features, activation="none"):
    # activation's default: the dispatcher drops an argument equal to the schema's default.
    # The checks of csrc/ops/cpu/linear_kernel.cpp, so meta tensors and torch.compile
    # reject what the kernel rejects.
    check_operands(_OP, input, weight=weight, bias=bias)
    torch._check_value(input.dim() == 2, lambda: f"{_OP}: expected a 2-D input")
    torch._check_value(weight.dim() == 3 and weight.shape[2] == LINEAR_PANEL,
                       lambda: f"{_OP}: expected a packed weight from pybench.ops.pack_linear")
    torch._check_value(out_features > 0 and -(-out_features // LINEAR_PANEL) == weight.shape[0],
                       lambda: f"{_OP}: out_features={out_features} does not match the "
                       "packed weight")
    torch._check_value(weight.shape[1] == input.shape[1] and input.shape[1] > 0,
                       lambda: f"{_OP}: input does not match the packed weight's in_features")
    torch._check_value(activation in LINEAR_ACTIVATIONS,
                       lambda: f"{_OP}: unknown activation {activation!r}")
    if bias is not None:
        torch._check_value(bias.dim() == 1 and bias.shape[0] == out_features,
                           lambda: f"{_OP}: expected bias of shape ({out_features})")
    return input.new_empty((input.shape[0], out_features))
