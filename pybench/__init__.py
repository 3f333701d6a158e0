"""pybench: hand-written AVX-512/AVX2/CUDA kernels benchmarked against PyTorch."""

from pybench import ops

__all__ = ["ops"]
__version__ = "0.1.0"
