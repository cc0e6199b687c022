"""Sphinx configuration for the numbavmap documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (the ``docs``
extra installs what it needs). Every ``pycon`` example on these pages is
run by ``tests/test_docs.py``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the numbavmap checkout
sys.path.insert(0, os.path.join(HERE, "_ext"))

project = "numbavmap"
author = "the numbavmap developers"
copyright = "2026, the numbavmap developers"

try:
    from importlib.metadata import version as _version

    release = _version("numbavmap")
except Exception:  # not installed: building from a plain checkout
    release = "0.1.0"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "numbavmap_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _data/ holds files that pages include (the benchmark comparison table):
# they are not pages of their own.
exclude_patterns = ["_build", "_data", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Examples are Python console sessions; the test suite runs them.
highlight_language = "python3"

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_theme_options = {
    "description": "jax.vmap for NumPy + Numba",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_static_path = []
html_title = "numbavmap"
