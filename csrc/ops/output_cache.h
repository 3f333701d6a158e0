// Memory for the outputs of the blocked-layout (NCHWc) ops, reused across calls.
//
// Why: a converted model allocates every activation afresh on each forward. glibc serves
// an allocation above its mmap threshold (at most 32 MiB) with a fresh mmap and unmaps it
// on free, so the next forward takes a page fault -- and a kernel zeroing the page -- for
// every 4 KiB it writes again: at batch 8, VGG-16 touches about 400 MB of such pages per
// forward. ONNX Runtime (its BFC arena) and OpenVINO (a memory plan) keep that memory
// between runs; this cache does the same for pybench's blocked ops, as PyTorch's CUDA
// caching allocator does on the GPU. See output_cache.cpp for the policy.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace pybench::ops {

// An uninitialised float32 CPU tensor of `sizes`, its storage taken from the cache when
// a freed block fits. Storage stays resizable (it carries the cache's allocator).
at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options);

}  // namespace pybench::ops
