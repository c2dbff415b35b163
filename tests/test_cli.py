"""Tests of the `bnlearn` command (bnlearn.__main__)."""
import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

from bnlearn import data, experiments
from bnlearn.__main__ import build_parser, main
from bnlearn.experiments import Result

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
    assert result["params"]["dataset"] == "mnist-5k" and result["params"]["scale"] == "book"   # its first data set
    assert str(out / "paper-fig1.json") in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]          # no temporary folder left behind


@pytest.mark.parametrize("argv, message", [
    ([], "required: {list,run}"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["run"], "the following arguments are required: name"),
    (["run", "nope"], "unknown experiment 'nope'; known experiments: "),
    (["run", "paper-fig1", "--scale", "huge"], "invalid choice: 'huge'"),
    (["run", "paper-fig1", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["run", "paper-fig1", "--seed", "-1"], "--seed expects a non-negative integer; got -1"),
    (["run", "paper-fig1", "--seed", "x"], "--seed expects a non-negative integer; got 'x'"),
    (["run", "paper-fig1", "--seed", str(2**64)], "--seed expects a non-negative integer at most"),
    (["run", "paper-fig1", "--set", "steps"], "--set expects KEY=VALUE"),
    (["run", "paper-fig1", "--set", "steps=abc"], "--set steps= expects a Python literal"),
    (["run", "paper-fig1", "--set", "steps=" + "(" * 5000], "--set steps= expects a Python literal"),
    (["run", "paper-fig1", "--set", "stepz=3"], r"unknown setting(s) ['stepz']"),
    (["run", "paper-fig1", "--set", "steps=0.5"], "setting 'steps' must be like its default 1000; got 0.5"),
    (["run", "paper-fig1", "--out", ""], "--out expects a folder"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def _no_training(monkeypatch):
    """Make any training fail the test: the checks must come first."""
    from bnlearn import train

    def boom(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")

    monkeypatch.setattr(train, "train", boom)


@pytest.mark.parametrize("setting, message", [
    ("lr=1e300", "paper-fig1 needs lr <= 3.40282e+38; got 1e+300"),
    ("lr=-0.1", "paper-fig1 needs lr > 0; got -0.1"),
    ("lr=float('nan')", "expects a Python literal"),
    ("steps=-5", "paper-fig1 needs steps >= 1; got -5"),
    ("steps=10**12", "expects a Python literal"),
    ("steps=1000000000000", "paper-fig1 needs steps <= 2147483647; got 1000000000000"),
    ("seeds=0", "paper-fig1 needs seeds >= 1; got 0"),
    ("seeds=True", "setting 'seeds' must be like its default"),
    ("target=1.5", "target must be an accuracy in (0, 1); got 1.5"),
    ("unit=-1", "paper-fig1 needs unit >= 0; got -1"),
    ("eval_every=0", "paper-fig1 needs eval_every >= 1; got 0"),
    ("num_threads=0", "paper-fig1 needs num_threads >= 1; got 0"),
    ("init_std='big'", "setting 'init_std' must be like its default 0.1; got 'big'"),
])
def test_bad_settings_exit_2_before_any_training(setting, message, tmp_path, monkeypatch, capsys):
    _no_training(monkeypatch)
    out = tmp_path / "res"
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(out), "--set", setting, "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert not out.exists()


def test_help_mentions_force(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--force" in text and "refuses to overwrite" in text


# ---------------------------------------------------------------- the output folder
class _Tiny(Result):
    """A result with two figures, standing in for a trained experiment."""

    def figure_names(self):
        return ["a", "b"]

    def _draw(self, name):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [self.params["seed"], 1])
        ax.set_title(name)
        return fig


@pytest.fixture
def fake_run(monkeypatch):
    """``experiments.run`` returns a tiny result at once (and records that it ran)."""
    calls = []

    def run(name, seed=None, **kwargs):
        calls.append(name)
        return _Tiny(name, params={"seed": seed or 0})

    monkeypatch.setattr(experiments, "run", run)
    return calls


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_out_naming_a_file_exits_2_before_the_run(tmp_path, fake_run, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(target)])
    assert exc.value.code == 2 and fake_run == []
    assert "exists and is not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_out_below_a_file_exits_2_before_the_run(tmp_path, fake_run, capsys):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(tmp_path / "file.txt" / "res")])
    assert exc.value.code == 2 and fake_run == []
    assert "cannot create the output folder" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_out_in_proc_exits_2_before_the_run(fake_run, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", "/proc/bnlearn-results"])
    assert exc.value.code == 2 and fake_run == []
    assert "cannot create the output folder '/proc/bnlearn-results'" in capsys.readouterr().err


def test_unwritable_folder_exits_2_before_the_run(tmp_path, fake_run, monkeypatch, capsys):
    # root may write anywhere, so an unwritable folder is simulated where the check writes.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(tmp_path / "res")])
    assert exc.value.code == 2 and fake_run == []
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("out", [".", ".."])
def test_current_folder_is_refused(out, fake_run, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", out])
    assert exc.value.code == 2 and fake_run == []
    assert "is the current folder or one above it" in capsys.readouterr().err


def test_default_out_is_a_folder_per_experiment(tmp_path, fake_run, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "paper-fig1"]) == 0
    assert _entries(tmp_path / "results" / "paper-fig1") == ["paper-fig1-a.png", "paper-fig1-b.png",
                                                            "paper-fig1.json"]


def test_a_second_run_into_one_folder_is_refused_unless_forced(tmp_path, fake_run, capsys):
    out = tmp_path / "res"
    assert main(["run", "paper-fig1", "--out", str(out), "--seed", "1"]) == 0
    first = (out / "paper-fig1.json").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(out), "--seed", "2"])
    assert exc.value.code == 2 and len(fake_run) == 1              # refused before running
    assert "already holds the results of an earlier run" in capsys.readouterr().err
    assert (out / "paper-fig1.json").read_text() == first
    assert main(["run", "seed-cnn", "--out", str(out), "--seed", "2", "--force"]) == 0
    assert _entries(out) == ["seed-cnn-a.png", "seed-cnn-b.png", "seed-cnn.json"]   # one run's files, not both
    assert json.loads((out / "seed-cnn.json").read_text())["params"]["seed"] == 2
    assert _entries(tmp_path) == ["res"]


def test_a_folder_with_other_files_is_never_replaced(tmp_path, fake_run, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(out), "--force"])
    assert exc.value.code == 2 and fake_run == []
    assert "holds other files (notes.txt)" in capsys.readouterr().err
    assert _entries(out) == ["notes.txt"]


def test_a_symbolic_link_is_refused(tmp_path, fake_run, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(SystemExit) as exc:
        main(["run", "paper-fig1", "--out", str(tmp_path / "link")])
    assert exc.value.code == 2 and fake_run == []
    assert "is a symbolic link" in capsys.readouterr().err


def test_an_empty_folder_is_used(tmp_path, fake_run):
    assert main(["run", "paper-fig1", "--out", str(tmp_path)]) == 0
    assert _entries(tmp_path) == ["paper-fig1-a.png", "paper-fig1-b.png", "paper-fig1.json"]


def test_interrupt_while_saving_leaves_the_earlier_results_whole(tmp_path, fake_run, monkeypatch, capsys):
    from matplotlib.figure import Figure

    out = tmp_path / "res"
    assert main(["run", "paper-fig1", "--out", str(out), "--seed", "1"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = Figure.savefig
    count = []

    def interrupted(self, *args, **kwargs):
        count.append(1)
        if len(count) == 2:                     # after the JSON and one figure of the new run
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", interrupted)
    assert main(["run", "paper-fig1", "--out", str(out), "--seed", "2", "--force"]) == 130
    assert "interrupted while saving" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # the first run's files, all of them
    assert _entries(tmp_path) == ["res"]


def test_interrupt_during_the_run_writes_nothing(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run", interrupted)
    assert main(["run", "paper-fig1", "--out", str(tmp_path / "res")]) == 130
    assert "nothing was written" in capsys.readouterr().err
    assert _entries(tmp_path) == []


def test_a_failed_save_keeps_the_result_on_stderr(tmp_path, fake_run, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", full)
    assert main(["run", "paper-fig1", "--out", str(tmp_path / "res")]) == 1
    err = capsys.readouterr().err
    assert "could not save the results" in err and "No space left on device" in err
    assert '"name": "paper-fig1"' in err                    # the result itself is not lost
    assert _entries(tmp_path) == []                          # and no half-written folder


def test_result_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    r = _Tiny("demo", params={"seed": 1})
    written = r.save(tmp_path / "a")
    assert [p.name for p in written] == ["demo.json", "demo-a.png", "demo-b.png"]
    with pytest.raises(ValueError, match="already holds the results of an earlier run"):
        r.save(tmp_path / "a")
    assert [p.name for p in r.save(tmp_path / "a", force=True)] == ["demo.json", "demo-a.png", "demo-b.png"]
    with pytest.raises(TypeError, match="force must be True or False; got 'yes'"):
        r.save(tmp_path / "b", force="yes")
    with pytest.raises(TypeError, match="output folder must be a str or os.PathLike; got 3"):
        r.save(3)
    assert _entries(tmp_path) == ["a"]


def test_mnist_unavailable_exits_1(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a local port nobody listens on: no network is touched
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(data, "MNIST_MIRRORS", (f"http://127.0.0.1:{port}/",))
    monkeypatch.setenv("BNLEARN_DATA", str(tmp_path / "empty"))
    out = tmp_path / "res"
    assert main(["run", "paper-fig1", "--dataset", "mnist", "--out", str(out), *TINY]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "BNLEARN_DATA" in err and "mirror=" in err
    assert not out.exists()


@pytest.mark.slow
def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "bnlearn", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "paper-fig1" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "bnlearn", "run", "nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown experiment 'nope'" in bad.stderr


@pytest.mark.parametrize("name, settings", [
    ("paper-fig1", ["steps=20", "seeds=2", "eval_every=10"]),
    ("seed-cnn", ["steps=10", "seeds=2", "lrs=(0.001, 0.01)"]),
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


def test_list_says_which_data_sets_each_experiment_takes(capsys):
    from bnlearn import experiments

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(experiments.names())
    for line, name in zip(lines, experiments.names()):
        assert line.startswith(name) and f"[{','.join(experiments.datasets(name))}]" in line


def test_run_on_the_offline_mnist_subset(tmp_path, monkeypatch, capsys):
    import json
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("mnist-5k must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    out = tmp_path / "run"
    assert main(["run", "paper-fig1", "--dataset", "mnist-5k", "--out", str(out), *TINY]) == 0
    result = json.loads((out / "paper-fig1.json").read_text())
    assert result["params"]["dataset"] == "mnist-5k"


def test_register_checks_its_data_sets_and_run_refuses_others(monkeypatch):
    import pytest as _pytest

    from bnlearn import experiments

    with _pytest.raises(ValueError, match="datasets must be a non-empty tuple drawn from"):
        experiments.register("x-test", datasets=("cifar",))
    monkeypatch.setitem(experiments._DATASETS_OF, "lr-sweep", ("digits",))
    with _pytest.raises(ValueError, match=r"runs on the data sets \('digits',\); got 'mnist-5k'"):
        experiments.run("lr-sweep", dataset="mnist-5k")
