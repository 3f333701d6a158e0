"""``pybench list``: the suites, the models of the cnn suite, and the shape lists.

Read from static tables (:mod:`pybench.catalog`) and the shape files: it answers at once,
without importing torch."""
from __future__ import annotations

import argparse

from pybench.commands import SUMMARY
from pybench.commands.common_args import fail, path_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("list", help=SUMMARY["list"], description=__doc__)
    p.add_argument("what", nargs="?", choices=("suites", "models", "shapes", "all"), default="all",
                   help="what to list (default all)")
    p.add_argument("--shapes-file", default=None, metavar="NAME", type=path_text,
                   help="with 'shapes': print every line of this shape list (e.g. conv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybench import catalog, shapes

    listed = None
    if args.shapes_file:  # read before printing anything, so a bad name is the only output
        try:
            listed = shapes.load(args.shapes_file)
        except (KeyError, OSError, ValueError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) else exc  # KeyError quotes
            return fail("list", f"--shapes-file: {reason}")

    if args.what in ("suites", "all"):
        print("suites:")
        for name, description in catalog.SUITES.items():
            print(f"  {name:<6} {description}")
    if args.what in ("models", "all"):
        cnn = catalog.CNN
        print("models (cnn suite; * = in --quick):")
        print(f"  {'name':<20}{'family':<11}{'input':<13}{'GFLOP b1':>9}  source")
        for m in catalog.MODELS:
            star = "*" if m.name in cnn["quick_models"] else " "
            shape = "x".join(map(str, m.input_shape))
            print(f" {star}{m.name:<20}{m.family:<11}{shape:<13}"
                  f"{m.flops_b1 / 1e9:>9.3f}  {m.source}")
        print(f"  backends: {', '.join(cnn['backends'])} (default "
              f"{','.join(cnn['default_backends'])}); batches {','.join(map(str, cnn['batches']))}")
    if args.what in ("shapes", "all"):
        print("shape lists (pybench/shapes/):")
        for name in shapes.available():
            print(f"  {name:<12} {len(shapes.load(name))} shapes")
        if listed is not None:
            for s in listed:
                print("   ", s.name, " ".join(f"{k}={v}" for k, v in s.sizes))
    return 0
