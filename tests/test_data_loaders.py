"""Data loaders: digits, the paper's GMM, IDX files (both name styles), user files, errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from protoflow.data import (
    Dataset,
    load_dataset,
    load_digits,
    load_file,
    load_gmm,
    load_idx,
    load_mnist,
    read_idx,
)
from protoflow.data.synthetic import triangle_means
from protoflow.errors import ConfigError, DataNotFoundError, ValidationError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared data absent")


def _write_idx(path: Path, arr: np.ndarray, *, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


@pytest.fixture()
def tiny_idx(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(20, 5, 4))
    lab = rng.integers(0, 10, size=20)
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder / "train-images.idx3-ubyte.gz", img)  # dotted style, gzipped
    _write_idx(folder / "train-labels.idx1-ubyte.gz", lab)
    _write_idx(folder / "t10k-images-idx3-ubyte", img[:6], gz=False)  # dashed style, raw
    _write_idx(folder / "t10k-labels-idx1-ubyte", lab[:6], gz=False)
    return tmp_path, img, lab


def test_gmm_is_the_seeded_triangle():
    a, b = load_gmm(n_samples=3000, n_features=10, seed=4), load_gmm(n_samples=3000, n_features=10, seed=4)
    assert a == b and a.X.shape == (3000, 10) and set(np.unique(a.y)) == {0, 1, 2}
    assert load_gmm(seed=5) != a
    means = triangle_means(10, 3.0)
    # the three means are the vertices of an equilateral triangle in the first two coordinates
    sides = [np.linalg.norm(means[i] - means[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    np.testing.assert_allclose(sides, 3.0 * np.sqrt(3))
    assert np.all(means[:, 2:] == 0)
    for k in range(3):
        np.testing.assert_allclose(a.X[a.y == k].mean(axis=0), means[k], atol=0.15)
    assert a.X[:, 2:].std() == pytest.approx(0.1, rel=0.1)


def test_gmm_validates_parameters():
    with pytest.raises(ConfigError, match="n_features"):
        load_gmm(n_features=1)
    with pytest.raises(ConfigError, match="spread"):
        load_gmm(spread=0.0)


def test_digits():
    d = load_digits()
    assert d.X.shape == (1797, 64) and d.image_shape == (8, 8)
    assert 0.0 <= d.X.min() and d.X.max() == 1.0
    sub = load_digits(n_samples=100, seed=1)
    assert sub.X.shape == (100, 64) and sub == load_digits(n_samples=100, seed=1)


def test_idx_reader_both_name_styles(tiny_idx):
    root, img, lab = tiny_idx
    train = load_mnist(root)  # finds root/mnist
    np.testing.assert_array_equal(train.X, img.reshape(20, -1) / 255.0)
    np.testing.assert_array_equal(train.y, lab)
    assert train.image_shape == (5, 4)
    test = load_idx(root / "mnist", split="test", normalize=False)
    np.testing.assert_array_equal(test.X, img[:6].reshape(6, -1))
    both = load_idx(root, split="all")
    assert both.n_samples == 26


def test_idx_from_environment_variable(tiny_idx, monkeypatch):
    root, _, _ = tiny_idx
    monkeypatch.setenv("PROTOFLOW_DATA", str(root))
    assert load_dataset("mnist", n_samples=5, seed=0).X.shape == (5, 20)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "x.idx"
    bad.write_bytes(b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValidationError, match="magic"):
        read_idx(bad)
    short = tmp_path / "y.idx"
    short.write_bytes(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValidationError, match="truncated or corrupt"):
        read_idx(short)


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PROTOFLOW_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        load_idx(kind="fashion-mnist")
    msg = str(info.value)
    assert str(tmp_path / "fashion-mnist") in msg and "/usr/share/datasets/fashion-mnist" in msg
    assert "PROTOFLOW_DATA" in msg and "path=" in msg
    assert isinstance(info.value, FileNotFoundError)


@needs_shared
def test_shared_mnist_and_fashion_mnist():
    m = load_mnist(SHARED / "mnist", split="test")
    assert m.X.shape == (10000, 784) and m.image_shape == (28, 28)
    assert np.bincount(m.y).min() > 800 and 0.0 <= m.X.min() and m.X.max() <= 1.0
    f = load_dataset("fashion-mnist", path=str(SHARED), split="test", n_samples=50, seed=0)
    assert f.X.shape == (50, 784)


@needs_shared
def test_shared_mnist_copy_with_other_name_style(tmp_path):
    # shared MNIST uses the dotted style; a copy renamed to the dashed style loads the same
    for src, dst in [("t10k-images.idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"),
                     ("t10k-labels.idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]:
        shutil.copy(SHARED / "mnist" / src, tmp_path / dst)
    a = load_mnist(tmp_path, split="test", n_samples=30, seed=2)
    b = load_mnist(SHARED / "mnist", split="test", n_samples=30, seed=2)
    assert a == b


def test_user_files(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    d = load_file(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    z = load_file(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(z.X, X)
    np.testing.assert_array_equal(z.y, y)
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c,label\n" + "\n".join(",".join(map(str, [*r, t])) for r, t in zip(X, y)))
    c = load_file(str(csv), labels=-1)
    np.testing.assert_array_equal(c.X, X)
    np.testing.assert_array_equal(c.y, y)
    assert load_file(str(csv)).X.shape == (4, 4)
    images = np.zeros((5, 3, 3))
    np.save(tmp_path / "img.npy", images)
    assert load_file(str(tmp_path / "img.npy")).image_shape == (3, 3)


def test_user_file_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="no data file"):
        load_file(str(tmp_path / "missing.npy"))
    with pytest.raises(ConfigError, match="path"):
        load_file(str(tmp_path / "data.txt"))
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="key"):
        load_file(str(tmp_path / "two.npz"))


def test_dataset_checks_shapes():
    with pytest.raises(ValidationError, match="labels"):
        Dataset(X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(ValidationError, match="image_shape"):
        Dataset(X=np.zeros((3, 4)), image_shape=(3, 3))
    d = Dataset(X=np.zeros((3, 4)), y=[0, 1, 2], image_shape=(2, 2))
    assert d.subset([0, 2]).n_samples == 2 and not d.X.flags.writeable
