"""``pybench dashboard HISTORY -o SITE/``: a static, self-contained HTML dashboard of a
history directory: interactive trend charts (plotly.js, bundled in the site) per case and
machine with step detection, the regressions list, the latest CPU vs GPU family summary
(see pybench.analysis.dashboard)."""
from __future__ import annotations

import argparse

from pybench.commands import SUMMARY
from pybench.commands.common_args import effect, fail, path_text, writable_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dashboard", help=SUMMARY["dashboard"],
                              description=__doc__)
    p.add_argument("history", metavar="HISTORY", type=path_text, help="history directory")
    p.add_argument("-o", "--output", default="dashboard", type=path_text,
                   help="site directory (default dashboard/)")
    p.add_argument("--min-effect", type=effect, default=0.05,
                   help="smallest step marked as a change (default 5%%)")
    p.add_argument("--commit-url", metavar="TEMPLATE",
                   help="link commits: a URL with {} for the hash, e.g. "
                        "https://github.com/ORG/pybench/commit/{}")
    p.add_argument("--png", action="store_true",
                   help="also draw every chart as a PNG (matplotlib), for viewers without "
                        "JavaScript; the pages' charts are interactive plotly.js either way")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybench.analysis import dashboard
    try:
        writable_dir(args.output, "--output")
        index = dashboard.build(args.history, args.output, min_effect=args.min_effect,
                                commit_url=args.commit_url, png=args.png)
    except (OSError, ValueError) as exc:
        return fail("dashboard", exc)
    print(f"dashboard: {index}")
    return 0
