"""The ``bnlearn`` command: list and reproduce the book's experiments.

Usage::

    bnlearn list
    bnlearn run NAME [--dataset digits|mnist-5k|mnist] [--scale book|full] [--seed N] [--out DIR]
                     [--force] [--no-progress] [--set KEY=VALUE ...]

``run`` writes ``NAME.json`` (the result) and ``NAME-*.png`` (its figures)
into the folder ``DIR`` (default ``results/NAME``), one folder per run.
Everything is checked before any training starts: the arguments, every
``--set`` (``--set steps=300`` changes one of the experiment's settings; the
value is a Python literal) and ``DIR``, which must be new, empty, or hold an
earlier run's results, which ``--force`` allows replacing. The files are
written into a temporary folder beside ``DIR`` and renamed to ``DIR`` at the
end, so ``DIR`` holds one run's files or none, even after an interrupt.
``python -m bnlearn`` is the same command.

Exit status: 0 on success, 2 for bad arguments (before any work), 1 when the
experiment cannot run or its results cannot be saved, 130 on an interrupt.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

__all__ = ["main", "build_parser"]


def _seed(text: str) -> int:
    from .experiments import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed expects a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed expects a non-negative integer; got {value}")
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed expects a non-negative integer at most {MAX_SEED}; got {text}")
    return value


def _setting(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE (e.g. steps=300); got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise argparse.ArgumentTypeError(
            f"--set {key}= expects a Python literal (a number, string, tuple ...); got {shown!r}") from None


def _out(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"--out expects a folder such as results/run1; got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (sub-commands ``list`` and ``run``)."""
    parser = argparse.ArgumentParser(prog="bnlearn", description="Reproduce the bnlearn book's experiments.")
    sub = parser.add_subparsers(dest="command", metavar="{list,run}")
    sub.required = True
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser(
        "run", help="run one experiment and save its results and figures",
        description="Run one experiment and save its results (NAME.json) and figures (NAME-*.png) into a "
                    "folder of their own. Arguments, settings and the output folder are checked before any "
                    "training starts.")
    run.add_argument("name", help="experiment name (see `bnlearn list`)")
    run.add_argument("--dataset", choices=("digits", "mnist-5k", "mnist"), default=None,
                     help="data set (default: the experiment's first for --scale book, mnist for --scale full); "
                          "mnist-5k is 5,000 real MNIST digits that need no download. `bnlearn list` shows "
                          "which each experiment takes, its default first")
    run.add_argument("--scale", choices=("book", "full"), default="book",
                     help="book: the chapter's size (seconds); full: the paper's setup")
    run.add_argument("--seed", type=_seed, default=None,
                     help="base seed (default: $BNLEARN_SEED, or 0 when it is unset)")
    run.add_argument("--out", type=_out, default=None, metavar="DIR",
                     help="the run's output folder (default: results/NAME); it must not exist yet, be empty, "
                          "or hold an earlier run's results (see --force). The files appear there all at once, "
                          "at the end")
    run.add_argument("--force", action="store_true",
                     help="replace the results of an earlier run in --out; without it, bnlearn refuses to "
                          "overwrite them (it never touches a folder that holds other files)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    run.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="change one of the experiment's settings, e.g. --set seeds=5 (repeatable); "
                          "checked for type and range before the run")
    return parser


def main(argv=None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success; 2 for bad arguments, an unknown
        experiment, a bad ``--set`` or an unusable ``--out`` (all found before
        any work); 1 when the experiment cannot run (e.g. MNIST unavailable)
        or its results cannot be saved; 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a message on bad arguments
    from . import experiments

    if args.command == "list":
        width = max(map(len, experiments.names()))
        for name in experiments.names():
            sets = ",".join(experiments.datasets(name))
            print(f"{name:{width}s}  [{sets}]  {experiments.describe(name)}")
        return 0
    if args.name not in experiments.names():
        parser.error(f"unknown experiment {args.name!r}; known experiments: {', '.join(experiments.names())}")
    out = args.out if args.out is not None else os.path.join("results", args.name)
    try:
        experiments.check_output(out, force=args.force)      # before any training
    except (TypeError, ValueError) as exc:
        parser.error(f"--out: {exc}")
    try:
        result = experiments.run(args.name, seed=args.seed, scale=args.scale, dataset=args.dataset,
                                 progress=not args.no_progress, **dict(args.set))
    except (TypeError, ValueError) as exc:  # a bad --set, found before the experiment's work
        parser.error(str(exc))
    except (ConnectionError, OSError, ModuleNotFoundError) as exc:  # e.g. MNIST not available
        print(f"bnlearn run {args.name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bnlearn run {args.name}: interrupted; nothing was written to {out}", file=sys.stderr)
        return 130
    try:
        written = result.save(out, force=args.force)
    except KeyboardInterrupt:
        print(f"bnlearn run {args.name}: interrupted while saving; {out} is as it was", file=sys.stderr)
        return 130
    except (OSError, TypeError, ValueError) as exc:
        print(f"bnlearn run {args.name}: could not save the results into {out}: {exc}", file=sys.stderr)
        _dump(result, args.name)
        return 1
    for path in written:
        print(path)
    return 0


def _dump(result, name: str) -> None:
    """Last resort when saving fails: the result's JSON on stderr, so the run is not lost."""
    try:
        text = result.to_json(indent=None)
    except Exception:  # noqa: BLE001 - nothing more to save
        return
    print(f"bnlearn run {name}: the result, as JSON:\n{text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
