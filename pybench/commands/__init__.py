"""Subcommands of ``python -m pybench``; see pybench.cli."""
