"""Sphinx configuration of the fastae documentation.

Build the site from the repository root with warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The Markdown pages are read by myst-parser, the API reference is generated
from the numpydoc docstrings, and sphinx-gallery runs the ``plot_*.py``
scripts of ``docs/gallery`` and embeds their figures.
"""

import os

import fastae

project = "fastae"
author = "the fastae developers"
copyright = "the fastae developers"  # noqa: A001 (the name Sphinx reads)
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
# The scripts in examples/ train on MNIST for minutes and are not pages: the
# pages link them and show the figures they committed to images/.
exclude_patterns = ["_build", "examples", "gallery/GALLERY_HEADER.rst"]

# Markdown: "$$ ... $$" blocks become equations, and headings up to level 3
# get anchors, so links such as user-guide.md#threads resolve.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# API reference: one page per public name, written by autosummary.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = True
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False

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

# The gallery scripts draw with matplotlib, and no build has a display.
os.environ.setdefault("MPLBACKEND", "Agg")
