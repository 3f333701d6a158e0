"""What pybench makes of result documents (read through :mod:`pybench.results`):

- :mod:`~pybench.analysis.report`: the cnn suite's tables, plots, Markdown and HTML report;
- :mod:`~pybench.analysis.compare`: the statistical regression gate between two result
  sets (bootstrap ratio of medians, Mann-Whitney U);
- :mod:`~pybench.analysis.dashboard`: the static HTML dashboard of a history.

Import the submodule you need: they pull in matplotlib or scipy, which the harness does not.
"""
