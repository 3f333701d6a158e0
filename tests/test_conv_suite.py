"""The conv suite: its cases come from shapes/conv.txt at batch 1 and 8, and every
implementation validates against the float64 reference before it is timed."""
import pytest
import torch

from pybench import shapes, suites
from pybench.harness import Failure, validate
from pybench.shapes import Shape
from pybench.suites.conv import BATCHES, ConvCase

KEYS = ("C", "H", "W", "K", "R", "S", "SH", "SW", "PH", "PW", "DH", "DW", "G")


def test_shape_file_lists_every_family_with_full_geometry():
    layers = shapes.load("conv")
    models = {layer.name.split(":")[0] for layer in layers}
    assert {"lenet5", "alexnet", "vgg16", "nin", "googlenet", "resnet18", "resnet50",
            "densenet121", "mobilenet_v2"} <= models
    for layer in layers:
        assert tuple(k for k, _ in layer.sizes) == KEYS, layer.label
        assert layer["C"] % layer["G"] == 0 and layer["K"] % layer["G"] == 0, layer.label
    # One line per distinct geometry within a model (models may share geometries).
    geometries = [(layer.name.split(":")[0], layer.sizes) for layer in layers]
    assert len(set(geometries)) == len(geometries), "a geometry is listed twice for a model"


def test_cases_are_every_layer_at_every_batch():
    suite = suites.get("conv")
    layers = shapes.load("conv")
    cases = suite.cases()
    assert len(cases) == len(BATCHES) * len(layers)
    assert {c["N"] for c in cases} == set(BATCHES)
    assert cases[0].name == layers[0].name and cases[0]["N"] == BATCHES[0]


def test_specs_validate_on_the_cpu():
    suite = suites.get("conv")
    case = Shape("t:grouped", (("N", 2), ("C", 6), ("H", 9), ("W", 11), ("K", 4), ("R", 3),
                               ("S", 3), ("SH", 2), ("SW", 1), ("PH", 1), ("PW", 1), ("DH", 1),
                               ("DW", 2), ("G", 2)))
    specs = suite.specs(case, device="cpu", threads=1)
    assert [s.implementation for s in specs] == ["pybench", "torch"]  # cudnn variant: GPU only
    flops = 2 * 2 * 4 * 5 * 9 * 3 * 3 * 3  # 2 N K OH OW (C/G) R S; OW = (11 + 2 - 2*2 - 1) + 1
    for spec in specs:
        assert spec.flops == flops
        outcome = validate(spec)
        assert not isinstance(outcome, Failure), outcome
        _, error = outcome
        assert error < 1e-6


def test_a_wrong_output_fails_validation():
    case = Shape("t:c", (("N", 1), ("C", 3), ("H", 8), ("W", 8), ("K", 5), ("R", 3), ("S", 3)))
    conv = ConvCase(case, "cpu")
    x, w, b = conv.operands
    good = torch.nn.functional.conv2d(x, w, b)
    assert conv.error(good) < 1e-6
    assert conv.error(good * 1.001) > 1e-4
    with pytest.raises(ValueError, match="expected float32 output of shape"):
        conv.error(good[:, :4])
