"""The book as a reader sees it.

1. The strict build (``jupyter-book build . -W -n --keep-going``) exits 0 with
   zero warnings.
2. A notebook cell that raises fails both the build and nbval.
3. Every built page, opened in headless Chromium, has its math typeset by
   MathJax (no raw TeX left in the visible text), every image loaded, and every
   internal link resolving to an existing page and anchor.

The build executes every chapter, so these tests are marked ``slow``.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from conftest import ROOT, book_build_result

BIN = Path(sys.executable).parent
HTML = ROOT / "_build" / "html"
pytestmark = pytest.mark.slow


def _jupyter_book(*args, cwd=ROOT):
    return subprocess.run([str(BIN / "jupyter-book"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def built_book():
    """The strict build of the whole book, from scratch, once per session (started in the background by
    conftest.py as soon as the tests are collected)."""
    return book_build_result()


def test_strict_build_has_zero_warnings(built_book):
    rc, log = built_book
    # Sphinx's own warnings look like "path:line: WARNING: message"
    warnings = [line for line in log.splitlines()
                if re.search(r"\b(WARNING|ERROR|CRITICAL):", line)]
    assert rc == 0 and not warnings, "\n".join(warnings[:30]) or log[-3000:]


BAD_NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Broken"},
        {"cell_type": "code", "id": "raiser", "metadata": {},
         "source": "raise RuntimeError('boom')",
         "outputs": [], "execution_count": None},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_a_raising_cell_fails_the_build_and_the_tests(tmp_path):
    book = tmp_path / "mini"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    (book / "book" / "_static").mkdir()
    (book / "book" / "intro.md").write_text("# Intro\n")
    (book / "book" / "broken.ipynb").write_text(json.dumps(BAD_NOTEBOOK))
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n"
                                   "chapters:\n  - file: book/broken\n")
    build = _jupyter_book("build", ".", "-W", "-n", "--keep-going", cwd=book)
    assert build.returncode != 0, build.stdout[-2000:]
    log = build.stdout + build.stderr
    assert "Executing notebook failed" in log or "mystnb.exec" in log, log[-2000:]
    err_logs = list((book / "_build" / "html" / "reports").rglob("broken.err.log"))
    assert err_logs and "boom" in err_logs[0].read_text()
    nbval = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q",
                            "-p", "no:cacheprovider", str(book / "book" / "broken.ipynb")],
                           cwd=book, capture_output=True, text=True, timeout=300)
    assert nbval.returncode != 0 and "boom" in nbval.stdout, nbval.stdout[-2000:]


# --------------------------------------------------------------------------
# Rendered pages in headless Chromium

def _chromium() -> str | None:
    for cand in (os.environ.get("CHROMIUM"), shutil.which("chromium"),
                 shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if cand and Path(cand).exists():
            return cand
    return None


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def _ids_of(path: Path) -> frozenset:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def _pages() -> list[Path]:
    skip = {"genindex.html", "search.html", "py-modindex.html", "index.html"}
    return sorted(p for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts
                  and not any(part.startswith(".") for part in p.relative_to(HTML).parts)
                  and "_sources" not in p.parts and "jupyter_execute" not in p.parts)


@pytest.fixture(scope="session")
def server(built_book):
    rc, log = built_book
    if rc != 0:
        pytest.fail("the book did not build; see test_strict_build_has_zero_warnings")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()  # Debian's chromium; else Playwright's own build if installed
    with playwright.sync_playwright() as p:
        if exe is None and not Path(p.chromium.executable_path).exists():
            msg = "no Chromium: tools/setup.sh --test installs Debian's (as root)"
            if os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


_PAGE_PROBE = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = [...document.images].map(i => ({src: i.currentSrc || i.src,
                                             ok: i.complete && i.naturalWidth > 0}));
  // Figures in the article: each needs alt text and a caption (a numbered <figure>).
  const figures = [...document.querySelectorAll('article img')].map(i => {
    const fig = i.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim(),
            caption: cap ? cap.innerText.trim() : ''};
  });
  const main = document.querySelector('main') || document.body;
  return {
    mathSpans: document.querySelectorAll('.math, span.math, div.math').length,
    mjx: document.querySelectorAll('mjx-container').length,
    text: main.innerText,
    imgs,
    figures,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
}
"""


def test_rendered_pages(server, browser):
    pages = _pages()
    assert len(pages) >= 3, pages
    problems: list[str] = []
    origin = urlsplit(server).netloc
    page = browser.new_page()
    for path in pages:
        rel = path.relative_to(HTML).as_posix()
        url = urljoin(server, rel)
        page.goto(url, wait_until="load")
        info = page.evaluate(_PAGE_PROBE)
        if info["mathSpans"] and not info["mjx"]:
            problems.append(f"{rel}: {info['mathSpans']} math elements but nothing typeset")
        for raw in ("\\(", "\\)", "\\[", "$$"):
            if raw in info["text"]:
                i = info["text"].index(raw)
                problems.append(f"{rel}: raw TeX {raw!r} in text: {info['text'][max(0, i-40):i+40]!r}")
        for raw in ("{glue", "glue:text", "glue:figure"):   # a glued number left as role text
            if raw in info["text"]:
                i = info["text"].index(raw)
                problems.append(f"{rel}: unrendered glue {info['text'][max(0, i-40):i+60]!r}")
        for img in info["imgs"]:
            if not img["ok"]:
                problems.append(f"{rel}: image did not load: {img['src']}")
        if rel.startswith("book/") and rel.split("/")[-1][:2].isdigit():     # a chapter
            for fig in info["figures"]:
                if not fig["alt"] or not fig["caption"]:
                    problems.append(f"{rel}: figure {fig['src']} needs alt text and a caption "
                                    f"(alt {fig['alt']!r}, caption {fig['caption'][:40]!r})")
        for href in info["links"]:
            parts = urlsplit(href)
            if parts.netloc != origin or parts.scheme not in ("http", "https"):
                continue
            target = HTML / unquote(parts.path.lstrip("/"))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: broken link {href}")
            elif parts.fragment and target.suffix == ".html" \
                    and unquote(parts.fragment) not in _ids_of(target):
                problems.append(f"{rel}: missing anchor {href}")
    page.close()
    assert not problems, "\n".join(problems[:50])


def test_math_is_served_locally_not_from_a_cdn():
    # Offline (CI) the book must carry MathJax itself.
    if not (ROOT / "book" / "_static" / "mathjax" / "tex-chtml.js").exists():
        pytest.skip("MathJax not installed locally (tools/setup.sh fetches it with npm)")
    loads_mathjax = re.compile(r'<script[^>]*src="[^"]*mathjax[^"]*"', re.I)
    pages_with_math = [p for p in _pages() if loads_mathjax.search(p.read_text())]
    assert pages_with_math, "no page loads MathJax"
    for p in pages_with_math:
        html = p.read_text()
        assert "cdn.jsdelivr.net/npm/mathjax" not in html, p
        assert re.search(r'src="[./]*_static/mathjax/tex-chtml\.js', html), p


def test_api_page_documents_every_public_name(built_book):
    import importlib
    api = (HTML / "book" / "api.html")
    assert api.exists()
    ids = _ids_of(api)
    missing = []
    from test_repository import PUBLIC_MODULES

    import bnlearn

    missing += [f"bnlearn.{name}" for name in bnlearn.__all__
                if name != "__version__" and f"bnlearn.{name}" not in ids]
    for mod in PUBLIC_MODULES:
        try:
            m = importlib.import_module(f"bnlearn.{mod}")
        except ModuleNotFoundError:
            continue
        for name in getattr(m, "__all__", []):
            if f"bnlearn.{mod}.{name}" not in ids:
                missing.append(f"bnlearn.{mod}.{name}")
    assert not missing, f"not on api.html: {missing}"


def test_chapter_pages_have_launch_edit_and_issue_buttons(built_book):
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    slug = repo.removeprefix("https://github.com/")
    toc = (ROOT / "_toc.yml").read_text()
    chapters = [nb for nb in sorted((ROOT / "book").glob("*.ipynb")) if f"book/{nb.stem}" in toc]
    assert chapters
    for nb in chapters:
        html = (HTML / "book" / f"{nb.stem}.html").read_text()
        path = f"book/{nb.name}"
        assert f"https://colab.research.google.com/github/{slug}/blob/main/{path}" in html
        assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=tree/{path}" in html
        assert f"{repo}/edit/main/{path}" in html
        assert f"{repo}/issues/new" in html
