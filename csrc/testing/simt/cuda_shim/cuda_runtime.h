#pragma once
// Emulator stand-in for <cuda_runtime.h>, on the include path of emulator tests only, so a
// kernel header that includes the CUDA runtime header compiles under g++. It provides the
// device-side language (cuda_compat.h) and the few runtime types a header may name; the
// host runtime API itself (cudaMalloc, <<<...>>>) is not emulated: launch with
// pybench::simt::launch.
#include "simt/cuda_compat.h"

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };
typedef enum cudaError cudaError_t;
