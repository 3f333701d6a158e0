"""The rnn suite: its cases come from shapes/rnn.txt, every implementation validates against
the float64 reference before it is timed, and a wrong output fails validation."""
import torch

from pybench import ops, shapes, suites
from pybench.harness import Failure, validate
from pybench.shapes import Shape
from pybench.suites.rnn import LstmCase


def test_cases_cover_the_issue_workloads():
    cases = suites.get("rnn").cases()
    assert cases == shapes.load("rnn")
    labels = {c.label for c in cases}
    assert "sentiment:lstm/T:70/B:128/I:300/H:40" in labels
    assert any(c.name.startswith("charrnn") and c["H"] == 256 for c in cases)
    cells = {(c["H"], c["B"]) for c in cases if c.name == "deepbench:cell"}
    assert cells == {(h, b) for h in (512, 1024, 2048) for b in (1, 16, 32, 64)}
    seqs = {(c["T"], c["H"], c["B"]) for c in cases if c.name == "deepbench:lstm"}
    assert seqs == {(t, h, b) for t in (25, 50) for h in (512, 1024, 2048) for b in (1, 16, 32, 64)}


def test_specs_validate_on_the_cpu():
    suite = suites.get("rnn")
    for case in (Shape("t:lstm", (("T", 7), ("B", 3), ("I", 9), ("H", 21))),
                 Shape("t:cell", (("B", 1), ("I", 5), ("H", 17)))):
        specs = suite.specs(case, device="cpu", threads=1)
        assert [s.implementation for s in specs] == ["pybench", "pybench-op", "torch"]
        t = case.get("T", 1)
        for spec in specs:
            assert spec.flops == 8 * t * case["B"] * case["H"] * (case["I"] + case["H"])
            outcome = validate(spec)
            assert not isinstance(outcome, Failure), outcome
            assert outcome[1] < spec.tolerance


def test_a_wrong_output_fails_validation():
    case = LstmCase(Shape("t:cell", (("B", 2), ("I", 5), ("H", 6))), "cpu")
    module, x, h, c = case.operands
    with torch.no_grad():
        hy, cy = module(x, (h, c))
    assert case.error((hy, cy)) < 1e-6
    assert case.error((hy + 1e-3, cy)) > 1e-4
    seq = LstmCase(Shape("t:lstm", (("T", 4), ("B", 2), ("I", 5), ("H", 6))), "cpu")
    module, x, h, c = seq.operands
    with torch.no_grad():
        out, (hn, cn) = module(x, (h[None], c[None]))
    assert seq.error((out, (hn, cn))) < 1e-6
    assert seq.error((out, (hn, cn * 1.01))) > 1e-4


def test_the_raw_op_implementation_reuses_its_pack():
    """pybench-op passes the same weight tensors every call, so only the first call packs
    (where the active CPU ISA packs at all)."""
    for case in (Shape("t:lstm", (("T", 3), ("B", 2), ("I", 5), ("H", 9))),
                 Shape("t:cell", (("B", 2), ("I", 5), ("H", 9)))):
        run = LstmCase(case, "cpu").runner("pybench-op")
        ops.clear_pack_cache()
        for _ in range(3):
            run()
        info = ops.pack_cache_info()["lstm_pack_weights"]
        packs = 0 if ops.cpu_isa() == "scalar" else 1
        assert (info.misses, info.hits, info.size) == (packs, 2 * packs, packs)
