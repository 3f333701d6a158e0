// Schemas of pybench::lstm_cell, pybench::lstm and pybench::lstm_pack_weights; the
// backends register themselves in cpu/ and cuda/.
//
// packed_ih / packed_hh are optional weights packed by lstm_pack_weights for the active CPU
// ISA (pybench.nn caches them across calls); without them the CPU kernels pack per call.
// They must hold the same values as w_ih / w_hh. The CUDA kernels read the raw weights and
// ignore them.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("lstm_pack_weights(Tensor w_ih, Tensor w_hh) -> (Tensor, Tensor)");
  m.def(
      "lstm_cell(Tensor input, Tensor hx, Tensor cx, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih=None, Tensor? b_hh=None, Tensor? packed_ih=None, "
      "Tensor? packed_hh=None) -> (Tensor, Tensor)");
  m.def(
      "lstm(Tensor input, Tensor hx, Tensor cx, Tensor w_ih, Tensor w_hh, Tensor? b_ih=None, "
      "Tensor? b_hh=None, bool batch_first=False, Tensor? packed_ih=None, "
      "Tensor? packed_hh=None) -> (Tensor, Tensor, Tensor)");
}
