"""``pybench info``: the machine fingerprint stored in every result file (pybench.machine)."""
from __future__ import annotations

import argparse
import json

from pybench.commands import SUMMARY
from pybench.machine import machine_info


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help=SUMMARY["info"],
                              description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = machine_info()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    # A nested entry (cpu_caches) prints as one line per field: cpu_caches.l2  2097152.
    rows = []
    for key, value in info.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{sub}", v) for sub, v in value.items()]
        else:
            rows.append((key, value))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {'-' if value is None else value}")
    return 0
