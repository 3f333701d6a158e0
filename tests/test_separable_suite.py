"""The separable suite: its cases come from shapes/separable.txt (every dw->pw pair of the
MobileNets, generated from the models) at batch 1 and 8, each as a depthwise and a fused
case, and every implementation validates against the float64 reference before timing."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pybench import shapes, suites
from pybench.harness import Failure, validate
from pybench.shapes import Shape
from pybench.suites.separable import BATCHES, SeparableCase

ROOT = Path(__file__).resolve().parents[1]


def test_shape_file_is_current_and_covers_the_three_mobilenets():
    layers = shapes.load("separable")
    assert {l.name.split(":")[0] for l in layers} == {"mobilenet_v1", "mobilenet_v2",
                                                    "mobilenet_v3_large"}
    assert {(l["R"], l["SH"]) for l in layers} >= {(3, 1), (3, 2), (5, 1), (5, 2)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_separable_shapes.py"),
                           "--check"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_cases_are_every_pair_twice_at_every_batch():
    suite = suites.get("separable")
    layers = shapes.load("separable")
    cases = suite.cases()
    assert len(cases) == 2 * len(BATCHES) * len(layers)
    assert {c["N"] for c in cases} == set(BATCHES)
    assert cases[0].name.endswith("[dw]") and cases[1].name.endswith("[dw+pw]")
    assert "K" not in cases[0].as_dict() and cases[1]["K"] > 0


@pytest.mark.parametrize("op", ["dw", "dw+pw"])
def test_specs_validate_on_the_cpu(op):
    suite = suites.get("separable")
    sizes = (("N", 2), ("C", 5), ("H", 9), ("W", 11), ("M", 2), ("R", 3), ("S", 3), ("SH", 2),
             ("SW", 1), ("PH", 1), ("PW", 1), ("DH", 1), ("DW", 1), ("K", 7), ("A", 2), ("PA", 0))
    case = Shape(f"t:x[{op}]", sizes)
    specs = suite.specs(case, device="cpu", threads=1)
    assert [s.implementation for s in specs] == ["pybench", "torch"]
    dw_flops = 2 * 2 * 10 * 5 * 11 * 9  # 2 N C*M OH OW R S
    flops = dw_flops + (2 * 2 * 7 * 10 * 5 * 11 if op == "dw+pw" else 0)
    for spec in specs:
        assert spec.flops == flops and spec.bytes > 0
        outcome = validate(spec)
        assert not isinstance(outcome, Failure), outcome
        assert outcome[1] < 1e-6


def test_a_wrong_output_fails_validation():
    sizes = (("N", 1), ("C", 3), ("H", 8), ("W", 8), ("M", 1), ("R", 3), ("S", 3), ("PH", 1),
             ("PW", 1), ("K", 4), ("A", 1), ("PA", 1))
    sep = SeparableCase(Shape("t:c[dw+pw]", sizes), "cpu")
    good = sep.torch()()
    assert sep.error(good) < 1e-6
    assert sep.error(good * 1.001) > 1e-4
    with pytest.raises(ValueError, match="expected float32 output of shape"):
        sep.error(good[:, :2])
