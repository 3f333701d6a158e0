"""pybench.catalog, the static tables ``pybench list`` prints without torch, equals the
registries it copies (scripts/gen_catalog.py regenerates it)."""
import importlib.util
from pathlib import Path

from pybench import catalog
from pybench.results import store

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_catalog", ROOT / "scripts" / "gen_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalog_matches_the_registries():
    gen = _generator()
    live = gen.live()
    for table in ("SUITES", "MODELS", "CNN"):
        assert catalog.static_tables()[table] == live[table], \
            f"pybench/catalog.py's {table} is stale: run python scripts/gen_catalog.py"
    # the generated text is what the file holds (formatting included)
    assert gen.source(live) in (ROOT / "pybench" / "catalog.py").read_text()


def test_model_family_without_torch():
    assert catalog.model_family("resnet50") == "ResNet" and catalog.model_family("x") is None
    assert store._model_family("mobilenet_v2") == catalog.model_family("mobilenet_v2")
