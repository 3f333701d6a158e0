"""The public op API: documented wrappers of ``torch.ops.pybench.*``, one module per op family.

Every op is a torch custom op (registered in C++ with TORCH_LIBRARY), so it works with
autograd-free inference, ``torch.compile`` (each module's fake kernels) and
``torch.library.opcheck``.

- :mod:`~pybench.ops.isa`: which CPU variant runs (``cpu_isa``, ``use_cpu_isa``, ...).
- :mod:`~pybench.ops.caches`: the CPU cache sizes the kernels block for (``cpu_caches``).
- :mod:`~pybench.ops.checks`: the tensor-argument checks every op shares, padding resolution.
- :mod:`~pybench.ops.gram_op`, :mod:`~pybench.ops.conv2d_op`,
  :mod:`~pybench.ops.depthwise_ops` (depthwise and separable), :mod:`~pybench.ops.lstm_ops`.
- :mod:`~pybench.ops.nchwc`: the blocked activation layout of converted models;
  :mod:`~pybench.ops.conv2d_nchwc_op`, :mod:`~pybench.ops.depthwise_nchwc`: its dense and
  depthwise convolutions with fused epilogues; :mod:`~pybench.ops.winograd_nchwc`: its
  3x3 stride-1 convolution by Winograd F(4x4, 3x3); :mod:`~pybench.ops.pool_nchwc`: its max,
  average and adaptive average pooling, and a convolution fused with the max pooling after it.
- :mod:`~pybench.ops.pool_ops`: max, average and adaptive average pooling of NCHW tensors
  (CPU and CUDA).
- :mod:`~pybench.ops.linear_op`: a packed fully connected layer for small inference batches.
- :mod:`~pybench.ops.pack_cache`: the raw ops' cache of packed weights
  (``clear_pack_cache``, ``pack_cache_info``).
"""
import torch  # noqa: F401  (first: it loads libc10 / libtorch, which _C links against)

from pybench import _C  # noqa: F401  (loads the library, registering torch.ops.pybench)
from pybench.ops.caches import CPU_CACHE_FIELDS, cpu_caches
from pybench.ops.checks import _pair, check_operands, conv2d_padding  # noqa: F401 (_pair: nn, tests)
from pybench.ops.conv2d_nchwc_op import (NCHWC_ACTIVATIONS, conv2d_nchwc, conv2d_nchwc_out,
                                         conv2d_nchwc_schema_args, pack_conv2d_nchwc,
                                         pad_bias_nchwc)
from pybench.ops.conv2d_op import CONV2D_ACTIVATIONS, conv2d
from pybench.ops.depthwise_nchwc import (depthwise_conv2d_nchwc,
                                         depthwise_conv2d_nchwc_schema_args,
                                         pack_depthwise_nchwc)
from pybench.ops.depthwise_ops import ACTIVATIONS, depthwise_conv2d, separable_conv2d
from pybench.ops.gram_op import gram
from pybench.ops.isa import (CPU_ISAS, cpu_isa, detected_cpu_isa, has_cuda_kernels, set_cpu_isa,
                             use_cpu_isa)
from pybench.ops.lstm_ops import lstm, lstm_cell, lstm_pack_weights
from pybench.ops.nchwc import block_size, from_nchwc, to_nchwc
from pybench.ops.output_cache import (OutputCacheInfo, empty_output, empty_output_cache,
                                      output_cache_info, set_output_cache)
from pybench.ops.linear_op import LINEAR_ACTIVATIONS, LINEAR_PANEL, linear, pack_linear
from pybench.ops.pack_cache import clear_pack_cache, pack_cache_info
from pybench.ops.pool_nchwc import (adaptive_avg_pool2d_nchwc, avg_pool2d_nchwc,
                                   conv2d_maxpool_nchwc, max_pool2d_nchwc)
from pybench.ops.pool_ops import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from pybench.ops.winograd_nchwc import (WINOGRAD_RTOL, conv2d_winograd_nchwc,
                                        conv2d_winograd_nchwc_out, pack_conv2d_winograd_nchwc,
                                        winograd_nchwc_schema_args, winograd_unsupported_reason)

__all__ = ["gram", "conv2d", "CONV2D_ACTIVATIONS", "conv2d_padding", "cpu_isa",
           "detected_cpu_isa", "use_cpu_isa", "set_cpu_isa", "CPU_ISAS", "has_cuda_kernels",
           "check_operands", "depthwise_conv2d", "separable_conv2d", "ACTIVATIONS", "lstm_cell",
           "lstm", "lstm_pack_weights",
           "clear_pack_cache", "pack_cache_info", "cpu_caches", "CPU_CACHE_FIELDS", "conv2d_nchwc",
           "conv2d_nchwc_out", "conv2d_nchwc_schema_args", "depthwise_conv2d_nchwc_schema_args",
           "pack_conv2d_nchwc", "pad_bias_nchwc", "NCHWC_ACTIVATIONS", "linear", "pack_linear",
           "LINEAR_PANEL", "LINEAR_ACTIVATIONS",
           "block_size", "to_nchwc", "from_nchwc", "depthwise_conv2d_nchwc", "pack_depthwise_nchwc",
           "max_pool2d_nchwc", "avg_pool2d_nchwc", "adaptive_avg_pool2d_nchwc", "conv2d_maxpool_nchwc",
           "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "OutputCacheInfo", "output_cache_info", "empty_output_cache", "set_output_cache",
           "empty_output", "conv2d_winograd_nchwc", "conv2d_winograd_nchwc_out",
           "pack_conv2d_winograd_nchwc", "winograd_nchwc_schema_args",
           "winograd_unsupported_reason", "WINOGRAD_RTOL"]

# Read the cache description now, as isa.py checks PYBENCH_MAX_CPU_ISA: a malformed
# PYBENCH_CPU_CACHES raises ValueError at import rather than at the first kernel call.
cpu_caches()
