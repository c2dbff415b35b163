"""Data sets for the book's experiments.

The embedded default is scikit-learn's bundled 8x8 digits (1,797 images, no
network needed). MNIST is downloaded once and cached (see :func:`load_mnist`).
:func:`load` picks a data set by name and :func:`iterate_batches` walks a data
set in seeded, shuffled mini-batches.

This module imports torch only when :func:`iterate_batches` is handed torch
tensors.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Dataset",
    "load",
    "load_digits",
    "load_mnist",
    "iterate_batches",
    "parse_idx",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "DATASETS",
]

#: Names accepted by :func:`load`.
DATASETS = ("digits", "mnist")

#: The four standard MNIST archives and their SHA-256 sums.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Public mirrors tried in order when ``mirror`` is not given.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


@dataclass(frozen=True)
class Dataset:
    """An image classification data set split into train and test parts.

    Attributes
    ----------
    name : str
        ``"digits"`` or ``"mnist"``.
    x_train, x_test : numpy.ndarray
        Images of shape ``(N, 1, H, W)``, float32, pixel values scaled to [0, 1].
    y_train, y_test : numpy.ndarray
        Integer labels of shape ``(N,)``, int64, in ``range(num_classes)``.
    num_classes : int
        Number of classes (10 for both digit sets).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10

    @property
    def image_shape(self) -> tuple:
        """``(1, H, W)``, the shape of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def x_train_flat(self) -> np.ndarray:
        """Training images as a ``(N, H*W)`` view (no copy)."""
        return self.x_train.reshape(len(self.x_train), -1)

    @property
    def x_test_flat(self) -> np.ndarray:
        """Test images as a ``(N, H*W)`` view (no copy)."""
        return self.x_test.reshape(len(self.x_test), -1)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Load scikit-learn's bundled 8x8 digits, split into train and test.

    Parameters
    ----------
    test_fraction : float, default 0.25
        Fraction of the 1,797 images held out for testing, in (0, 1).
    seed : int, default 0
        Seed of the stratified split; the same seed always gives the same split.

    Returns
    -------
    Dataset
        ``x_train`` of shape ``(N_train, 1, 8, 8)`` (1,347 images for the
        default fraction), pixels scaled from 0..16 to [0, 1].
    """
    if not isinstance(test_fraction, float | int) or isinstance(test_fraction, bool):
        raise TypeError(f"test_fraction must be a number in (0, 1); got {test_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {seed!r}")
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]  # 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset("digits", x_tr, y_tr, x_te, y_te)


# --------------------------------------------------------------------------- MNIST

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array.

    The IDX format is a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then
    ``NDIM`` big-endian ``uint32`` dimension sizes, then the values in C order.

    Parameters
    ----------
    raw : bytes
        The file's content, already gunzipped.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(d_1, ..., d_NDIM)`` in native byte order.

    Raises
    ------
    ValueError
        If the magic number, the type code or the length is not as the header says.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_idx expects bytes; got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"not an IDX file: the magic number must start with two zero bytes; got {raw[:4]!r}")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(
            f"unknown IDX type code 0x{code:02x}; expected one of "
            + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX header announces {ndim} dimensions but the file has only {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"IDX file of shape {shape} and dtype {dtype} should have {expected} bytes; got {len(raw)}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _cache_root(root) -> Path:
    """The folder MNIST lives in: ``root``, else ``$BNLEARN_DATA``, else ``~/.cache/bnlearn``."""
    if root is not None:
        if not isinstance(root, str | os.PathLike):
            raise TypeError(f"root must be a path (str or os.PathLike) or None; got {root!r}")
        return Path(root)
    env = os.environ.get("BNLEARN_DATA")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "bnlearn"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and :func:`os.replace`,
    so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fix_hint(root: Path) -> str:
    return (
        "Fix: pass mirror='http://HOST/PATH/' (a server holding the four files), "
        f"or copy the four files {sorted(MNIST_FILES)} into {root} "
        "(or into a folder named by the environment variable BNLEARN_DATA), "
        "or use the embedded data set: load('digits')."
    )


def _fetch(name: str, expected: str, root: Path, mirrors, timeout: float) -> bytes:
    """Download one archive from the first mirror that answers, check its hash,
    cache it atomically and return its bytes."""
    errors = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:  # offline, refused, timeout
            errors.append(f"{url}: {exc}")
            continue
        digest = _sha256(data)
        if digest != expected:
            # Never cache a file that fails its check.
            raise ValueError(
                f"{name} downloaded from {url} has SHA-256 {digest}; expected {expected}. "
                "The file was not cached. The mirror serves a corrupted or different file."
            )
        _atomic_write(root / name, data)
        return data
    raise ConnectionError(
        f"could not download {name}; tried " + "; ".join(errors) + ". " + _fix_hint(root)
    )


def load_mnist(
    root=None,
    download: bool = True,
    mirror: str | None = None,
    timeout: float = 30.0,
    *,
    _expected_sha256: Mapping[str, str] | None = None,
) -> Dataset:
    """Load MNIST (60,000 training and 10,000 test images of 28x28 pixels).

    The four gzipped IDX archives are read from the cache folder; a missing one
    is downloaded (once), its SHA-256 checked against :data:`MNIST_FILES`, and
    written atomically (temporary file, then :func:`os.replace`) into the cache.
    A cached file is checked again on every load; a file that fails the check
    is never cached, and a cached file that fails it is downloaded again.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Cache folder. Default: ``$BNLEARN_DATA`` when set, else ``~/.cache/bnlearn``.
    download : bool, default True
        Whether to download missing files. With ``False`` a missing file raises
        :class:`FileNotFoundError`.
    mirror : str, optional
        Base URL to fetch the four files from (``mirror + filename``) instead of
        the public mirrors in :data:`MNIST_MIRRORS`.
    timeout : float, default 30.0
        Seconds to wait for a server before giving up on it.

    Returns
    -------
    Dataset
        ``x_train`` of shape ``(60000, 1, 28, 28)`` and ``x_test`` of shape
        ``(10000, 1, 28, 28)``, float32, pixels scaled from 0..255 to [0, 1];
        labels int64.

    Raises
    ------
    ConnectionError
        Offline, or no mirror answered; the message names the fix (``mirror=``,
        the cache folder, ``BNLEARN_DATA``).
    FileNotFoundError
        A file is missing and ``download`` is False.
    ValueError
        A downloaded file fails its SHA-256 check (it is not cached), or a file
        is not valid IDX.
    """
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False; got {download!r}")
    if mirror is not None and not isinstance(mirror, str):
        raise TypeError(f"mirror must be a base URL string or None; got {mirror!r}")
    if mirror is not None and not mirror.startswith(("http://", "https://", "file:")):
        raise ValueError(f"mirror must be an http(s):// or file: URL; got {mirror!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    hashes = dict(MNIST_FILES if _expected_sha256 is None else _expected_sha256)
    root = _cache_root(root)
    mirrors = (mirror,) if mirror is not None else MNIST_MIRRORS

    arrays = {}
    for name, expected in hashes.items():
        path = root / name
        data = path.read_bytes() if path.is_file() else None
        if data is not None and _sha256(data) != expected:
            data = None  # a stale or damaged cache entry: fetch it again
        if data is None:
            if not download:
                raise FileNotFoundError(
                    f"{path} is missing or fails its SHA-256 check and download=False. " + _fix_hint(root)
                )
            data = _fetch(name, expected, root, mirrors, timeout)
        arrays[name] = parse_idx(gzip.decompress(data))

    def images(a: np.ndarray) -> np.ndarray:
        if a.ndim != 3:
            raise ValueError(f"MNIST images must be a 3-d IDX array (N, H, W); got shape {a.shape}")
        return (a.astype(np.float32) / 255.0)[:, None, :, :]  # 0..255 -> [0, 1]

    x_tr = images(arrays["train-images-idx3-ubyte.gz"])
    x_te = images(arrays["t10k-images-idx3-ubyte.gz"])
    y_tr = arrays["train-labels-idx1-ubyte.gz"].astype(np.int64)
    y_te = arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64)
    for xs, ys, part in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if ys.shape != (len(xs),):
            raise ValueError(f"MNIST {part} labels have shape {ys.shape}; expected ({len(xs)},)")
    return Dataset("mnist", x_tr, y_tr, x_te, y_te)


def load(name: str, **kwargs) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``"digits"`` (:func:`load_digits`, embedded, no network) or ``"mnist"``
        (:func:`load_mnist`).
    **kwargs
        Passed on to the loader.

    Returns
    -------
    Dataset
    """
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a string, one of {DATASETS}; got {name!r}")
    if name == "digits":
        return load_digits(**kwargs)
    if name == "mnist":
        return load_mnist(**kwargs)
    raise ValueError(f"unknown data set {name!r}; expected one of {DATASETS}")


def iterate_batches(x, y, batch_size: int, *, seed: int = 0, epochs: int | None = 1,
                    drop_last: bool = True) -> Iterator[tuple]:
    """Yield shuffled mini-batches ``(x[idx], y[idx])``, epoch after epoch.

    Each epoch is a fresh permutation drawn from ``numpy.random.default_rng(seed)``,
    so the same seed always gives the same batches. The data stay one array
    (or tensor, on any device) and each batch is one indexing operation.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        Inputs of shape ``(N, ...)``.
    y : numpy.ndarray or torch.Tensor
        Targets of shape ``(N, ...)``, the same ``N``.
    batch_size : int
        Examples per batch, in ``1..N``.
    seed : int, default 0
        Seed of the shuffling.
    epochs : int or None, default 1
        Number of passes over the data; ``None`` for an endless stream.
    drop_last : bool, default True
        Drop each epoch's last, smaller batch (batch norm prefers equal batches).

    Yields
    ------
    tuple
        ``(x_batch, y_batch)`` of shapes ``(batch_size, ...)``.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    n = len(x)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be an int; got {batch_size!r}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must lie in 1..{n} (the number of examples); got {batch_size}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1):
        raise ValueError(f"epochs must be a positive int or None; got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int; got {seed!r}")
    rng = np.random.default_rng(seed)
    to_index = lambda idx: idx  # noqa: E731  NumPy arrays take NumPy indices
    if type(x).__module__.startswith("torch"):
        import torch

        device = x.device
        to_index = lambda idx: torch.from_numpy(idx).to(device)  # noqa: E731
    epoch = 0
    while epochs is None or epoch < epochs:
        perm = rng.permutation(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = to_index(perm[start:start + batch_size])
            yield x[idx], y[idx]
        epoch += 1
