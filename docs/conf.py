"""Sphinx configuration for the learnedmin documentation.

Build (offline, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W --keep-going -b doctest docs docs/_build/doctest

The second command runs the ``doctest`` blocks of the pages. The examples in the package's
docstrings need their module's namespace, so they are run by pytest instead::

    python -m pytest --doctest-modules learnedmin
"""

import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # document the checkout, not another installed copy

import learnedmin  # noqa: E402

project = "learnedmin"
author = "the learnedmin developers"
copyright = "the learnedmin developers"
version = release = learnedmin.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "learnedmin_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "scripts", "channel", "channel-global", "benchmarks/learned_steps.md",
                    "README.md", "Thumbs.db", ".DS_Store"]
templates_path = []

# MyST: $...$ / $$...$$ maths, ::: fences, definition lists, header anchors for [](#...) links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc + numpydoc: members are listed explicitly on the API pages.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# numpydoc does not know SciPy's *Options* section; learnedmin_docs renders it (as numpydoc's
# "Other Parameters" renamed back). numpydoc's signature pass still parses the raw docstring and
# warns about the section: filter exactly that warning.
warnings.filterwarnings("ignore", message=r"Unknown section Options", category=UserWarning,
                        module=r"numpydoc\.docscrape")
# numpydoc renames a docstring's *References* ([1], [2]) to unique citation labels; a reference
# list that the text does not cite is normal in numpydoc docstrings, not an error.
suppress_warnings = ["ref.citation"]

# doctest builder: only the pages' explicit ``doctest`` directives; the ``>>>`` blocks of
# docstrings shown by autodoc run under ``pytest --doctest-modules`` with their module's globals.
doctest_test_doctest_blocks = ""
# Every page's doctests start from these imports.
doctest_global_setup = """
import numpy as np
"""

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"learnedmin {release}"
html_theme_options = {
    "description": "A learned step rule for scipy.optimize.minimize",
    "fixed_sidebar": True,
}
# No remote resources at build time: no intersphinx, no downloaded themes.
