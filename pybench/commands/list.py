"""``pybench list``: the suites, the models of the cnn suite, and the shape lists."""
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
    from pybench import models, shapes, suites
    from pybench.suites import cnn

    listed = None
    if args.shapes_file:  # read before printing anything, so a bad name is the only output
        try:
            listed = shapes.load(args.shapes_file)
        except (KeyError, OSError, ValueError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) else exc  # KeyError quotes
            return fail("list", f"--shapes-file: {reason}")

    if args.what in ("suites", "all"):
        print("suites:")
        for name in suites.names():
            s = suites.get(name)
            print(f"  {name:<6} {getattr(s, 'description', '')}")
    if args.what in ("models", "all"):
        print("models (cnn suite; * = in --quick):")
        print(f"  {'name':<20}{'family':<11}{'input':<13}{'GFLOP b1':>9}  source")
        for spec in models.specs():
            star = "*" if spec.name in cnn.QUICK_MODELS else " "
            shape = "x".join(map(str, spec.input_shape))
            print(f" {star}{spec.name:<20}{spec.family:<11}{shape:<13}"
                  f"{spec.flops(1) / 1e9:>9.3f}  {spec.source}")
        print(f"  backends: {', '.join(cnn.BACKENDS)} (default {','.join(cnn.DEFAULT_BACKENDS)});"
              f" batches {','.join(map(str, cnn.BATCHES))}")
    if args.what in ("shapes", "all"):
        print("shape lists (pybench/shapes/):")
        for name in shapes.available():
            print(f"  {name:<12} {len(shapes.load(name))} shapes")
        if listed is not None:
            for s in listed:
                print("   ", s.name, " ".join(f"{k}={v}" for k, v in s.sizes))
    return 0
