"""Style and documentation: ruff's lint (with its line-length limit), and every docstring example runs."""

import doctest
import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tomopy_dl

ROOT = Path(__file__).resolve().parents[1]

# The public API whose every function and class shows a runnable Examples section.
DOCUMENTED = [
    "tomopy_dl",
    "tomopy_dl.solvers",
    "tomopy_dl.solvers.prior",
    "tomopy_dl.solvers.data_fidelity",
    "tomopy_dl.util.validation",
    "tomopy_dl.physics.geometry",
    "tomopy_dl.metrics",
    "tomopy_dl.sim",
]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install '.[test]')")
    return [exe]


def test_ruff():
    """Lint, with the line-length limit of pyproject.toml."""
    run = subprocess.run([*_ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _modules():
    yield "tomopy_dl"
    for info in pkgutil.walk_packages(tomopy_dl.__path__, "tomopy_dl."):
        yield info.name


@pytest.mark.parametrize("name", list(_modules()))
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_public_functions_have_examples(name):
    module = importlib.import_module(name)
    missing = [
        n
        for n in module.__all__
        if (inspect.isfunction(obj := getattr(module, n)) or inspect.isclass(obj)) and ">>>" not in (obj.__doc__ or "")
    ]
    assert not missing, f"{name}: no Examples in {missing}"
