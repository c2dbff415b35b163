#!/usr/bin/env python
"""Does every chapter stay true under other seeds and other floating-point kernels?

Executes each chapter notebook under several configurations and prints, per
chapter, how many pass and which hidden asserts failed::

    .venv/bin/python tools/robustness.py                   # seeds 1-10 + default kernels, every chapter
    .venv/bin/python tools/robustness.py 06 07 --seeds 1-3 --jobs 2
    .venv/bin/python tools/robustness.py --reader           # also the reader's view (hidden cells dropped)

A configuration is an environment: ``BNLEARN_SEED=s`` for each seed ``s``
(with the machine's own kernels), plus one run with
``ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1`` (PyTorch's generic kernels,
as on another CPU) at ``BNLEARN_SEED=0``. Each notebook runs in a fresh
kernel whose environment is that configuration. Exit status 0 when every run
passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

#: The environment of "another machine": PyTorch's generic kernels on one thread.
#: torch.compile's cache is kept apart: inductor's precompiled header does not record the CPU
#: capability, and code generated for generic kernels fails to build against one made for AVX2.
OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "TORCHINDUCTOR_CACHE_DIR": os.path.join(tempfile.gettempdir(),
                                                         f"torchinductor-default-kernels-{os.getuid()}")}


def chapters(selected=()) -> list[Path]:
    """The chapter notebooks, optionally only those whose name starts with one of ``selected``."""
    nbs = sorted(BOOK.glob("[0-9][0-9]-*.ipynb"))
    if selected:
        nbs = [p for p in nbs if any(p.name.startswith(s) for s in selected)]
    return nbs


def is_hidden(cell) -> bool:
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


def reader_view(nb: dict) -> dict:
    """The notebook as a reader sees and copies it: every ``remove-cell`` cell dropped."""
    out = dict(nb)
    out["cells"] = [c for c in nb["cells"] if not is_hidden(c)]
    return out


def _run_one(path: Path, env_extra: dict, reader: bool, timeout: int) -> dict:
    """Execute one notebook in a child process with ``env_extra`` set; report what failed."""
    nb = json.loads(path.read_text())
    if reader:
        nb = reader_view(nb)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / path.name
        src.write_text(json.dumps(nb))
        code = (
            "import sys, json, nbformat\n"
            "from nbclient import NotebookClient\n"
            "from nbclient.exceptions import CellExecutionError\n"
            f"nb = nbformat.read({str(src)!r}, as_version=4)\n"
            f"client = NotebookClient(nb, timeout={timeout}, kernel_name='python3',"
            f" resources={{'metadata': {{'path': {str(BOOK)!r}}}}})\n"
            "try:\n"
            "    client.execute()\n"
            "except CellExecutionError as exc:\n"
            "    cells = [i for i, c in enumerate(nb.cells) if c.get('cell_type') == 'code'"
            " and any(o.get('output_type') == 'error' for o in c.get('outputs', []))]\n"
            "    print(json.dumps({'ok': False, 'cell': cells[0] if cells else None,"
            " 'error': str(exc)[-3000:]}))\n"
            "    sys.exit(0)\n"
            "print(json.dumps({'ok': True}))\n"
        )
        env = {**os.environ, **env_extra}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=timeout + 120)
        seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"ok": False, "cell": None, "error": (proc.stderr or proc.stdout)[-2000:], "seconds": seconds}
    out = json.loads(lines[-1])
    out["seconds"] = seconds
    if not out["ok"]:
        out["error"] = _failed_line(out["error"], nb, out["cell"])
    return out


def _failed_line(error: str, nb: dict, cell) -> str:
    """The assert (or raising line) that failed, in one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", error)
    marker = [ln for ln in text.splitlines() if ln.strip().startswith("---->")]
    kind = [ln for ln in text.splitlines() if re.match(r"^\w*(Error|Exception)\b", ln.strip())]
    where = f"cell {cell}" if cell is not None else "?"
    if cell is not None and 0 <= cell < len(nb["cells"]) and is_hidden(nb["cells"][cell]):
        where += " (hidden)"
    line = marker[-1].split("---->", 1)[1].strip() if marker else ""
    line = re.sub(r"^\d+\s*", "", line)
    return f"{where}: {line} [{kind[-1].strip()[:200] if kind else 'error'}]"


def configurations(seeds: list[int]) -> list[tuple[str, dict]]:
    confs = [(f"seed {s}", {"BNLEARN_SEED": str(s)}) for s in seeds]
    confs.append(("default kernels, 1 thread", {**OTHER_KERNELS, "BNLEARN_SEED": "0"}))
    return confs


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter prefixes such as 06 (default: all)")
    parser.add_argument("--seeds", type=_seeds, default=_seeds("1-10"), help="e.g. 1-10 or 1,4,9 (default 1-10)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per notebook (default 300)")
    parser.add_argument("--reader", action="store_true",
                        help="also run each chapter's reader view (hidden cells dropped) once")
    args = parser.parse_args(argv)
    nbs = chapters(args.chapters)
    if not nbs:
        parser.error(f"no chapter matches {args.chapters}")
    jobs = [(nb, name, env, False) for nb in nbs for name, env in configurations(args.seeds)]
    if args.reader:
        jobs += [(nb, "reader view", {}, True) for nb in nbs]
    threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if args.jobs > 1 else {}
    results: dict = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(_run_one, nb, {**threads, **env}, reader, args.timeout): (nb, name)
                   for nb, name, env, reader in jobs}
        for fut in futures:
            nb, name = futures[fut]
            res = fut.result()
            results.setdefault(nb.stem, []).append((name, res))
            status = "ok" if res["ok"] else "FAIL " + res["error"]
            print(f"  {nb.stem:32s} {name:28s} {res['seconds']:6.1f} s  {status}", flush=True)
    print()
    print("| chapter | configurations passed | slowest (s) | failed asserts |")
    print("|---|---|---|---|")
    failed = False
    for stem, runs in results.items():
        n_ok = sum(r["ok"] for _, r in runs)
        failed |= n_ok < len(runs)
        fails = "; ".join(f"{name}: {r['error']}" for name, r in runs if not r["ok"]) or "none"
        print(f"| {stem} | {n_ok}/{len(runs)} | {max(r['seconds'] for _, r in runs):.0f} | {fails} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
