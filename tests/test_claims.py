"""The book's claims are portable: static checks of every chapter notebook.

* A measured number in the prose is glued from the run (myst-nb's
  ``{glue:text}`` role), never typed: a markdown cell holds no decimal or
  percentage outside math, code and glue roles unless the notebook lists it,
  with its reason, as a quoted constant (``metadata.bnlearn.quoted``: a
  paper's figure, a setting of the experiment, the 95% of an interval).
* Hidden asserts check claims, not one run's trajectory: no hidden cell
  compares a result with a literal list of decimals.
* Every chapter's randomness follows ``BNLEARN_SEED``: no code cell pins a
  literal seed (``seed=0``, ``default_rng(0)``, ``manual_seed(0)``) unless the
  line says why with a ``# fixed seed:`` comment.
* Every glue name used in the prose is glued by a code cell, and every glued
  name is used (a stale glue is a number the page no longer explains).

The executions that check the claims themselves (another seed, other kernels,
the reader's view) are in ``test_chapters.py``.
"""
from __future__ import annotations

import json
import re

import pytest

from conftest import notebooks

#: How many quoted constants a chapter may list: the list is for a paper's
#: figures and the experiment's settings, not for measured values.
MAX_QUOTED = 25

NUMBER = re.compile(r"(?<![\w.\-])(\d+(?:,\d{3})*(?:\.\d+)?\s?%|\d*\.\d+)(?![\w.]*\d)")


def _prose(md: str) -> str:
    """Markdown with math, code, roles, directives' fences and link targets removed."""
    md = re.sub(r"^(```|:::).*?$", " ", md, flags=re.M)        # directive fences (their bodies stay)
    md = re.sub(r"^:\w[\w-]*:.*$", " ", md, flags=re.M)         # directive options (:label: ...)
    md = re.sub(r"\$\$.*?\$\$", " ", md, flags=re.S)
    md = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", md, flags=re.S)
    md = re.sub(r"\$[^$\n]*\$", " ", md)
    md = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", md)                  # roles: {glue:text}`x`, {cite}`y`
    md = re.sub(r"`[^`]*`", " ", md)                             # inline code
    md = re.sub(r"\]\([^)]*\)", "]", md)                          # link targets
    md = re.sub(r"^#+\s*[\d.]+\s", "# ", md, flags=re.M)         # section numbers such as 6.2
    return md


def _cells(nb, kind):
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == kind]


def _hidden(cell) -> bool:
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


@pytest.fixture(params=notebooks(), ids=lambda p: p.stem)
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_prose_numbers_are_glued_or_quoted(notebook):
    path, nb = notebook
    quoted = nb["metadata"].get("bnlearn", {}).get("quoted", {})
    assert isinstance(quoted, dict), f"{path.name}: metadata.bnlearn.quoted must map a value to its reason"
    assert len(quoted) <= MAX_QUOTED, f"{path.name}: {len(quoted)} quoted constants; glue measured values instead"
    assert all(isinstance(v, str) and v.strip() for v in quoted.values()), \
        f"{path.name}: every quoted constant needs its reason"
    typed, used = [], set()
    for i, src in _cells(nb, "markdown"):
        for num in NUMBER.findall(_prose(src)):
            key = num.replace(" ", "")
            if key in quoted:
                used.add(key)
            else:
                typed.append(f"cell {i}: {num}")
    assert not typed, (f"{path.name}: numbers typed into the prose (glue them with myst_nb.glue, "
                       f"or list a quoted constant in metadata.bnlearn.quoted): {typed}")
    stale = sorted(set(quoted) - used)
    assert not stale, f"{path.name}: quoted constants no longer in the prose: {stale}"


def test_glued_names_are_defined_and_used(notebook):
    path, nb = notebook
    code = "\n".join(src for _, src in _cells(nb, "code"))
    glued = set(re.findall(r"glue\(\s*[\"']([\w.-]+)[\"']", code))
    prose = "\n".join(src for _, src in _cells(nb, "markdown"))
    cited = set(re.findall(r"\{glue(?::\w+)?\}`([\w.-]+)", prose))
    assert cited <= glued, f"{path.name}: prose uses glue names no cell glues: {sorted(cited - glued)}"
    assert glued <= cited, f"{path.name}: glued but never shown: {sorted(glued - cited)}"


def test_hidden_asserts_do_not_pin_lists_of_measured_values(notebook):
    path, nb = notebook
    bad = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and _hidden(cell):
            src = "".join(cell["source"])
            if re.search(r"==\s*[\[{(][^\]})]*\d\.\d", src):
                bad.append(i)
    assert not bad, f"{path.name}: hidden cells {bad} compare results with literal decimals"


def test_randomness_follows_the_seed_knob(notebook):
    path, nb = notebook
    pinned = []
    literal_seed = re.compile(r"\b(seed\s*=\s*\d|default_rng\(\s*\d|manual_seed\(\s*\d|RandomState\(\s*\d)")
    for i, src in _cells(nb, "code"):
        for line in src.splitlines():
            if literal_seed.search(line) and "# fixed seed:" not in line:
                pinned.append(f"cell {i}: {line.strip()}")
    assert not pinned, (f"{path.name}: literal seeds ignore BNLEARN_SEED (use bnlearn.base_seed(), or "
                        f"say why with '# fixed seed:'): {pinned}")


def test_the_number_scanner_finds_typed_numbers():
    md = ("Batch norm needs 6.2% of the steps, about 0.3 to 8.6 points; the paper's 7%.\n"
          "Glued: {glue:text}`frac:.1f`%, math $0.5$, code `lr=0.01`, [link](a/b-1.2.html).")
    assert NUMBER.findall(_prose(md)) == ["6.2%", "0.3", "8.6", "7%"]
