"""Named benchmark shapes, read from the files in ``pybench/shapes/``.

The files are shared with the C++ Google Benchmark binaries (like oneDNN benchdnn's
``inputs/conv/shapes_*``). Format: ``#`` starts a comment; every other non-blank line is
one case, ``name key=value ...``, e.g. ``vgg19:conv1_1 N=4 C=64 H=400 W=400``. A name may
repeat with different sizes; a case is identified by its :attr:`Shape.label`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Shape", "SHAPES_DIR", "available", "load", "parse"]

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
