"""The code's shape: one algorithm table, layers pointing one way, no module shadowed, a cheap import."""

import ast
import importlib
import inspect
import math
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tomopy_dl
from tomopy_dl.solvers.table import ALGORITHMS, GANREC_MODES

PACKAGE = Path(tomopy_dl.__file__).parent

# cli -> pipeline -> io/prep/solvers -> physics/networks -> util: a module may import only lower ranks.
RANKS = {
    "util": 0,
    "physics": 1,
    "networks": 1,
    "io": 1,
    "weights": 2,
    "solvers": 2,
    "metrics": 2,
    "prep": 3,
    "adapter": 3,
    "sim": 4,
    "training": 5,
    "demo": 5,
    "pipeline": 5,
    "distributed": 5,
    "cli": 6,
}


def _imported_parts(path: Path) -> set[str]:
    """The top-level parts of tomopy_dl that ``path`` imports, by relative or absolute import."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[:-1])[: len(parts) - node.level] if node.level > 1 else list(parts[:-1])
            target = base + (node.module.split(".") if node.module else [])
            out.add(target[0] if target else "__init__")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tomopy_dl."):
            out.add(node.module.split(".")[1])
    return out


def test_layers_point_one_way():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = path.relative_to(PACKAGE).with_suffix("").parts[0]
        if own == "__init__":
            continue
        for target in _imported_parts(path) - {own, "__init__"}:
            if RANKS[target] >= RANKS[own]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not wrong, wrong


def test_no_function_shadows_its_module():
    shadowed = []
    for info in pkgutil.walk_packages(tomopy_dl.__path__, "tomopy_dl."):
        module = importlib.import_module(info.name)
        parent_name, _, child = info.name.rpartition(".")
        if not isinstance(getattr(importlib.import_module(parent_name), child), types.ModuleType):
            shadowed.append(info.name)
        del module
    assert not shadowed, shadowed


def test_import_is_cheap_and_help_is_fast():
    code = (
        "import sys, tomopy_dl, tomopy_dl.cli\n"
        "try:\n    tomopy_dl.cli.main(['recon', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("no torch")
    # The help lists the table's algorithms and their default iterations.
    for name, spec in ALGORITHMS.items():
        assert "".join(f"{name}: {spec.summary}".split()) in "".join(out.split())
    assert f"sirt {ALGORITHMS['sirt'].defaults['num_iter']}" in out


def test_the_table_is_consistent():
    for name, spec in ALGORITHMS.items():
        for k in spec.keywords:
            if k.default is None or (k.name == "reg_par" and k.default == "auto"):
                continue
            assert isinstance(k.default, k.kind), (name, k.name)
            if k.minimum is not None:
                assert k.default >= k.minimum and math.isfinite(k.default), (name, k.name)
            if k.choices is not None:
                assert k.default in k.choices, (name, k.name)
        # The solver's keyword parameters are the table's, with the table's defaults.
        sig = inspect.signature(spec.load())
        params = {p.name: p for p in list(sig.parameters.values())[2:] if p.name != "init"}
        assert set(params) == {k.name for k in spec.keywords}, name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values()), name
        for k in spec.keywords:
            assert params[k.name].default == k.default, (name, k.name)
        assert ("init" in sig.parameters) == spec.takes_init, name
    for mode, settings in GANREC_MODES.items():
        assert settings["num_iter"] >= 1, mode


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_adapter_coerces_by_the_table(name):
    import numpy as np

    spec = ALGORITHMS[name]
    theta = np.linspace(0, np.pi, 8, endpoint=False).astype(np.float32)
    proj = np.ones((8, 1, 12), np.float32)
    ints = [k for k in spec.keywords if k.kind is int and k.minimum is not None]
    for k in ints:
        with pytest.raises((ValueError, TypeError), match=k.name):
            tomopy_dl.recon(proj, theta, algorithm=name, progress=False, **{k.name: int(k.minimum) - 1})
    choices = [k for k in spec.keywords if k.choices is not None]
    for k in choices:
        with pytest.raises(ValueError, match=f"{k.name} must be one of"):
            tomopy_dl.recon(proj, theta, algorithm=name, progress=False, **{k.name: "nonsense"})
