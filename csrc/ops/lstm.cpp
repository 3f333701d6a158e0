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
  // Training: lstm's forward that also returns the activated gates (T, B, 4H) and the cell
  // states (T, B, H) of every step, and the back-propagation through time that reads them
  // (CPU). Returns of lstm_backward: (d_input -- empty unless input_grad --, d_hx, d_cx,
  // d_w_ih, d_w_hh, d_bias), d_bias being the gradient of b_ih and of b_hh alike.
  m.def(
      "lstm_train(Tensor input, Tensor hx, Tensor cx, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih=None, Tensor? b_hh=None, bool batch_first=False, Tensor? packed_ih=None, "
      "Tensor? packed_hh=None) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "lstm_backward(Tensor? grad_output, Tensor? grad_h_n, Tensor? grad_c_n, Tensor input, "
      "Tensor hx, Tensor cx, Tensor w_ih, Tensor w_hh, Tensor output, Tensor gates, "
      "Tensor cells, bool batch_first, bool input_grad) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}
