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


# Backward: dF = scale * (dG + dG^T) F on pybench's own kernel (one C x C x L product where
# autograd of F @ F.T runs two), csrc/kernels/gram/gram.h.
def _gram_setup_context(ctx, inputs, output):
    features, normalize = inputs
    ctx.save_for_backward(features)
    ctx.normalize = normalize


def _gram_backward(ctx, grad):
    (features,) = ctx.saved_tensors
    return torch.ops.pybench.gram_backward(grad, features, ctx.normalize), None


torch.library.register_autograd("pybench::gram", _gram_backward, setup_context=_gram_setup_context)


@torch.library.register_fake("pybench::gram_backward")
def _gram_backward_fake(grad: torch.Tensor, features: torch.Tensor,
                        normalize: bool = False) -> torch.Tensor:
    out_shape = _gram_fake(features, normalize).shape
    check_operands("pybench.gram_backward", features, "features", grad=grad)
    torch._check_value(tuple(grad.shape) == tuple(out_shape),
                       lambda: f"pybench.gram_backward: expected grad of the Gram matrix's "
                       f"shape {tuple(out_shape)}, got {tuple(grad.shape)}")
    return features.new_empty(features.shape)


# Double backward, through ATen's matmul: the backward is linear in dG and in F, so with
# S = scale (dG + dG^T) and u the incoming gradient of dF, d/d(dG) = scale (u F^T + F u^T)
# (as a (C, C) of dG's shape) and d/dF = S^T u = S u (S is symmetric).
def _gram_backward_setup_context(ctx, inputs, output):
    grad, features, normalize = inputs
    ctx.save_for_backward(grad, features)
    ctx.normalize = normalize


def _gram_backward_backward(ctx, u):
    grad, features = ctx.saved_tensors
    f = features.flatten(-2) if features.dim() == 4 else features
    uf = u.flatten(-2) if features.dim() == 4 else u
    c, length = f.shape[-2], f.shape[-1]
    scale = 1.0 / (c * length) if ctx.normalize and c * length > 0 else 1.0
    need_grad, need_features = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    d_grad = d_features = None
    if need_grad:
        h = uf @ f.transpose(-1, -2)
        d_grad = scale * (h + h.transpose(-1, -2))
    if need_features:
        s = scale * (grad + grad.transpose(-1, -2))
        d_features = (s @ uf).reshape(features.shape)
    return d_grad, d_features, None


torch.library.register_autograd("pybench::gram_backward", _gram_backward_backward,
                                setup_context=_gram_backward_setup_context)
