"""``pybench info``: the machine fingerprint stored in every result file (pybench.machine)."""
from __future__ import annotations

import argparse
import json

from pybench.machine import machine_info


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="print the machine fingerprint",
                              description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = machine_info()
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {'-' if value is None else value}")
    return 0
