#pragma once
// Whether the CPU kernels that stack small images in one work item (conv2d_direct.h,
// separable_conv2d_fused.h) may do so. On unless a test or an A/B timing turned it off
// with torch.ops.pybench._set_image_stacking_for_testing(False): the results are bitwise
// the same either way, which the tests check.
namespace pybench::ops {
bool image_stacking_enabled();
}  // namespace pybench::ops
