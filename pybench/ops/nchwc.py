"""The blocked activation layout (NCHWc) that converted models keep between pybench layers.

A blocked tensor is an ordinary float32 CPU tensor of shape ``(N, ceil(C / B), H, W, B)``,
contiguous: channel ``c`` of pixel ``(y, x)`` is element ``[n, c // B, y, x, c % B]``. ``B``
(the block) is the vector width of the kernels that will read it: 8 floats on AVX2 and 16
on AVX-512 (:func:`block_size`), so one vector holds one pixel's B channels and a
convolution broadcasts an input value against whole vectors of output channels, with no
shuffles and no gathers (oneDNN's nChw8c / nChw16c, ONNX Runtime's NCHWc; see
``ARCHITECTURE.md``). The channel count ``C`` is not stored: whoever holds a blocked tensor
keeps it beside it. Channels ``C .. Cb*B - 1`` of the last block are padding and always
hold zeros, so a kernel may read them as inputs (they meet zero weights) and must write
zeros there as outputs.

Because a blocked tensor is a plain tensor, element-wise PyTorch ops (add, relu) run on it
unchanged; pooling has kernels of its own (:mod:`pybench.ops.pool_nchwc`).
"""
from __future__ import annotations

import torch

from pybench.ops.isa import cpu_isa

#: The block sizes the kernels are written for.
BLOCK_SIZES = (8, 16)


def block_size(isa: str | None = None) -> int:
    """The channel block of the vector width of ``isa`` (default: the ISA in use): 16 on
    AVX-512, 8 on AVX2 and on the scalar kernels (which handle either)."""
    return 16 if (isa or cpu_isa()) == "avx512" else 8


def _check_block(op: str, block: int) -> int:
    if block not in BLOCK_SIZES:
        raise ValueError(f"{op}: block must be one of {BLOCK_SIZES}, got {block!r}")
    return block


def to_nchwc(x: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """``x`` (N, C, H, W) in the blocked layout (N, ceil(C / block), H, W, block), the padded
    channels zero."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"to_nchwc: expected a 4-D (N, C, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    block = _check_block("to_nchwc", block_size() if block is None else block)
    n, c, h, w = x.shape
    cb = -(-c // block)
    if cb * block != c:
        x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, cb * block - c))
    return x.reshape(n, cb, block, h, w).permute(0, 1, 3, 4, 2).contiguous()


def from_nchwc(xb: torch.Tensor, channels: int) -> torch.Tensor:
    """The NCHW tensor (N, channels, H, W) that blocked ``xb`` holds."""
    check_nchwc("from_nchwc", xb, channels)
    n, cb, h, w, block = xb.shape
    return xb.permute(0, 1, 4, 2, 3).reshape(n, cb * block, h, w)[:, :channels].contiguous()


def check_nchwc(op: str, xb: torch.Tensor, channels: int, name: str = "input") -> None:
    """Raises ValueError unless ``xb`` is a blocked tensor that can hold ``channels``
    channels."""
    if not isinstance(xb, torch.Tensor) or xb.dim() != 5:
        raise ValueError(f"{op}: expected {name} in the blocked layout (N, C/B, H, W, B), got "
                         f"shape {tuple(xb.shape) if isinstance(xb, torch.Tensor) else xb!r}")
    _check_block(op, xb.shape[-1])
    if -(-channels // xb.shape[-1]) != xb.shape[1]:
        raise ValueError(f"{op}: {name} of shape {tuple(xb.shape)} does not hold {channels} "
                         f"channels in blocks of {xb.shape[-1]}")

