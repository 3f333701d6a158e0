#pragma once
// The SIMT emulator: include this, then the kernel header, in an emulator test.
//   cuda_compat.h  CUDA keywords, built-ins, intrinsics and warp primitives for g++
//   runtime.h      pybench::simt::launch, Config, DeviceArray, Error
// See README.md for the execution model, how a kernel opts in, and the limits.
#include "simt/cuda_compat.h"
#include "simt/runtime.h"
