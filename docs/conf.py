"""Sphinx configuration: the user guide (moved from the README), the API reference and the gallery.

Build: ``pip install '.[docs]' && python -m sphinx -W -b html docs docs/_build/html``.
"""

from __future__ import annotations

import os
from pathlib import Path

import tomopy_dl

ROOT = Path(__file__).resolve().parents[1]

project = "tomopy-dl"
author = "tomopy-dl developers"
copyright = "tomopy-dl developers"  # noqa: A001  (Sphinx's name)
release = version = tomopy_dl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc gives the types, in the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "generated/*.examples", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]  # fmt: skip
html_theme = "alabaster"
html_title = f"tomopy-dl {release}"
html_static_path: list[str] = []
# The gallery: each example runs at build time (small data, on the CPU), and its figures go in the site.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}
os.environ.setdefault("OMP_NUM_THREADS", "2")
