#!/usr/bin/env python
"""Measure the prose of the chapters: sentence length, paragraph length, goals and takeaways.

What counts is the text a reader reads as prose, from the markdown cells: code,
math, tables, headings, directive bodies (exercises, figures, admonitions) and
solutions are left out of the chapter's figures. Solutions are measured on their
own, at the same limits. Roles keep their visible text (``{term}`batch norm```
reads "batch norm"), a glued number or inline code reads as one word, and
inline math as one word. ::

    .venv/bin/python tools/prose.py            # a table for every chapter
    .venv/bin/python tools/prose.py 05 06      # some chapters

``tests/test_prose.py`` enforces the limits below.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

MAX_MEAN_SENTENCE = 22      # words, mean over a chapter's prose
MAX_PARAGRAPH = 120         # words, any one paragraph (a list item is its own paragraph)
MAX_BULLET = 25             # words, each learning goal and takeaway
GOALS = (3, 5)              # bullets under "In this chapter you will learn"
TAKEAWAYS = (3, 6)          # bullets in the "Key takeaways" admonition

GOALS_LEAD = "In this chapter you will learn"
TAKEAWAYS_TITLE = "Key takeaways"

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "Fig.", "Eq.", "approx.", "resp.", "etc.)")
_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(\{[\w:-]+\})?\s*(.*)$")
_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
_WORD = re.compile(r"[0-9A-Za-z\u00C0-\u024F]")


@dataclass
class Prose:
    """The measurable prose of one document."""

    body: list = field(default_factory=list)        # paragraphs (str) of the main text
    solutions: list = field(default_factory=list)   # paragraphs of the solutions
    goals: list = field(default_factory=list)       # bullets after GOALS_LEAD
    takeaways: list = field(default_factory=list)   # bullets of the Key takeaways admonition
    takeaways_cell: int | None = None
    exercises_cell: int | None = None
    goals_cell: int | None = None


def _role_text(m: re.Match) -> str:
    role, text = m.group(1), m.group(2)
    if role.startswith("glue"):
        return "N"
    if role in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        return "" if role in ("cite", "cite:p", "cite:ps") else "Author"
    shown = re.match(r"^(.*?)\s*<[^>]*>$", text)                  # {term}`words <target>`
    text = shown.group(1) if shown else text
    return text.lstrip("~!").split(".")[-1] if role in ("func", "class", "meth", "mod", "data", "attr") else text


def clean(text: str) -> str:
    """One line of prose with roles, inline code, inline math and links reduced to their reading."""
    text = _ROLE.sub(_role_text, text)
    text = re.sub(r"`[^`]*`", "Code", text)
    text = re.sub(r"\$[^$]+\$", "x", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<!--.*?-->", "", text)
    return text


def words(text: str) -> int:
    return sum(1 for w in text.split() if _WORD.search(w))


def sentences(paragraph: str) -> list[str]:
    text = paragraph
    for i, abbr in enumerate(_ABBREVIATIONS):
        text = text.replace(abbr, f"ABBR{i}")
    parts = re.split(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[*_]*[A-Z0-9])", text)
    return [p for p in (s.strip() for s in parts) if words(p)]


def _blocks(lines):
    """Paragraphs of consecutive lines; a list item starts its own paragraph."""
    out, cur = [], []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if cur:
                out.append(" ".join(cur))
            cur = []
            continue
        if re.match(r"^([-*+]|\d+[.)])\s+", stripped) and cur:
            out.append(" ".join(cur))
            cur = []
        cur.append(re.sub(r"^([-*+]|\d+[.)])\s+", "", stripped))
    if cur:
        out.append(" ".join(cur))
    return out


def _bullets(lines) -> list[str]:
    items: list[str] = []
    for line in lines:
        s = line.strip()
        m = re.match(r"^[-*+]\s+(.*)$", s)
        if m:
            items.append(clean(m.group(1)))
        elif s and items and not s.startswith((":", "```")):
            items[-1] += " " + clean(s)
    return items


def _take_goals(lines: list[str]):
    """The bullets under GOALS_LEAD, and the lines with the lead and its bullets blanked."""
    i = next((i for i, line in enumerate(lines) if GOALS_LEAD in line), None)
    if i is None:
        return None, lines
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    k = j
    while k < len(lines) and (re.match(r"^\s*[-*+]\s", lines[k]) or (lines[k].startswith(" ") and lines[k].strip())):
        k += 1
    return _bullets(lines[j:k]), lines[:i] + [""] * (k - i) + lines[k:]


def split_markdown(md: str, prose: Prose, cell: int = 0) -> None:
    """Add the prose of one markdown text to ``prose``."""
    # Display math, wherever its $$ sit, leaves only its line breaks (paragraphs stay apart).
    md = re.sub(r"\$\$.*?\$\$", lambda m: "\n" * m.group(0).count("\n"), md, flags=re.S)
    goals, lines = _take_goals(md.splitlines())
    if goals is not None and prose.goals_cell is None:
        prose.goals, prose.goals_cell = goals, cell
    stack: list[tuple[str, str]] = []           # open fences: (marker, directive name)
    kept: dict[str, list[str]] = {"body": [], "solutions": []}
    takeaway_lines: list[str] = []

    def gap():
        for part in kept.values():
            part.append("")

    for line in lines:
        s = line.strip()
        m = _FENCE.match(line)
        if m:
            marker, directive, rest = m.group(2), (m.group(3) or ""), m.group(4)
            if stack and marker[0] == stack[-1][0][0] and len(marker) >= len(stack[-1][0]) \
                    and not directive and not rest.strip():
                if stack.pop()[1] == "takeaways":
                    prose.takeaways, prose.takeaways_cell = _bullets(takeaway_lines), cell
                gap()
                continue
            kind = directive.strip("{}") if directive else "code"
            if kind == "admonition" and rest.strip() == TAKEAWAYS_TITLE:
                kind, takeaway_lines = "takeaways", []
            stack.append((marker, kind))
            gap()
            continue
        where = stack[-1][1] if stack else "body"
        if where == "takeaways":
            takeaway_lines.append(line)
        elif s.startswith(("#", "|", "<!--", ":")) or where not in ("body", "solution"):
            gap()
        else:
            kept["body" if where == "body" else "solutions"].append(line)
    if re.search(r"^##\s+Exercises", md, re.M) and prose.exercises_cell is None:
        prose.exercises_cell = cell
    prose.body += [clean(p) for p in _blocks(kept["body"])]
    prose.solutions += [clean(p) for p in _blocks(kept["solutions"])]


def read(path: Path) -> Prose:
    """The prose of a chapter notebook (or a markdown file)."""
    prose = Prose()
    if path.suffix == ".md":
        split_markdown(path.read_text(), prose)
        return prose
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "markdown":
            split_markdown("".join(cell["source"]), prose, i)
    return prose


def stats(paragraphs: list[str]) -> dict:
    sents = [s for p in paragraphs for s in sentences(p)]
    n_words = sum(words(s) for s in sents)
    longest = max(paragraphs, key=words, default="")
    return {"sentences": len(sents), "mean_sentence": n_words / len(sents) if sents else 0.0,
            "longest_paragraph": words(longest), "longest_text": longest,
            "longest_sentence": max(sents, key=words, default="")}


def chapters(selected=()) -> list[Path]:
    nbs = sorted(BOOK.glob("[0-9][0-9]-*.ipynb"))
    return [nb for nb in nbs if not selected or any(nb.name.startswith(s) for s in selected)]


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(f"{'chapter':34s} {'mean sentence':>13s} {'longest para':>12s} {'solutions':>16s} goals takeaways")
    for nb in chapters(args):
        p = read(nb)
        b, s = stats(p.body), stats(p.solutions)
        print(f"{nb.stem:34s} {b['mean_sentence']:13.1f} {b['longest_paragraph']:12d} "
              f"{s['mean_sentence']:7.1f} / {s['longest_paragraph']:4d}   {len(p.goals):5d} {len(p.takeaways):9d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
