"""pybench.ops.gram: the Gram matrix of feature maps."""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands


def gram(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Gram matrix of feature maps, G = F Fᵀ (style transfer's feature correlations).

    Args:
        features: float32 tensor, either (N, C, H, W) -- each map F[n] is viewed as a
            C x (H*W) matrix -- or (C, L). CPU or CUDA; any strides (rows that are not
            contiguous are copied first).
        normalize: divide by C*H*W (C*L for 2-D input), as style-transfer losses do.

    Returns:
        (N, C, C) for 4-D input, (C, C) for 2-D input; float32, on the input's device,
        exactly symmetric. Only the upper triangle is computed (about half the FLOPs of
        ``F @ F.T``); the lower one is its mirror.

    Raises:
        TypeError: the input is not float32.
        ValueError: the input is not of rank 2 or 4.
    """
    check_operands("pybench.gram", features, "features")
    return torch.ops.pybench.gram(features, normalize)


@torch.library.register_fake("pybench::gram")
def _gram_fake(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    check_operands("pybench.gram", features, "features")
    torch._check(
        features.dim() in (2, 4),
        lambda: f"pybench.gram: expected features of rank 2 (C, L) or 4 (N, C, H, W), "
        f"got rank {features.dim()}",
    )
    c = features.shape[-3] if features.dim() == 4 else features.shape[0]
    if features.dim() == 4:
        return features.new_empty((features.shape[0], c, c))
    return features.new_empty((c, c))
