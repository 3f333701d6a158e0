#pragma once
// The epilogue activations (common/activation.h) on a vector of floats, shared by every
// SIMD kernel with a fused epilogue: the direct and blocked convolutions, the depthwise
// and separable kernels, the blocked Winograd output transform.
//
// Included INSIDE an ISA target region, by the kernel bodies that use it (conv2d_direct.h,
// conv2d_nchwc_tile.h, depthwise_conv2d_direct.h), after the region's vector traits: it
// is compiled once per ISA, in an anonymous namespace, like them. Includes nothing; the
// including file includes <cmath> above the region. The traits `Isa` provide zero, set1,
// add, mul, min and max.
namespace {

template <class Isa>
inline typename Isa::Vec activate_vec(typename Isa::Vec v, Activation act) {
  switch (act) {
    // max / min return their second operand where either is NaN: v goes second, so NaN
    // stays NaN as in PyTorch.
    case Activation::relu: return Isa::max(Isa::zero(), v);
    case Activation::relu6: return Isa::min(Isa::set1(6.0f), Isa::max(Isa::zero(), v));
    case Activation::hardswish: {
      const auto gate = Isa::min(Isa::set1(6.0f),
                                 Isa::max(Isa::zero(), Isa::add(v, Isa::set1(3.0f))));
      return Isa::mul(v, Isa::mul(gate, Isa::set1(1.0f / 6.0f)));
    }
    default: return v;  // none; sigmoid runs after the store (sigmoid_in_place)
  }
}

// Sigmoid on the stored values: exp has no vector instruction, and a sigmoid convolution
// is rare enough (the MLP's classifier) that a scalar pass over the tile, still in L1,
// costs less than a vector exp to maintain.
inline void sigmoid_in_place(float* out, int64_t lanes) {
  for (int64_t i = 0; i < lanes; ++i) out[i] = 1.0f / (1.0f + std::exp(-out[i]));
}

}  // namespace
