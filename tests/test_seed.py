"""The one seed knob: BNLEARN_SEED sets the base seed of every experiment."""
from __future__ import annotations

import pytest

import bnlearn
from bnlearn import base_seed, seed_range


def test_base_seed_defaults_to_zero(monkeypatch):
    monkeypatch.delenv("BNLEARN_SEED", raising=False)
    assert base_seed() == 0
    monkeypatch.setenv("BNLEARN_SEED", "  ")
    assert base_seed() == 0


def test_base_seed_reads_the_environment(monkeypatch):
    monkeypatch.setenv("BNLEARN_SEED", "17")
    assert base_seed() == 17


@pytest.mark.parametrize("text", ["x", "1.5", "-3", "0x10"])
def test_a_bad_seed_variable_names_itself(monkeypatch, text):
    monkeypatch.setenv("BNLEARN_SEED", text)
    with pytest.raises(ValueError, match="BNLEARN_SEED must be a non-negative whole number"):
        base_seed()


def test_seed_ranges_of_different_bases_share_no_seed():
    assert seed_range(0, 3) == [0, 1, 2]
    ranges = [set(seed_range(b, 64)) for b in range(20)]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            assert not a & b


@pytest.mark.parametrize("args, exc, match", [
    ((-1, 3), ValueError, "base must be >= 0"),
    ((0, 0), ValueError, r"n must lie in \[1, 1000\]"),
    ((0, 1001), ValueError, r"n must lie in \[1, 1000\]"),
    ((0.5, 3), TypeError, "base must be an int"),
    ((True, 3), TypeError, "base must be an int"),
    ((0, "3"), TypeError, "n must be an int"),
])
def test_seed_range_rejects_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        seed_range(*args)


def test_experiments_take_their_base_seed_from_the_knob(monkeypatch):
    from bnlearn import experiments

    tiny = dict(steps=10, seeds=1, eval_every=5, lrs=(0.5,))
    monkeypatch.setenv("BNLEARN_SEED", "5")
    from_env = experiments.run("lr-sweep", **tiny)
    explicit = experiments.run("lr-sweep", seed=5, **tiny)
    monkeypatch.delenv("BNLEARN_SEED")
    other = experiments.run("lr-sweep", **tiny)
    assert from_env.params["seed"] == 5 and other.params["seed"] == 0
    assert from_env.to_json() == explicit.to_json()
    assert from_env.to_json() != other.to_json()


def test_the_command_defaults_to_the_knob(monkeypatch):
    from bnlearn.__main__ import build_parser

    args = build_parser().parse_args(["run", "lr-sweep"])
    assert args.seed is None  # resolved by experiments.run through bnlearn.base_seed()
    assert "BNLEARN_SEED" in build_parser()._subparsers._group_actions[0].choices["run"].format_help()


def test_top_level_import_stays_light():
    assert set(bnlearn.__all__) >= {"base_seed", "seed_range", "SEED_ENV"}
