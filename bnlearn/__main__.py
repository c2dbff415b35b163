"""The ``bnlearn`` command: list and reproduce the book's experiments.

Usage::

    bnlearn list
    bnlearn run NAME [--dataset digits|mnist] [--scale book|full] [--seed N] [--out DIR]
                     [--no-progress] [--set KEY=VALUE ...]

``run`` writes ``NAME.json`` (the result) and ``NAME-*.png`` (its figures) into
``DIR`` (default ``results``). ``--set steps=300`` changes one of the
experiment's settings (the value is a Python literal). ``python -m bnlearn``
is the same command.
"""
from __future__ import annotations

import argparse
import ast
import sys

__all__ = ["main", "build_parser"]


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed expects a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed expects a non-negative integer; got {value}")
    return value


def _setting(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE (e.g. steps=300); got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(
            f"--set {key}= expects a Python literal (a number, string, tuple ...); got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (sub-commands ``list`` and ``run``)."""
    parser = argparse.ArgumentParser(prog="bnlearn", description="Reproduce the bnlearn book's experiments.")
    sub = parser.add_subparsers(dest="command", metavar="{list,run}")
    sub.required = True
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser("run", help="run one experiment and save its results and figures")
    run.add_argument("name", help="experiment name (see `bnlearn list`)")
    run.add_argument("--dataset", choices=("digits", "mnist"), default=None,
                     help="data set (default: digits for --scale book, mnist for --scale full)")
    run.add_argument("--scale", choices=("book", "full"), default="book",
                     help="book: the chapter's size (seconds); full: the paper's setup")
    run.add_argument("--seed", type=_seed, default=None,
                     help="base seed (default: $BNLEARN_SEED, or 0 when it is unset)")
    run.add_argument("--out", default="results", help="output folder (default: results)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    run.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="change one of the experiment's settings, e.g. --set seeds=5 (repeatable)")
    return parser


def main(argv=None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad arguments or an unknown
        experiment, 1 when the experiment cannot run (e.g. MNIST unavailable).
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a message on bad arguments
    from . import experiments

    if args.command == "list":
        for name in experiments.names():
            print(f"{name:14s} {experiments.describe(name)}")
        return 0
    if args.name not in experiments.names():
        parser.error(f"unknown experiment {args.name!r}; known experiments: {', '.join(experiments.names())}")
    try:
        result = experiments.run(args.name, seed=args.seed, scale=args.scale, dataset=args.dataset,
                                 progress=not args.no_progress, **dict(args.set))
    except (TypeError, ValueError) as exc:  # a bad --set
        parser.error(str(exc))
    except (ConnectionError, FileNotFoundError) as exc:  # e.g. MNIST not available
        print(f"bnlearn run {args.name}: {exc}", file=sys.stderr)
        return 1
    for path in result.save(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
