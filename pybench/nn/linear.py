"""pybench.nn.Linear: an inference ``nn.Linear`` (with its activation) on pybench's packed
small-batch kernel (:func:`pybench.ops.linear`), weights packed once."""
from __future__ import annotations

import torch
from torch import nn

from pybench import ops


class Linear(nn.Module):
    """``act(F.linear(x, weight, bias))`` for float32 CPU inputs (*, in_features), with the
    weight packed at construction (:func:`pybench.ops.pack_linear`). Inference only: the op
    has no backward."""

    def __init__(self, linear: nn.Linear, activation: str = "none"):
        super().__init__()
        if activation not in ops.LINEAR_ACTIVATIONS:
            raise ValueError(f"pybench.nn.Linear: unknown activation {activation!r}; expected "
                             f"one of {', '.join(ops.LINEAR_ACTIVATIONS)}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.activation = activation
        with torch.no_grad():
            self.register_buffer("weight", ops.pack_linear(linear.weight.detach().float()))
            self.register_buffer("bias", None if linear.bias is None
                                 else linear.bias.detach().float().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.linear(x, self.weight, self.bias, self.out_features, self.activation)

    def layer_flops(self, output: torch.Tensor) -> int:
        """FLOPs of the call that produced ``output``, as for ``nn.Linear``
        (:func:`pybench.models.layer_flops`)."""
        return 2 * output.numel() * self.in_features

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, activation={self.activation!r}")


def linear_unsupported_reason(linear: nn.Module) -> str | None:
    """Why ``linear`` cannot become a :class:`Linear`, or None."""
    if type(linear) is not nn.Linear:
        return f"{type(linear).__qualname__} is not a plain Linear"
    if linear.weight.dtype != torch.float32 or linear.weight.device.type != "cpu":
        return "pybench's linear kernel is float32 on the CPU"
    if linear.in_features == 0 or linear.out_features == 0:
        return "an empty Linear"
    return None
