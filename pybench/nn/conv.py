"""``pybench.nn.Conv2d``: ``torch.nn.Conv2d`` running :func:`pybench.ops.conv2d`."""
from __future__ import annotations

import torch
from torch import nn

from pybench import ops

__all__ = ["Conv2d", "conv2d_unsupported_reason"]


def conv2d_unsupported_reason(conv: nn.Conv2d) -> str | None:
    """Why pybench's kernel can never run ``conv``'s configuration, or None if it can.

    Only what is fixed at construction is judged here; :meth:`Conv2d.unsupported_reason`
    adds what depends on the call (device, input dtype, autograd).
    """
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        return "lazy module: its weight is not materialised yet"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r} (pybench pads with zeros only)"
    if conv.weight.dtype != torch.float32:
        return f"dtype {conv.weight.dtype} (pybench kernels are float32 only)"
    return None


class Conv2d(nn.Conv2d):
    """A drop-in ``torch.nn.Conv2d`` whose forward runs :func:`pybench.ops.conv2d`.

    Same constructor, parameters, ``state_dict`` keys and results as ``nn.Conv2d`` (it is a
    subclass), so it loads an ``nn.Conv2d`` state dict and vice versa.

    The pybench kernel runs when the configuration is supported: float32 weight, input and
    bias; ``padding_mode='zeros'``; a CPU tensor, or a CUDA tensor when the extension was
    built with CUDA kernels. Otherwise ``forward`` falls back to ``torch.nn.Conv2d.forward``,
    and :meth:`unsupported_reason` (given the same input) says why. Gradients flow (the op's
    backward is ATen's convolution backward), so it also works where autograd records.
    """

    def _get_name(self) -> str:
        # The module repr then shows which convolutions were swapped.
        return "pybench.Conv2d"

    @classmethod
    def from_torch(cls, conv: nn.Conv2d) -> "Conv2d":
        """A ``Conv2d`` with ``conv``'s configuration and training flag that shares its
        parameter tensors (same device and dtype; nothing is re-initialised)."""
        # Built on the meta device: its own parameters are replaced at once, so allocating
        # and initialising them would be wasted.
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                  bias=conv.bias is not None, padding_mode=conv.padding_mode, device="meta",
                  dtype=conv.weight.dtype)
        new.weight = conv.weight
        new.bias = conv.bias
        new.train(conv.training)
        return new

    def unsupported_reason(self, input: torch.Tensor | None = None) -> str | None:
        """Why ``forward(input)`` would fall back to PyTorch, or None if pybench's kernel runs.

        Without ``input`` only the module's own configuration is judged.
        """
        reason = conv2d_unsupported_reason(self)
        if reason is not None or input is None:
            return reason
        if input.dtype != torch.float32:
            return f"input dtype {input.dtype} (pybench kernels are float32 only)"
        if self.bias is not None and self.bias.dtype != torch.float32:
            return f"bias dtype {self.bias.dtype} (pybench kernels are float32 only)"
        if input.device.type == "cuda":
            if not ops.has_cuda_kernels():
                return "CUDA input, but pybench was built without CUDA kernels"
        elif input.device.type != "cpu":
            return f"device {input.device.type!r} (pybench runs on cpu and cuda)"
        return None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.unsupported_reason(input) is not None:
            return super().forward(input)
        return ops.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)
