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


@pytest.mark.parametrize("name, settings", [
    ("paper-fig1", ["steps=20", "seeds=2", "eval_every=10"]),
    ("seed-cnn", ["steps=10", "seeds=2", "eval_every=5", "lrs=(0.001, 0.01)"]),
    ("lr-sweep", ["steps=10", "seeds=1", "eval_every=5", "lrs=(0.5, 1.0)"]),
    ("signal-propagation", ["seeds=1", "depth=3", "width=8", "batch=50", "train_steps=5"]),
    ("ics-percentiles", ["seeds=2", "steps=10", "eval_every=5", "record_every=5"]),
    ("noisy-bn", ["seeds=2", "steps=10", "eval_every=5", "record_every=5"]),
    ("ics-gradient", ["seeds=2", "lrs=(0.1,)", "stages=(0, 2)"]),
    ("landscape", ["seeds=2", "lrs=(0.1,)", "stages=(0, 2)"]),
    ("bn-noise", ["batch_sizes=(2, 4)", "draws=4", "samples=2", "train_steps=5"]),
    ("batch-size-regularisation", ["seeds=2", "train_size=64", "steps=5"]),
    ("bn-vs-dropout", ["seeds=2", "train_size=64", "steps=5"]),
    ("eval-statistics", ["seeds=2", "train_size=64", "steps=5", "test_batch_sizes=(1, 2, 4)"]),
])
def test_run_on_mnist_sized_images(name, settings, tmp_path, monkeypatch):
    """The --dataset mnist path end to end, on a tiny stand-in for MNIST (28x28
    images in the cache, with hashes this test computes), so that the models are
    sized to 28x28 inputs and the cache is read without touching any network."""
    from test_data import make_files

    cache, hashes, _ = make_files(tmp_path, n_train=240, n_test=60, hw=(28, 28))
    monkeypatch.setattr(data, "MNIST_FILES", hashes)
    monkeypatch.setattr(data, "MNIST_MIRRORS", ())  # a cache miss would be an error, not a download
    monkeypatch.setenv("BNLEARN_DATA", str(cache))
    out = tmp_path / "res"
    argv = ["run", name, "--dataset", "mnist", "--out", str(out), "--no-progress"]
    for s in settings:
        argv += ["--set", s]
    assert main(argv) == 0
    result = json.loads((out / f"{name}.json").read_text())
    assert result["params"]["dataset"] == "mnist"
    assert any(p.suffix == ".png" for p in out.iterdir())
