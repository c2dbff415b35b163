"""The chapters teach first: learning goals, key takeaways, short sentences, short paragraphs.

Measured by ``tools/prose.py`` on the markdown prose (code, math, tables,
headings, directives and solutions left out; solutions measured on their own):

- each chapter opens with "In this chapter you will learn" and 3-5 bullets,
  and closes, before its exercises, with a "Key takeaways" admonition of 3-6
  bullets; every bullet at most 25 words;
- the mean sentence is at most 22 words, and no paragraph (a list item counts
  as one) exceeds 120 words, in the body and in the solutions alike.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import prose  # noqa: E402

CHAPTERS = prose.chapters()


def test_the_measure_reads_what_a_reader_reads():
    p = prose.Prose()
    prose.split_markdown(
        "# Title\n\nIn this chapter you will learn:\n\n- one thing;\n- another thing.\n\n"
        "A first sentence with {term}`batch norm` and $x^2$. A second one, e.g. short, with `code`.\n\n"
        "$$\ny = x\n$$\n\n| a | b |\n|---|---|\n\n```python\nprint('not prose')\n```\n\n"
        "```{exercise}\n:label: e\n\nAn exercise is not body prose.\n```\n\n"
        "```{solution} e\n:class: dropdown\n\nThe solution counts apart. It has two sentences.\n```\n\n"
        "```{admonition} Key takeaways\n- first takeaway;\n- second\n  continued.\n```\n", p)
    assert p.goals == ["one thing;", "another thing."]
    assert p.takeaways == ["first takeaway;", "second continued."]
    assert p.body == ["A first sentence with batch norm and x. A second one, e.g. short, with Code."]
    assert [len(prose.sentences(b)) for b in p.body] == [2]
    assert p.solutions == ["The solution counts apart. It has two sentences."]
    assert prose.words("A first sentence with batch norm and x.") == 8
    # Display math ends wherever its closing $$ sits; the prose after it still counts.
    q = prose.Prose()
    prose.split_markdown("Before it.\n\n$$ a = b\n+ c. $$\n\nAfter it, still prose.\n", q)
    assert q.body == ["Before it.", "After it, still prose."]


@pytest.mark.parametrize("nb", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])
def test_chapter_opens_with_goals_and_closes_with_takeaways(nb):
    p = prose.read(nb)
    lo, hi = prose.GOALS
    assert lo <= len(p.goals) <= hi, f"{nb.stem}: '{prose.GOALS_LEAD}' needs {lo}-{hi} bullets; got {p.goals}"
    assert p.goals_cell is not None and p.goals_cell <= 2, f"{nb.stem}: the learning goals belong at the start"
    lo, hi = prose.TAKEAWAYS
    assert lo <= len(p.takeaways) <= hi, (f"{nb.stem}: the '{prose.TAKEAWAYS_TITLE}' admonition needs {lo}-{hi} "
                                          f"bullets; got {p.takeaways}")
    assert p.exercises_cell is None or p.takeaways_cell < p.exercises_cell, \
        f"{nb.stem}: the takeaways come before the exercises"
    for bullet in p.goals + p.takeaways:
        assert prose.words(bullet) <= prose.MAX_BULLET, f"{nb.stem}: bullet over {prose.MAX_BULLET} words: {bullet}"


@pytest.mark.parametrize("part", ["body", "solutions"])
@pytest.mark.parametrize("nb", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])
def test_sentences_and_paragraphs_are_short(nb, part):
    s = prose.stats(getattr(prose.read(nb), part))
    assert s["mean_sentence"] <= prose.MAX_MEAN_SENTENCE, (
        f"{nb.stem} {part}: mean sentence {s['mean_sentence']:.1f} words (limit {prose.MAX_MEAN_SENTENCE}); "
        f"the longest: {s['longest_sentence']}")
    assert s["longest_paragraph"] <= prose.MAX_PARAGRAPH, (
        f"{nb.stem} {part}: a paragraph of {s['longest_paragraph']} words (limit {prose.MAX_PARAGRAPH}): "
        f"{s['longest_text'][:300]}...")


def _glossary_terms() -> set:
    terms, inside, marker = set(), False, None
    for line in (prose.BOOK / "notation.md").read_text().splitlines():
        if line.startswith("```{glossary}"):
            inside = True
            continue
        if inside and line.startswith("```"):
            inside = False
            continue
        if inside and line.strip() and not line.startswith((" ", ":")):
            terms.add(line.strip().lower())
    return terms


def _term_targets(text: str) -> list:
    out = []
    for m in re.finditer(r"\{term\}`([^`]*)`", text):
        shown = re.match(r"^(.*?)\s*<([^>]*)>$", m.group(1))
        out.append((shown.group(2) if shown else m.group(1)).strip().lower())
    return out


def test_the_glossary_is_in_the_book_and_defines_every_symbol():
    assert "book/notation" in (prose.ROOT / "_toc.yml").read_text()
    terms = _glossary_terms()
    for symbol in ("μ_b", "σ²_b", "γ", "β", "ε", "m", "momentum", "x̂"):
        assert symbol in terms, f"the glossary lacks {symbol}"
    missing = [t for t in _term_targets((prose.BOOK / "notation.md").read_text()) if t not in terms]
    assert not missing, f"notation.md links terms it does not define: {missing}"


@pytest.mark.parametrize("nb", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])
def test_every_linked_term_is_in_the_glossary(nb):
    terms = _glossary_terms()
    text = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "markdown")
    used = _term_targets(text)
    assert used, f"{nb.stem} links no glossary term: link each term's first use with {{term}}"
    missing = sorted({t for t in used if t not in terms})
    assert not missing, f"{nb.stem} links terms that book/notation.md does not define: {missing}"


def _shows_another_result(src: str) -> bool:
    """Whether a cell's last statement is a bare expression (shown as a result) other than a figure."""
    import ast

    try:
        tree = ast.parse(src)
    except SyntaxError:
        return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or src.rstrip().endswith(";"):
        return False
    value = tree.body[-1].value
    name = getattr(getattr(value, "func", None), "attr", None) or getattr(getattr(value, "func", None), "id", "")
    return not (isinstance(value, ast.Call)           # print() writes a stream, which the figure does not wrap
                and (name in ("figure", "print") or "plots." in ast.unparse(value.func)))


_DRAWS = re.compile(r"\.figures?\(|\bplots\.\w+\(|\bplt\.(subplots|figure|plot|imshow)\(|^\s*fig\s*=", re.M)


@pytest.mark.parametrize("nb", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])
def test_every_figure_has_a_number_a_caption_and_alt_text(nb):
    cells = json.loads(nb.read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    problems = []
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        if c["cell_type"] != "code" or "remove-cell" in c["metadata"].get("tags", []) or not _DRAWS.search(src):
            continue
        meta = c["metadata"].get("mystnb", {})
        fig, img = meta.get("figure", {}), meta.get("image", {})
        name = fig.get("name", "")
        if not (fig.get("caption", "").strip() and name.startswith("fig-") and img.get("alt", "").strip()):
            problems.append(f"cell {i} draws a figure: it needs metadata mystnb.figure.caption, "
                            f"mystnb.figure.name ('fig-...') and mystnb.image.alt")
        elif _shows_another_result(src):
            problems.append(f"cell {i} draws figure {name} and also shows a value (its last line): the "
                            f"caption would wrap both; show the value in a cell of its own")
        elif f"{{numref}}`{name}`" not in text and not re.search(r"\{numref\}`[^`]*<" + re.escape(name) + ">`", text):
            problems.append(f"cell {i}: the prose never refers to figure {name} with {{numref}}")
    assert not problems, f"{nb.stem}:\n" + "\n".join(problems)


def test_the_intro_guides_the_reader():
    intro = (prose.BOOK / "intro.md").read_text()
    for needed in ("## Who it is for", "Prerequisites", "**The idea** (chapters 1, 3, 6, 7)",
                   "**The implementation** (chapters 4, 5)", "**The practice** (chapters 6, 7, 8)",
                   "{numref}`fig-chapter-map`", "images/chapter-map.svg", "Colab", "Binder", "make book",
                   "mnist-5k", "8x8 digits", "notation.md"):
        assert needed in intro, f"the intro lacks {needed!r}"
    assert (prose.BOOK / "images" / "chapter-map.svg").is_file()
    for nb in CHAPTERS:                                   # every chapter is listed
        assert f"({nb.name})" in intro, f"the intro does not list {nb.name}"
