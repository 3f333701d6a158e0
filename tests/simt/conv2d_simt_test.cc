// The CUDA conv2d kernels (csrc/kernels/conv2d/conv2d_cuda.cuh) under the SIMT emulator:
// named and random shapes with tails against every tile size (channels vs the 64 M tile,
// pixels vs the 64 N tile, Cg*R*S vs the 16 K stage), C = 3, odd channels, 1x1 .. 11x11
// and 1x7 / 7x1 kernels, strides 1-4, symmetric and top/left-only padding, dilation 2,
// groups 2 / 3 / depthwise / channel multipliers, bias or none, the pointwise, general,
// split-K and direct paths, float4 and scalar loads and stores, batch slicing -- each
// under every scheduling seed, against a float64 reference. The epilogue (residual add and
// every activation) on each path, split-K's activation pass included, and NaN through it.
//
// The launch sequence is launch_conv2d's (conv2d_cuda.cu) step for step, with the same
// conv2d_images_per_launch, conv2d_launch_geometry and make_conv2d_kernel_args: batch
// slices, the zero fill when K is split, the kernel the geometry picks, the activation
// pass after a split GEMM.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

#include "conv2d/conv2d_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

namespace simt = pybench::simt;

struct ConvShape {
  int64_t batch, channels, h, w, out_channels, kh, kw;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  bool bias = true;
  Conv2dAlgo algo = Conv2dAlgo::kAuto;
  int sm_count = kConv2dDefaultSmCount;  // drives the split-K decision
  int64_t weight_offset = 0;  // floats before the weights (1: misaligned, scalar A loads)
  int64_t output_offset = 0;  // floats before the output (1: misaligned, scalar stores)
  int64_t max_pixels = kConv2dMaxPixelsPerLaunch;  // batch slicing
  // Epilogue: a residual (floats before it: 1 makes it misaligned, scalar stores) and the
  // activation.
  bool residual = false;
  int64_t residual_offset = 0;
  Activation act = Activation::none;
};

// Builder helpers keep the shape table readable.
ConvShape conv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t kh, int64_t kw) {
  ConvShape s{};
  s.batch = n;
  s.channels = c;
  s.h = h;
  s.w = w;
  s.out_channels = k;
  s.kh = kh;
  s.kw = kw;
  return s;
}
ConvShape stride(ConvShape s, int64_t sh, int64_t sw) {
  s.stride_h = sh;
  s.stride_w = sw;
  return s;
}
ConvShape pad(ConvShape s, int64_t top, int64_t bottom, int64_t left, int64_t right) {
  s.pad_top = top;
  s.pad_bottom = bottom;
  s.pad_left = left;
  s.pad_right = right;
  return s;
}
ConvShape pad(ConvShape s, int64_t p) { return pad(s, p, p, p, p); }
ConvShape dilate(ConvShape s, int64_t dh, int64_t dw) {
  s.dilation_h = dh;
  s.dilation_w = dw;
  return s;
}
ConvShape group(ConvShape s, int64_t g) {
  s.groups = g;
  return s;
}
ConvShape no_bias(ConvShape s) {
  s.bias = false;
  return s;
}
ConvShape algo(ConvShape s, Conv2dAlgo a) {
  s.algo = a;
  return s;
}
ConvShape sms(ConvShape s, int count) {
  s.sm_count = count;
  return s;
}
ConvShape epilogue(ConvShape s, bool residual, Activation act) {
  s.residual = residual;
  s.act = act;
  return s;
}

constexpr Activation kActivations[] = {Activation::none, Activation::relu, Activation::relu6,
                                       Activation::hardswish, Activation::sigmoid};

std::string describe(const ConvShape& s) {
  auto str = [](int64_t v) { return std::to_string(v); };
  return "N" + str(s.batch) + " C" + str(s.channels) + " " + str(s.h) + "x" + str(s.w) + " K" +
         str(s.out_channels) + " " + str(s.kh) + "x" + str(s.kw) + " stride " + str(s.stride_h) +
         "," + str(s.stride_w) + " pad " + str(s.pad_top) + "," + str(s.pad_bottom) + "," +
         str(s.pad_left) + "," + str(s.pad_right) + " dil " + str(s.dilation_h) + "," +
         str(s.dilation_w) + " groups " + str(s.groups) + (s.bias ? " bias" : " no-bias") +
         " algo " + str(static_cast<int>(s.algo)) + " sm " + str(s.sm_count) + " w+" +
         str(s.weight_offset) + " out+" + str(s.output_offset) + " max_pixels " +
         str(s.max_pixels) + (s.residual ? " residual+" + str(s.residual_offset) : "") +
         " act " + str(static_cast<int>(s.act));
}

Conv2dParams params_for(const ConvShape& s) {
  Conv2dParams p;
  p.batch = s.batch;
  p.in_channels = s.channels;
  p.in_h = s.h;
  p.in_w = s.w;
  p.out_channels = s.out_channels;
  p.kernel_h = s.kh;
  p.kernel_w = s.kw;
  p.stride_h = s.stride_h;
  p.stride_w = s.stride_w;
  p.pad_h = s.pad_top;
  p.pad_w = s.pad_left;
  p.dilation_h = s.dilation_h;
  p.dilation_w = s.dilation_w;
  p.groups = s.groups;
  p.out_h = conv2d_out_size(s.h, s.kh, s.stride_h, s.pad_top, s.pad_bottom, s.dilation_h);
  p.out_w = conv2d_out_size(s.w, s.kw, s.stride_w, s.pad_left, s.pad_right, s.dilation_w);
  p.activation = s.act;
  return p;
}

// Which paths of the kernels a run took.
struct Conv2dPaths {
  int launches = 0;
  bool direct = false, pointwise = false, general = false, split = false;
  bool vector_a = false, scalar_a = false, vector_out = false, scalar_out = false;
  bool finalize = false;  // the activation pass after a split GEMM
};

// launch_conv2d, with the emulator instead of the CUDA runtime.
Conv2dPaths emulate_launch_conv2d(const Conv2dParams& p, int sm_count, Conv2dAlgo algo,
                                  int64_t max_pixels, uint64_t seed) {
  Conv2dPaths paths;
  if (p.batch <= 0 || p.out_channels <= 0 || p.out_h <= 0 || p.out_w <= 0) return paths;
  EXPECT_EQ(conv2d_cuda_unsupported(p), nullptr);
  const simt::Config config = simt::test::config_for(seed);
  const int64_t per_launch = conv2d_images_per_launch(p, max_pixels);
  for (int64_t first = 0; first < p.batch; first += per_launch) {
    const Conv2dParams s = conv2d_batch_slice(p, first, std::min(per_launch, p.batch - first));
    const Conv2dLaunchGeometry g = conv2d_launch_geometry(s, sm_count, algo);
    if (g.empty()) continue;
    const Conv2dKernelArgs args = make_conv2d_kernel_args(s, g);
    const dim3 grid(g.grid_x, g.grid_y, g.grid_z);
    ++paths.launches;
    if (g.algo == Conv2dAlgo::kDirect) {
      paths.direct = true;
      simt::launch(config, grid, dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
                   conv2d_direct_kernel, args);
      continue;
    }
    if (g.split()) {
      std::fill(s.output, s.output + s.batch * s.out_channels * s.out_h * s.out_w, 0.0f);
      paths.split = true;
    }
    (args.vector_a ? paths.vector_a : paths.scalar_a) = true;
    (args.vector_out && !args.accumulate ? paths.vector_out : paths.scalar_out) = true;
    if (g.pointwise) {
      paths.pointwise = true;
      simt::launch(config, grid, dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
                   conv2d_gemm_kernel<true>, args);
    } else {
      paths.general = true;
      simt::launch(config, grid, dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
                   conv2d_gemm_kernel<false>, args);
    }
    if (g.finalize) {
      paths.finalize = true;
      simt::launch(config, dim3(g.finalize_grid_x), dim3(kConv2dDirectThreads), 0,
                   conv2d_activation_kernel, args);
    }
  }
  return paths;
}

// Host operands of one shape, seeded by its sizes.
struct Operands {
  std::vector<float> input, weight, bias, residual;
};

Operands operands_for(const ConvShape& s) {
  const uint64_t seed = 7919 * s.channels + 104729 * s.out_channels + 31 * s.h + s.kh;
  Operands o;
  o.input = simt::test::random_vector(static_cast<size_t>(s.batch * s.channels * s.h * s.w), seed);
  o.weight = simt::test::random_vector(
      static_cast<size_t>(s.out_channels * (s.channels / s.groups) * s.kh * s.kw), seed + 1);
  if (s.bias) o.bias = simt::test::random_vector(static_cast<size_t>(s.out_channels), seed + 2);
  if (s.residual) {
    const Conv2dParams p = params_for(s);
    // Wider than the sums (|sum| is a few units here) so the activations' every piece --
    // relu6's 6, hardswish's -3 and 3 -- is crossed.
    o.residual = simt::test::random_vector(
        static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w), seed + 3, -8.0f, 8.0f);
  }
  return o;
}

// float64 conv2d plus, per output, sum |w x| + |bias| (+ |residual|): a float sum of n
// terms in any order is within (n - 1) u of that times the unit roundoff u = 2^-24. The
// activation scales that error by at most its largest slope (hardswish's 1.5) and adds a
// few roundings of its own, relative to its value.
struct Reference {
  std::vector<double> value, magnitude;
  int64_t terms = 0;  // reduction length + the bias (+ the residual)
};

// The largest |slope| of an activation: how much it can grow an error of its argument.
double activation_slope(Activation act) {
  switch (act) {
    case Activation::hardswish: return 1.5;
    case Activation::sigmoid: return 0.25;
    default: return 1.0;
  }
}

Reference reference_conv2d(const Conv2dParams& p, const Operands& o) {
  const int64_t cg = p.in_channels / p.groups, kg = p.out_channels / p.groups;
  Reference ref;
  ref.terms = cg * p.kernel_h * p.kernel_w + 1 + (o.residual.empty() ? 0 : 1);
  const double slope = activation_slope(p.activation);
  const size_t n = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
  ref.value.assign(n, 0.0);
  ref.magnitude.assign(n, 0.0);
  size_t i = 0;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t k = 0; k < p.out_channels; ++k) {
      const int64_t g = k / kg;
      for (int64_t oy = 0; oy < p.out_h; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox, ++i) {
          double sum = o.bias.empty() ? 0.0 : o.bias[k];
          double mag = std::fabs(sum);
          for (int64_t c = 0; c < cg; ++c) {
            for (int64_t r = 0; r < p.kernel_h; ++r) {
              const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (int64_t s = 0; s < p.kernel_w; ++s) {
                const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
                if (ix < 0 || ix >= p.in_w) continue;
                const double x =
                    o.input[((b * p.in_channels + g * cg + c) * p.in_h + iy) * p.in_w + ix];
                const double w = o.weight[((k * cg + c) * p.kernel_h + r) * p.kernel_w + s];
                sum += w * x;
                mag += std::fabs(w * x);
              }
            }
          }
          if (!o.residual.empty()) {
            sum += o.residual[i];
            mag += std::fabs(o.residual[i]);
          }
          ref.value[i] = activate_ref(sum, p.activation);
          ref.magnitude[i] = mag * slope;
        }
      }
    }
  }
  return ref;
}

// Every output finite (written: the output starts as NaN) and within the float bound.
// Returns the largest |error| / sum |w x|, for the record.
double expect_matches(const std::vector<float>& got, const Reference& ref) {
  EXPECT_EQ(got.size(), ref.value.size());
  const double u = std::ldexp(1.0, -24);
  double worst = 0.0;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < ref.value.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref.value[i]);
    const double tol = static_cast<double>(ref.terms) * u * ref.magnitude[i] +
                       8 * u * std::fabs(ref.value[i]) + 1e-30;
    if (!(err <= tol)) {
      if (bad++ < 5) {
        ADD_FAILURE() << "out[" << i << "] = " << got[i] << ", want " << ref.value[i] << " +- "
                      << tol;
      }
    } else if (ref.magnitude[i] > 0) {
      worst = std::max(worst, err / ref.magnitude[i]);
    }
  }
  EXPECT_EQ(bad, 0) << "wrong outputs";
  return worst;
}

// Runs one shape under one seed and checks every output against float64.
Conv2dPaths check_conv2d(const ConvShape& s, uint64_t seed, double* worst = nullptr) {
  SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
  const Operands o = operands_for(s);
  Conv2dParams p = params_for(s);
  std::vector<float> weight_host(static_cast<size_t>(s.weight_offset), 0.0f);
  weight_host.insert(weight_host.end(), o.weight.begin(), o.weight.end());
  std::vector<float> residual_host(static_cast<size_t>(s.residual_offset), 0.0f);
  residual_host.insert(residual_host.end(), o.residual.begin(), o.residual.end());
  simt::DeviceArray<float> input(o.input), weight(weight_host), bias(o.bias);
  simt::DeviceArray<float> residual(residual_host);
  const size_t out_count = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
  simt::DeviceArray<float> output(out_count + static_cast<size_t>(s.output_offset));
  p.input = input.data();
  p.weight = weight.data() + s.weight_offset;
  p.bias = s.bias ? bias.data() : nullptr;
  p.residual = s.residual ? residual.data() + s.residual_offset : nullptr;
  p.output = output.data() + s.output_offset;
  const Conv2dPaths paths = emulate_launch_conv2d(p, s.sm_count, s.algo, s.max_pixels, seed);

  std::vector<float> got = output.to_vector();
  got.erase(got.begin(), got.begin() + s.output_offset);
  const double w = expect_matches(got, reference_conv2d(p, o));
  if (worst) *worst = std::max(*worst, w);
  return paths;
}

// The named shapes: one per feature, each with tails against the tiles.
std::vector<ConvShape> named_shapes() {
  using A = Conv2dAlgo;
  std::vector<ConvShape> v = {
      pad(conv(2, 3, 9, 9, 8, 3, 3), 1),                       // C = 3 first layer, batch 2
      no_bias(stride(pad(conv(1, 7, 11, 13, 13, 5, 5), 2), 2, 2)),  // odd channels, 5x5 s2
      conv(2, 37, 6, 6, 70, 1, 1),                             // pointwise: M, N, K tails
      stride(conv(1, 16, 9, 9, 20, 1, 1), 2, 2),               // 1x1 stride 2: general path
      pad(conv(1, 12, 8, 10, 10, 1, 7), 0, 0, 3, 3),           // 1x7
      no_bias(pad(conv(2, 12, 10, 8, 10, 7, 1), 3, 3, 0, 0)),  // 7x1
      stride(pad(conv(1, 3, 27, 27, 16, 11, 11), 2), 4, 4),    // AlexNet conv1 in small
      dilate(pad(conv(1, 10, 10, 10, 12, 3, 3), 2), 2, 2),     // dilation 2
      group(pad(conv(2, 10, 7, 7, 14, 3, 3), 1), 2),           // groups 2, Cg 5, Kg 7
      group(stride(pad(conv(2, 24, 10, 10, 24, 3, 3), 1), 2, 2), 24),  // depthwise: direct
      algo(group(stride(pad(conv(2, 24, 10, 10, 24, 3, 3), 1), 2, 2), 24), A::kGemm),
      group(pad(conv(1, 6, 9, 9, 12, 3, 3), 1), 6),            // channel multiplier 2: direct
      pad(conv(1, 5, 8, 8, 6, 2, 2), 0, 1, 0, 1),              // "same", even kernel
      pad(conv(1, 8, 6, 6, 9, 1, 1), 0, 1, 0, 2),              // 1x1, bottom/right pad only
      stride(conv(1, 5, 14, 14, 6, 3, 3), 3, 3),               // stride 3, no padding
      stride(pad(conv(1, 4, 9, 11, 5, 3, 5), 1, 0, 2, 1), 2, 3),  // mixed everything
      pad(conv(1, 100, 4, 4, 70, 3, 3), 1),                    // split-K (3 splits)
      group(pad(conv(1, 128, 3, 3, 20, 3, 3), 1), 2),          // split-K with groups
      sms(pad(conv(1, 100, 4, 4, 70, 3, 3), 1), 1),            // same, one SM: no split
      pad(conv(2, 9, 9, 8, 130, 3, 3), 1),                     // 3 M tiles x 3 N tiles
      algo(group(pad(conv(1, 6, 7, 7, 9, 3, 3), 1), 3), A::kDirect),  // direct, Cg 2
      algo(stride(pad(conv(2, 5, 9, 7, 11, 3, 3), 0, 2, 1, 0), 1, 2), A::kDirect),
      conv(1, 0, 5, 5, 3, 1, 1),                               // no input channels: bias
  };
  ConvShape misaligned = pad(conv(1, 4, 8, 8, 8, 3, 3), 1);    // K = 36, out_hw 64: both
  misaligned.weight_offset = 1;                                // float4-able, but
  misaligned.output_offset = 1;                                // misaligned: scalar paths
  v.push_back(misaligned);
  ConvShape sliced = pad(conv(3, 4, 5, 5, 8, 3, 3), 1);        // 25 pixels an image:
  sliced.max_pixels = 30;                                      // 1 image a launch
  v.push_back(sliced);
  sliced.max_pixels = 60;  // 2 + 1 images
  v.push_back(sliced);
  sliced.algo = Conv2dAlgo::kDirect;
  v.push_back(sliced);
  return v;
}

// Random shapes: any kernel up to 5x5, strides 1-3, dilation 1-2, independent padding on
// each side, groups 1-3, up to 2 channel tiles, 64 input channels a group (K up to 1600,
// so some split), bias or not.
std::vector<ConvShape> random_shapes(size_t count) {
  std::vector<ConvShape> v;
  std::mt19937 rng(20240607);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int sm_counts[] = {132, 8, 1};
  while (v.size() < count) {
    ConvShape s = conv(1, 1, 1, 1, 1, 1, 1);
    s.batch = pick(1, 2);
    s.kh = pick(1, 5);
    s.kw = pick(1, 5);
    s.groups = pick(1, 3);
    s.channels = s.groups * pick(1, 64);
    s.out_channels = s.groups * pick(1, 80);
    s.stride_h = pick(1, 3);
    s.stride_w = pick(1, 3);
    s.dilation_h = pick(1, 2);
    s.dilation_w = pick(1, 2);
    s.pad_top = pick(0, 2);
    s.pad_bottom = pick(0, 2);
    s.pad_left = pick(0, 2);
    s.pad_right = pick(0, 2);
    const int64_t extent_h = s.dilation_h * (s.kh - 1) + 1;
    const int64_t extent_w = s.dilation_w * (s.kw - 1) + 1;
    s.h = std::max<int64_t>(1, extent_h - s.pad_top - s.pad_bottom + pick(0, 14));
    s.w = std::max<int64_t>(1, extent_w - s.pad_left - s.pad_right + pick(0, 14));
    if (s.h + s.pad_top + s.pad_bottom < extent_h || s.w + s.pad_left + s.pad_right < extent_w) {
      continue;
    }
    s.bias = pick(0, 1) == 1;
    s.sm_count = sm_counts[v.size() % 3];
    v.push_back(s);
  }
  return v;
}

TEST(Conv2dSimt, MatchesFloat64OnNamedShapesUnderEverySeed) {
  Conv2dPaths seen;
  double worst = 0.0;
  int runs = 0;
  for (const ConvShape& s : named_shapes()) {
    for (uint64_t seed : simt::test::seeds()) {
      const Conv2dPaths p = check_conv2d(s, seed, &worst);
      ++runs;
      seen.direct |= p.direct;
      seen.pointwise |= p.pointwise;
      seen.general |= p.general;
      seen.split |= p.split;
      seen.vector_a |= p.vector_a;
      seen.scalar_a |= p.scalar_a;
      seen.vector_out |= p.vector_out;
      seen.scalar_out |= p.scalar_out;
      if (s.max_pixels < kConv2dMaxPixelsPerLaunch) {
        EXPECT_GT(p.launches, 1) << describe(s) << ": the batch was not sliced";
      }
    }
  }
  EXPECT_TRUE(seen.direct) << "no shape took the direct kernel";
  EXPECT_TRUE(seen.pointwise) << "no shape took the pointwise GEMM";
  EXPECT_TRUE(seen.general) << "no shape took the general GEMM";
  EXPECT_TRUE(seen.split) << "no shape took the split-K path";
  EXPECT_TRUE(seen.vector_a && seen.scalar_a) << "float4 and scalar weight loads not both run";
  EXPECT_TRUE(seen.vector_out && seen.scalar_out) << "float4 and scalar stores not both run";
  RecordProperty("runs", runs);
  RecordProperty("worst_relative_error_x1e9", static_cast<int>(worst * 1e9));
  EXPECT_LT(worst, 1e-5);
}

TEST(Conv2dSimt, MatchesFloat64OnRandomShapesUnderEverySeed) {
  double worst = 0.0;
  int runs = 0, split = 0;
  for (const ConvShape& s : random_shapes(16)) {
    for (uint64_t seed : simt::test::seeds()) {
      split += check_conv2d(s, seed, &worst).split;
      ++runs;
    }
  }
  EXPECT_GT(split, 0) << "no random shape split K";
  RecordProperty("runs", runs);
  RecordProperty("split_runs", split);
  RecordProperty("worst_relative_error_x1e9", static_cast<int>(worst * 1e9));
  EXPECT_LT(worst, 1e-5);
}

// The epilogue on every path: the pointwise and general GEMM's float4 and scalar stores
// (a misaligned residual takes the scalar ones), split-K -- the residual added by split 0,
// the activation a pass of its own -- with and without a residual, the direct kernel,
// batch slices (the residual sliced with the output); every activation on split-K.
std::vector<ConvShape> epilogue_shapes() {
  std::vector<ConvShape> v;
  const ConvShape split = pad(conv(1, 100, 4, 4, 70, 3, 3), 1);
  for (Activation act : kActivations) v.push_back(epilogue(split, true, act));
  v.push_back(epilogue(split, false, Activation::relu));
  v.push_back(epilogue(split, false, Activation::sigmoid));
  v.push_back(epilogue(group(pad(conv(1, 128, 3, 3, 20, 3, 3), 1), 2), true,
                       Activation::hardswish));                          // split-K, groups
  v.push_back(epilogue(sms(split, 1), true, Activation::relu6));         // no split
  v.push_back(epilogue(conv(2, 37, 6, 6, 70, 1, 1), true, Activation::relu));  // pointwise
  v.push_back(epilogue(pad(conv(2, 9, 9, 8, 130, 3, 3), 1), true, Activation::relu6));
  v.push_back(epilogue(no_bias(stride(pad(conv(1, 7, 11, 13, 13, 5, 5), 2), 2, 2)), true,
                       Activation::sigmoid));                            // scalar stores
  const ConvShape depthwise = group(stride(pad(conv(2, 24, 10, 10, 24, 3, 3), 1), 2, 2), 24);
  v.push_back(epilogue(depthwise, true, Activation::hardswish));         // direct
  v.push_back(epilogue(depthwise, false, Activation::relu));
  ConvShape misaligned = epilogue(pad(conv(1, 4, 8, 8, 8, 3, 3), 1), true, Activation::relu);
  v.push_back(misaligned);  // out_hw 64, all aligned: float4 stores
  misaligned.residual_offset = 1;
  v.push_back(misaligned);  // the residual alone misaligned: scalar stores
  ConvShape sliced = epilogue(pad(conv(3, 4, 5, 5, 8, 3, 3), 1), true, Activation::hardswish);
  sliced.max_pixels = 60;  // 2 + 1 images a launch
  v.push_back(sliced);
  sliced.algo = Conv2dAlgo::kDirect;
  v.push_back(sliced);
  ConvShape sliced_split = epilogue(pad(conv(2, 100, 4, 4, 70, 3, 3), 1), true,
                                    Activation::sigmoid);
  sliced_split.max_pixels = 16;  // one image a launch, each split
  v.push_back(sliced_split);
  return v;
}

TEST(Conv2dSimt, EpilogueMatchesFloat64UnderEverySeed) {
  Conv2dPaths seen;
  double worst = 0.0;
  for (const ConvShape& s : epilogue_shapes()) {
    for (uint64_t seed : simt::test::seeds()) {
      const Conv2dPaths p = check_conv2d(s, seed, &worst);
      seen.direct |= p.direct;
      seen.pointwise |= p.pointwise;
      seen.general |= p.general;
      seen.split |= p.split;
      seen.vector_out |= p.vector_out;
      seen.scalar_out |= p.scalar_out;
      seen.finalize |= p.finalize;
      EXPECT_EQ(p.finalize, p.split && s.act != Activation::none) << describe(s);
      if (s.max_pixels < kConv2dMaxPixelsPerLaunch) {
        EXPECT_GT(p.launches, 1) << describe(s) << ": the batch was not sliced";
      }
    }
  }
  EXPECT_TRUE(seen.direct && seen.pointwise && seen.general) << "a kernel not run";
  EXPECT_TRUE(seen.split && seen.finalize) << "split-K's epilogue not run";
  EXPECT_TRUE(seen.vector_out && seen.scalar_out) << "float4 and scalar stores not both run";
  RecordProperty("worst_relative_error_x1e9", static_cast<int>(worst * 1e9));
}

// The random shapes again, each with an activation and (two in three) a residual.
TEST(Conv2dSimt, EpilogueMatchesFloat64OnRandomShapesUnderEverySeed) {
  double worst = 0.0;
  int split = 0;
  const std::vector<ConvShape> shapes = random_shapes(16);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const ConvShape s = epilogue(shapes[i], i % 3 != 0, kActivations[i % 5]);
    for (uint64_t seed : simt::test::seeds()) split += check_conv2d(s, seed, &worst).split;
  }
  EXPECT_GT(split, 0) << "no random shape split K";
  RecordProperty("worst_relative_error_x1e9", static_cast<int>(worst * 1e9));
}

// A NaN in the residual stays NaN through relu and relu6 (as torch.relu), and reaches
// only its own output, on the split and the plain GEMM and the direct kernel.
TEST(Conv2dSimt, NanInTheResidualStaysNanThroughRelu) {
  const ConvShape shapes[] = {
      pad(conv(1, 100, 4, 4, 70, 3, 3), 1),                               // split-K
      sms(pad(conv(1, 100, 4, 4, 70, 3, 3), 1), 1),                       // no split
      group(pad(conv(1, 6, 9, 9, 12, 3, 3), 1), 6),                       // direct
  };
  for (const ConvShape& shape : shapes) {
    for (Activation act : {Activation::relu, Activation::relu6}) {
      const ConvShape s = epilogue(shape, true, act);
      SCOPED_TRACE(describe(s));
      Operands o = operands_for(s);
      for (size_t i = 0; i < o.residual.size(); i += 7) {
        o.residual[i] = std::numeric_limits<float>::quiet_NaN();
      }
      Conv2dParams p = params_for(s);
      simt::DeviceArray<float> input(o.input), weight(o.weight), bias(o.bias);
      simt::DeviceArray<float> residual(o.residual), output(o.residual.size());
      p.input = input.data();
      p.weight = weight.data();
      p.bias = bias.data();
      p.residual = residual.data();
      p.output = output.data();
      emulate_launch_conv2d(p, s.sm_count, s.algo, s.max_pixels, 1);
      const std::vector<float> got = output.to_vector();
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(std::isnan(got[i]), i % 7 == 0) << "out[" << i << "] = " << got[i];
      }
    }
  }
}

// The kernels loop over every grid axis beyond the grid (conv2d_launch_geometry clamps grid
// x to 2^31 - 1 and y, z to 65535). Clamped grids are too big to emulate, so this runs the
// launcher's arguments on a 1 x 1 x 1 grid: every block-stride loop then takes many turns
// (2 pixel tiles x 2 channel tiles x 2 groups x 2 splits; and the direct kernel's loop).
TEST(Conv2dSimt, BlockStrideLoopsCoverAGridSmallerThanTheWork) {
  const ConvShape shapes[] = {
      group(pad(conv(2, 128, 7, 7, 140, 3, 3), 1), 2),
      group(pad(conv(2, 12, 9, 9, 12, 3, 3), 1), 12),
      epilogue(group(pad(conv(2, 128, 7, 7, 140, 3, 3), 1), 2), true, Activation::hardswish),
      epilogue(group(pad(conv(2, 12, 9, 9, 12, 3, 3), 1), 12), true, Activation::sigmoid),
  };
  for (const ConvShape& s : shapes) {
    SCOPED_TRACE(describe(s));
    const Operands o = operands_for(s);
    Conv2dParams p = params_for(s);
    simt::DeviceArray<float> input(o.input), weight(o.weight), bias(o.bias);
    simt::DeviceArray<float> residual(o.residual);
    simt::DeviceArray<float> output(
        static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w));
    p.input = input.data();
    p.weight = weight.data();
    p.bias = bias.data();
    p.residual = s.residual ? residual.data() : nullptr;
    p.output = output.data();
    const Conv2dLaunchGeometry g = conv2d_launch_geometry(p);
    const Conv2dKernelArgs args = make_conv2d_kernel_args(p, g);
    if (g.algo == Conv2dAlgo::kDirect) {
      EXPECT_GT(g.grid_x, 1);
      simt::launch(simt::test::config_for(2), dim3(1, 1, 1), dim3(g.threads), 0,
                   conv2d_direct_kernel, args);
    } else {
      EXPECT_TRUE(g.split());
      EXPECT_GT(g.grid_x, 1);
      EXPECT_GT(g.grid_y, 1);
      EXPECT_GT(g.grid_z, 2);
      std::fill(p.output, p.output + output.size(), 0.0f);
      simt::launch(simt::test::config_for(2), dim3(1, 1, 1), dim3(g.threads), 0,
                   conv2d_gemm_kernel<false>, args);
      EXPECT_EQ(g.finalize, s.act != Activation::none);
      if (g.finalize) {
        EXPECT_GT(g.finalize_grid_x, 1);
        simt::launch(simt::test::config_for(2), dim3(1, 1, 1), dim3(kConv2dDirectThreads), 0,
                     conv2d_activation_kernel, args);
      }
    }
    expect_matches(output.to_vector(), reference_conv2d(p, o));
  }
}

// ---- Host index math (no emulation) -------------------------------------------------------

// The walk from any start, by 1 and by a stage, agrees with decoding each index afresh.
TEST(Conv2dCudaIndex, WalkStepsMatchDirectDecoding) {
  std::mt19937 rng(99);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int t = 0; t < 200; ++t) {
    const int R = pick(1, 11), S = pick(1, 11), dh = pick(1, 3), dw = pick(1, 3);
    const int in_w = pick(1, 40), in_hw = in_w * pick(1, 40);
    const Conv2dWalkRadix x = conv2d_walk_radix(R, S, dh, dw, in_w, in_hw);
    const Conv2dWalk one = conv2d_walk_at(1, R, S, dh, dw, in_w, in_hw);
    const Conv2dWalk stage = conv2d_walk_at(kConv2dTileK, R, S, dh, dw, in_w, in_hw);
    int k = pick(0, 500);
    Conv2dWalk w = conv2d_walk_at(k, R, S, dh, dw, in_w, in_hw);
    for (int step = 0; step < 60; ++step) {
      const bool big = step % 3 == 0;
      w = conv2d_walk_add(w, big ? stage : one, x);
      k += big ? kConv2dTileK : 1;
      const Conv2dWalk want = conv2d_walk_at(k, R, S, dh, dw, in_w, in_hw);
      ASSERT_EQ(w.ry, want.ry) << "k " << k << " R " << R << " S " << S;
      ASSERT_EQ(w.sx, want.sx) << "k " << k;
      ASSERT_EQ(w.off, want.off) << "k " << k;
      const int c = k / (R * S), r = k % (R * S) / S, s = k % S;
      ASSERT_EQ(want.off, static_cast<unsigned>(c * in_hw + r * dh * in_w + s * dw));
    }
  }
}

// The multiply-high divisions agree with '/' over the whole int32 range of dividends.
TEST(Conv2dCudaIndex, FastDivisionIsExact) {
  std::vector<unsigned> divisors = {1, 2, 3, 5, 6, 7, 9, 25, 49, 56, 196, 3136, 12544, 50176,
                                    65535, 65536, 65537, 1u << 30, (1u << 31) - 1};
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i) divisors.push_back(1 + rng() % ((1u << 31) - 1));
  for (int i = 0; i < 200; ++i) divisors.push_back(1 + rng() % 5000);
  for (unsigned d : divisors) {
    const Conv2dDivisor v = conv2d_divisor(d);
    std::vector<unsigned> dividends = {0, 1, d - 1, d, d + 1, (1u << 31) - 1, (1u << 31) - 2};
    for (unsigned q : {1u, 2u, 1000u, 65535u}) {
      const uint64_t n = static_cast<uint64_t>(d) * q;  // around multiples of d
      if (n + 1 < (1u << 31)) {
        dividends.push_back(static_cast<unsigned>(n - 1));
        dividends.push_back(static_cast<unsigned>(n));
        dividends.push_back(static_cast<unsigned>(n + 1));
      }
    }
    for (int i = 0; i < 500; ++i) dividends.push_back(rng() % (1u << 31));
    for (unsigned n : dividends) {
      if (n >= (1u << 31)) continue;
      ASSERT_EQ(conv2d_div(n, v), n / d) << n << " / " << d;
    }
  }
}

Conv2dParams big_params(int64_t batch, int64_t c, int64_t hw, int64_t k, int64_t groups) {
  Conv2dParams p;
  p.batch = batch;
  p.in_channels = c;
  p.in_h = p.in_w = p.out_h = p.out_w = hw;
  p.out_channels = k;
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 1;
  p.groups = groups;
  return p;
}

TEST(Conv2dCudaIndex, GeometryClampsTheGridAndSplitsWholeStages) {
  // Channel tiles and groups x splits past 65535 are clamped; the kernel loops.
  Conv2dLaunchGeometry g = conv2d_launch_geometry(big_params(1, 8, 4, 64 * 70000, 1));
  EXPECT_EQ(g.m_tiles, 70000);
  EXPECT_EQ(g.grid_y, 65535);
  g = conv2d_launch_geometry(big_params(1, 2 * 70000, 4, 64 * 70000, 70000));
  EXPECT_EQ(g.grid_z, 65535);
  EXPECT_EQ(g.algo, Conv2dAlgo::kGemm);
  // ResNet layer4 at batch 1: one pixel tile, 8 channel tiles: split K in whole stages.
  Conv2dParams p = big_params(1, 512, 7, 512, 1);
  for (int sm : {1, 8, 108, 132}) {
    g = conv2d_launch_geometry(p, sm);
    const int64_t kgemm = 512 * 9;
    EXPECT_EQ(g.split_length % kConv2dTileK, 0);
    EXPECT_GE(g.splits * g.split_length, kgemm);
    EXPECT_LT((g.splits - 1) * g.split_length, kgemm) << "an empty split";
    EXPECT_GE(g.split_length, kConv2dMinSplitLength) << "sm " << sm;
    EXPECT_EQ(g.grid_z, g.splits);
  }
  EXPECT_FALSE(conv2d_launch_geometry(p, 1).split());
  EXPECT_TRUE(conv2d_launch_geometry(p, 132).split());
  // The activation pass: split-K with an activation only, one thread an output.
  EXPECT_FALSE(conv2d_launch_geometry(p, 132).finalize);
  p.activation = Activation::relu;
  g = conv2d_launch_geometry(p, 132);
  EXPECT_TRUE(g.finalize);
  EXPECT_EQ(g.finalize_grid_x, (512 * 49 + kConv2dDirectThreads - 1) / kConv2dDirectThreads);
  EXPECT_FALSE(conv2d_launch_geometry(p, 1).finalize);
  p.activation = Activation::none;
  // Large outputs fill the GPU without splitting.
  EXPECT_FALSE(conv2d_launch_geometry(big_params(8, 64, 56, 64, 1), 132).split());
}

TEST(Conv2dCudaIndex, GeometryPicksTheKernel) {
  Conv2dParams p = big_params(1, 32, 8, 32, 32);  // depthwise
  EXPECT_EQ(conv2d_launch_geometry(p).algo, Conv2dAlgo::kDirect);
  p.out_channels = 32 * 16;  // channel multiplier 16: the GEMM tile is 1/4 full
  EXPECT_EQ(conv2d_launch_geometry(p).algo, Conv2dAlgo::kGemm);
  EXPECT_EQ(conv2d_launch_geometry(p, 132, Conv2dAlgo::kDirect).algo, Conv2dAlgo::kDirect);
  p = big_params(1, 32, 8, 32, 1);
  p.kernel_h = p.kernel_w = 1;
  p.pad_h = p.pad_w = 0;
  EXPECT_TRUE(conv2d_launch_geometry(p).pointwise);
  p.out_h = 9;  // bottom padding only: the last row reads zeros, not a plain GEMM
  EXPECT_FALSE(conv2d_launch_geometry(p).pointwise);
  p.out_h = 8;
  p.stride_w = 2;
  p.out_w = 4;
  EXPECT_FALSE(conv2d_launch_geometry(p).pointwise);
  p = big_params(0, 32, 8, 32, 1);
  EXPECT_TRUE(conv2d_launch_geometry(p).empty());
  // Depthwise: x covers one image's outputs, y the images.
  p = big_params(70000, 16, 7, 16, 16);
  Conv2dLaunchGeometry g = conv2d_launch_geometry(p);
  EXPECT_EQ(g.algo, Conv2dAlgo::kDirect);
  EXPECT_EQ(g.grid_x, (16 * 49 + kConv2dDirectThreads - 1) / kConv2dDirectThreads);
  EXPECT_EQ(g.grid_y, 65535);
  // One image's outputs past int32: the direct kernel cannot index them, the GEMM runs.
  p = big_params(1, 64, 8, 64, 64);
  p.out_h = p.in_h = 1 << 13;
  p.out_w = p.in_w = 1 << 12;
  EXPECT_EQ(conv2d_launch_geometry(p, 132, Conv2dAlgo::kDirect).algo, Conv2dAlgo::kGemm);
}

TEST(Conv2dCudaIndex, UnsupportedSizesAndBatchSlices) {
  Conv2dParams p = big_params(2, 64, 56, 64, 1);
  EXPECT_EQ(conv2d_cuda_unsupported(p), nullptr);
  p.in_h = p.out_h = 1 << 16;
  p.in_w = p.out_w = 1 << 15;  // a 2^31-element plane
  EXPECT_NE(conv2d_cuda_unsupported(p), nullptr);
  p = big_params(1, 1 << 20, 64, 64, 1);  // 2^20 channels of 64x64: 2^32 per image
  EXPECT_NE(conv2d_cuda_unsupported(p), nullptr);
  p.groups = 1 << 10;  // 2^10 channels per group: 2^22 per group, fine
  EXPECT_EQ(conv2d_cuda_unsupported(p), nullptr);

  p = big_params(10, 3, 5, 4, 1);
  std::vector<float> in(10 * 3 * 25), out(10 * 4 * 25);
  p.input = in.data();
  p.output = out.data();
  EXPECT_EQ(conv2d_images_per_launch(p), kConv2dMaxPixelsPerLaunch / 25);
  EXPECT_EQ(conv2d_images_per_launch(p, 60), 2);
  EXPECT_EQ(conv2d_images_per_launch(p, 10), 1);
  const Conv2dParams s = conv2d_batch_slice(p, 4, 3);
  EXPECT_EQ(s.batch, 3);
  EXPECT_EQ(s.input, in.data() + 4 * 3 * 25);
  EXPECT_EQ(s.output, out.data() + 4 * 4 * 25);
}

}  // namespace
}  // namespace pybench::kernels::cuda
