"""The owner of pybench's result documents.

- :mod:`~pybench.results.schema`: the format -- its API version, names, NaN rule, the one
  atomic write and the one validating read every module uses.
- :mod:`~pybench.results.frames`: result files as tidy pandas DataFrames (re-exported here:
  ``pybench.results.load(path)``, ``cases``, ``layers``, ``peak``, ``read``).
- :mod:`~pybench.results.store`: the history of result files per machine kind and commit.

>>> from pybench import results
>>> df = results.load("results/cnn-20261202T031500Z.json")
"""
from pybench.results.frames import COLUMNS, CV_FLAG, cases, layers, load, peak, read
from pybench.results.schema import API_VERSION

__all__ = ["API_VERSION", "COLUMNS", "CV_FLAG", "cases", "layers", "load", "peak", "read"]
