"""Subcommands of ``pybench``; see pybench.cli.

SUMMARY is each command's one-line help, here rather than in its module, so that
``pybench --help`` lists every command without importing any of them (``run`` alone pulls
in torch, torchvision and the engines)."""

SUMMARY = {
    "run": "benchmark a suite against PyTorch",
    "list": "list suites, models and shapes",
    "report": "write the CSV / Markdown / HTML report of results",
    "info": "print the machine fingerprint",
    "peak": "measure FP32 FMA peak and memory bandwidth",
    "history": "add result files to the history, merge, list",
    "compare": "compare two result sets; exit 1 on a significant regression",
    "dashboard": "write a static HTML dashboard of a history",
}
