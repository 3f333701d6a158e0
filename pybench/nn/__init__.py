"""Drop-in modules running pybench kernels, and :func:`convert` to put them into a model.

>>> import pybench.nn
>>> fast = pybench.nn.convert(model.eval())   # a copy; BN folded, convolutions swapped
>>> print(fast.pybench_report)                # what was swapped, folded and kept, and why
>>> with torch.inference_mode():
...     y = fast(x)

The pybench layers run their kernels only where no autograd graph is recorded; where one
is, they run PyTorch's layer (every pybench op has a backward, but those of the LSTM and
separable ops recompute the forward in ATen ops and are not faster than PyTorch's). Run
converted models under ``torch.inference_mode()`` or ``torch.no_grad()`` for their speed.
"""
from pybench.nn.conv import Conv2d, conv2d_unsupported_reason
from pybench.nn.linear import Linear, linear_unsupported_reason
from pybench.nn.lstm import LSTM, LSTMCell, lstm_cell_unsupported_reason, lstm_unsupported_reason
from pybench.nn.convert import (RULES, ConversionMismatch, ConversionReport, Converted, Folded,
                                Rule, Skipped, convert, fold_batchnorm, register_rule)
from pybench.nn.separable import InvertedResidual, SeparableConv2d

__all__ = ["Conv2d", "conv2d_unsupported_reason", "convert", "fold_batchnorm", "Rule", "RULES", "register_rule",
           "ConversionReport", "ConversionMismatch", "Converted", "Folded", "Skipped",
           "SeparableConv2d", "InvertedResidual", "Linear", "linear_unsupported_reason",
           "LSTM", "LSTMCell", "lstm_unsupported_reason", "lstm_cell_unsupported_reason"]
