"""Sphinx configuration of the fastae documentation.

Build the site from the repository root with warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The Markdown pages are read by myst-parser, the API reference is generated
from the numpydoc docstrings, and sphinx-gallery runs the ``plot_*.py``
scripts of ``docs/gallery`` and embeds their figures.
"""

import os
import re

from sphinx.util import logging

import fastae

logger = logging.getLogger(__name__)

project = "fastae"
author = "the fastae developers"
copyright = "the fastae developers"
version = fastae.__version__
release = fastae.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# The scripts in examples/ are not pages, and two of them train on MNIST for
# minutes. The pages link them and show the figures committed to images/.
exclude_patterns = ["_build", "examples", "gallery/GALLERY_HEADER.rst"]

# Markdown: "$$ ... $$" blocks become equations, and headings up to level 3
# get anchors, so links such as user-guide.md#threads resolve.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# API reference: one page per public name, written by autosummary.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False

sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("fastae",),
    "backreferences_dir": "api/backreferences",
    "reference_url": {"fastae": None},
    "remove_config_comments": True,
    "show_memory": False,
    # A failing example stops the build at once instead of after the others.
    "abort_on_example_error": True,
}

html_theme = "pydata_sphinx_theme"
html_title = f"fastae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = True

# The gallery scripts draw with matplotlib's Agg backend, which needs no display.
os.environ.setdefault("MPLBACKEND", "Agg")


# Pages that the index's toctree lists but that a checkout may not have yet.
# A build without one of them drops its toctree entry and logs that it did,
# so the build passes with warnings as errors either way.
OPTIONAL_PAGES = ("scaling", "persistence")

# scikit-learn adds these methods for metadata routing. Their docstrings link
# to labels of scikit-learn's own documentation, which this build cannot
# resolve, and they behave as scikit-learn documents them.
METADATA_REQUEST_METHOD = re.compile(r"set_\w+_request")


def drop_missing_optional_pages(app, docname, source):
    """Remove the index's toctree entries of optional pages that do not exist."""
    if docname != root_doc:
        return
    for page in OPTIONAL_PAGES:
        if page not in app.env.found_docs:
            logger.info("page %r not found: the toctree leaves it out", page)
            source[0] = re.sub(rf"^{page}\n", "", source[0], flags=re.MULTILINE)


def skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave scikit-learn's ``set_*_request`` methods out of the API pages."""
    if METADATA_REQUEST_METHOD.fullmatch(name):
        return True
    return None


def setup(app):
    app.connect("source-read", drop_missing_optional_pages)
    app.connect("autodoc-skip-member", skip_metadata_request_methods)
