"""Named benchmark shapes, read from the files in ``pybench/shapes/``.

The files are shared with the C++ Google Benchmark binaries (like oneDNN benchdnn's
``inputs/conv/shapes_*``). Format: ``#`` starts a comment; every other non-blank line is
one case, ``name key=value ...``, e.g. ``vgg19:conv1_1 N=4 C=64 H=400 W=400``. A name may
repeat with different sizes; a case is identified by its :attr:`Shape.label`.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["Shape", "SHAPES_DIR", "available", "generator_main", "load", "parse", "trace_convs"]

#: Directory holding the shape files shipped with pybench.
SHAPES_DIR = Path(__file__).resolve().parent / "shapes"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Shape:
    """One line of a shape file: a layer name and its sizes, in file order."""

    name: str
    sizes: tuple[tuple[str, int], ...]

    def __getitem__(self, key: str) -> int:
        for k, v in self.sizes:
            if k == key:
                return v
        raise KeyError(f"shape {self.label!r} has no size {key!r}")

    def get(self, key: str, default: int | None = None) -> int | None:
        try:
            return self[key]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, int]:
        return dict(self.sizes)

    @property
    def label(self) -> str:
        """Unique case id in Google Benchmark's ``ArgNames`` style: ``vgg19:conv1_1/N:4/C:64/...``."""
        return "/".join([self.name, *(f"{k}:{v}" for k, v in self.sizes)])


def parse(text: str, source: str = "<string>") -> list[Shape]:
    """Parse shape-file text; raises ValueError naming ``source:line`` on a bad line."""
    shapes: list[Shape] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *tokens = line.split()
        sizes = []
        for token in tokens:
            key, sep, value = token.partition("=")
            if not sep or not _KEY.match(key) or not re.fullmatch(r"\d+", value):
                raise ValueError(f"{source}:{lineno}: expected key=<non-negative int>, got {token!r}")
            if key in dict(sizes):
                raise ValueError(f"{source}:{lineno}: size {key!r} given twice")
            sizes.append((key, int(value)))
        shape = Shape(name, tuple(sizes))
        if shape.label in seen:
            raise ValueError(f"{source}:{lineno}: duplicate case {shape.label!r}")
        seen.add(shape.label)
        shapes.append(shape)
    return shapes


def available() -> list[str]:
    """Names of the shipped shape files (file stems), e.g. ``["gram", "gram_style"]``."""
    return sorted(p.stem for p in SHAPES_DIR.glob("*.txt"))


def load(name: str | Path) -> list[Shape]:
    """Shapes of a shipped file by stem (``"gram_style"``) or of any file by path."""
    path = Path(name)
    if not path.suffix:
        path = SHAPES_DIR / f"{name}.txt"
        if not path.is_file():
            raise KeyError(f"no shape file {name!r}; available: {', '.join(available())}")
    return parse(path.read_text(), source=str(path))


def trace_convs(model: str) -> list[tuple[str, object, tuple[int, ...], tuple[int, ...]]]:
    """(module path, the nn.Conv2d, input shape, output shape) of every Conv2d call of the
    registry model ``model``, in execution order.

    The model runs once on the meta device (shapes only, no arithmetic) at its registry
    input size, batch 1, with a forward hook on every nn.Conv2d. The shape generators in
    ``scripts/`` build the files of this directory from it.
    """
    import torch
    from torch import nn

    from pybench import models

    spec = models.get(model)
    with torch.device("meta"):
        net = spec.factory().eval()
        x = torch.empty((1, *spec.input_shape))
    paths = {m: p for p, m in net.named_modules()}
    calls = []

    def hook(conv, args, output):
        calls.append((paths[conv], conv, tuple(args[0].shape), tuple(output.shape)))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def generator_main(generate: Callable[[], str], default_out: Path, script: str,
                   argv: list[str] | None = None, description: str = "") -> int:
    """The command line of a shape generator: write ``generate()`` to ``--out`` (default
    ``default_out``), or with ``--check`` exit 1 when the file differs from it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from what would be generated")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale; run {script} to regenerate it", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}: {len(parse(text, source=args.out.name))} cases")
    return 0
