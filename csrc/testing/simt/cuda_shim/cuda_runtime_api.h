#pragma once
// Emulator stand-in for <cuda_runtime_api.h>; see cuda_runtime.h beside it.
#include "cuda_runtime.h"
