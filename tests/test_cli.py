"""Tests of the `bnlearn` command (bnlearn.__main__)."""
import json
import socket
import subprocess
import sys

import pytest

from bnlearn import data
from bnlearn.__main__ import main

TINY = ["--set", "steps=20", "--set", "seeds=2", "--set", "eval_every=10", "--no-progress"]


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("paper-fig1", "seed-cnn", "lr-sweep"):
        assert name in out


def test_run_writes_json_and_pngs(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "paper-fig1", "--seed", "3", "--out", str(out), *TINY]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "paper-fig1-accuracy.png", "paper-fig1-sigmoid-input.png", "paper-fig1.json"]
    result = json.loads((out / "paper-fig1.json").read_text())
    assert result["params"]["seed"] == 3 and result["params"]["steps"] == 20
    assert result["params"]["dataset"] == "digits" and result["params"]["scale"] == "book"
    assert str(out / "paper-fig1.json") in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    ([], "required: {list,run}"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["run"], "the following arguments are required: name"),
    (["run", "nope"], "unknown experiment 'nope'; known experiments: "),
    (["run", "paper-fig1", "--scale", "huge"], "invalid choice: 'huge'"),
    (["run", "paper-fig1", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["run", "paper-fig1", "--seed", "-1"], "--seed expects a non-negative integer; got -1"),
    (["run", "paper-fig1", "--seed", "x"], "--seed expects a non-negative integer; got 'x'"),
    (["run", "paper-fig1", "--set", "steps"], "--set expects KEY=VALUE"),
    (["run", "paper-fig1", "--set", "steps=abc"], "--set steps= expects a Python literal"),
    (["run", "paper-fig1", "--set", "stepz=3"], r"unknown setting(s) ['stepz']"),
    (["run", "paper-fig1", "--set", "steps=0.5"], "setting 'steps' must be like its default 1500; got 0.5"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_mnist_unavailable_exits_1(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a local port nobody listens on: no network is touched
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(data, "MNIST_MIRRORS", (f"http://127.0.0.1:{port}/",))
    monkeypatch.setenv("BNLEARN_DATA", str(tmp_path / "empty"))
    assert main(["run", "paper-fig1", "--dataset", "mnist", "--out", str(tmp_path), *TINY]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "BNLEARN_DATA" in err and "mirror=" in err
    assert not (tmp_path / "paper-fig1.json").exists()


@pytest.mark.slow
def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "bnlearn", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "paper-fig1" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "bnlearn", "run", "nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown experiment 'nope'" in bad.stderr
