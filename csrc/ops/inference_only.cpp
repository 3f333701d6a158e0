// The inference-only ops (blocked layout, packed weights) at the Autograd key: PyTorch's
// default for a custom op without a backward warns and returns a result detached from the
// graph, so a model trained through them would silently learn nothing. This kernel records
// a node that raises "derivative for pybench::... is not implemented" when backward reaches
// it, and costs nothing without grad (inference_mode skips the key, no_grad passes
// through).
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

TORCH_LIBRARY_IMPL(pybench, Autograd, m) {
  for (const char* op : {"conv2d_nchwc", "conv2d_nchwc_out", "conv2d_nchwc_winograd",
                         "conv2d_nchwc_winograd_out", "depthwise_conv2d_nchwc", "pool2d_nchwc",
                         "adaptive_avg_pool2d_nchwc", "conv1x1_depthwise_nchwc",
                         "conv2d_maxpool_nchwc", "linear", "lstm_pack_weights",
                         // a backward itself: its double backward goes through ATen ops
                         // (pybench.ops.lstm_ops), never through it
                         "lstm_backward"}) {
    m.impl(op, torch::autograd::autogradNotImplementedFallback());
  }
}
