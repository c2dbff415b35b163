"""Sphinx extension for the bnlearn book: where MathJax comes from, and the book's own CSS.

The book is built offline in CI, where MathJax's CDN cannot be reached, so the
setup copies MathJax 3 from npm into ``book/_static/mathjax``. When that copy
exists the pages load it from the built site's ``_static``; otherwise (or when
``BNLEARN_MATHJAX=cdn``) they load MathJax from the CDN.
"""
from __future__ import annotations

import os
from pathlib import Path

CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"
LOCAL = "mathjax/tex-chtml.js"  # relative to the built site's _static


def _choose_mathjax(app, config):
    local = Path(app.confdir) / "book" / "_static" / LOCAL
    if os.environ.get("BNLEARN_MATHJAX", "").lower() == "cdn" or not local.is_file():
        config.mathjax_path = CDN
    else:
        config.mathjax_path = LOCAL


def setup(app):
    app.connect("config-inited", _choose_mathjax)
    app.add_css_file("bnlearn.css")   # book/_static/bnlearn.css: figures readable in dark mode
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
