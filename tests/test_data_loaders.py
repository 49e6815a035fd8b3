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


# -- user files: every bad file named, with the row and column a user sees ------------------


def _csv(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_header_detection(tmp_path):
    assert load_file(_csv(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")).X.shape == (2, 3)
    assert load_file(_csv(tmp_path, "1,2,3\n4,5,6\n")).X.shape == (2, 3)
    # numbers in scientific notation, signs, spaces: still a data row
    np.testing.assert_array_equal(load_file(_csv(tmp_path, " -1e3, +2 ,.5\n")).X, [[-1000.0, 2.0, 0.5]])
    # explicit header=True drops a numeric first row; header=False keeps it
    assert load_file(_csv(tmp_path, "1,2,3\n4,5,6\n"), header=True).X.tolist() == [[4.0, 5.0, 6.0]]
    assert load_file(_csv(tmp_path, "1,2,3\n4,5,6\n"), header=False).X.shape == (2, 3)
    # a first row with a gap is a data row with a missing value, not a header
    with pytest.raises(ValidationError, match=r"row 1, column 2: missing value"):
        load_file(_csv(tmp_path, "1,,3\n4,5,6\n"))
    # header=False with a text first row says where and suggests header=True
    with pytest.raises(ValidationError, match=r"row 1, column 1: 'a' is not a number.*header=True"):
        load_file(_csv(tmp_path, "a,b\n1,2\n"), header=False)
    with pytest.raises(ConfigError, match="header"):
        load_file(_csv(tmp_path, "1,2\n"), header="yes")


def test_csv_missing_and_bad_values_name_row_and_column(tmp_path):
    cases = [
        ("a,b\n1,2\n3,\n", r"row 3, column 2: missing value"),
        ("a,b\n1,2\n,4\n", r"row 3, column 1: missing value"),
        ("a,b\n1,2\n3,   \n", r"row 3, column 2: missing value"),
        ("a,b\n1,nan\n", r"row 2, column 2: missing value \('nan'\)"),
        ("a,b\n1,NaN\n", r"row 2, column 2: missing value"),
        ("# made by hand\n\na,b\n1,2\n,4\n", r"row 5, column 1: missing value"),  # comments count
        ("a,b\n1,inf\n", r"row 2, column 2: infinite value"),
        ("a,b\n1,2\n3,x\n", r"row 3, column 2: 'x' is not a number"),
        ("a,b\n1,2\n3,4,5\n", r"row 3: 3 fields, but row 2 has 2"),
        ("a,b,c\n1,2\n", r"row 2: 2 fields, but row 2 has 3|row 2: 2 fields"),
    ]
    for text, message in cases:
        path = _csv(tmp_path, text)
        with pytest.raises(ValidationError, match=message) as info:
            load_file(path)
        assert path in str(info.value), text


def test_csv_empty_files_and_encoding(tmp_path):
    with pytest.raises(ValidationError, match="no data rows"):
        load_file(_csv(tmp_path, ""))
    with pytest.raises(ValidationError, match="no data rows"):
        load_file(_csv(tmp_path, "# only a comment\n\n"))
    with pytest.raises(ValidationError, match="header row but no data rows"):
        load_file(_csv(tmp_path, "a,b,c\n"))
    bad = tmp_path / "latin.csv"
    bad.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="not UTF-8"):
        load_file(str(bad))


def test_csv_labels(tmp_path):
    # string labels are kept; the label column does not make a data row look like a header
    d = load_file(_csv(tmp_path, "1,2,cat\n3,4,dog\n"), labels=-1)
    assert d.X.tolist() == [[1.0, 2.0], [3.0, 4.0]] and d.y.tolist() == ["cat", "dog"]
    d = load_file(_csv(tmp_path, "x,y,label\n1,2,0\n3,4,1\n"), labels=2)
    assert d.y.dtype == np.int64 and d.y.tolist() == [0, 1]
    with pytest.raises(ValidationError, match=r"row 3, column 3: missing value"):
        load_file(_csv(tmp_path, "x,y,label\n1,2,0\n3,4,\n"), labels=-1)
    with pytest.raises(ConfigError, match="column 5 does not exist"):
        load_file(_csv(tmp_path, "1,2,3\n"), labels=5)
    with pytest.raises(ConfigError, match="column index"):
        load_file(_csv(tmp_path, "1,2,3\n"), labels="y")


def test_csv_fast_and_slow_paths_agree(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    rows = "\n".join(",".join(f"{v:.17g}" for v in r) + f",{i % 2}" for i, r in enumerate(X))
    fast = load_file(_csv(tmp_path, "a,b,c,t\n" + rows + "\n"), labels=-1)  # all numeric
    words = "\n".join(",".join(f"{v:.17g}" for v in r) + f",{'ab'[i % 2]}" for i, r in enumerate(X))
    slow = load_file(_csv(tmp_path, "a,b,c,t\n" + words + "\n", "w.csv"), labels=-1)  # text labels
    np.testing.assert_array_equal(fast.X, X)
    np.testing.assert_array_equal(slow.X, X)
    assert fast.y.tolist() == [i % 2 for i in range(50)]


def test_npy_files_refused_with_path_and_cause(tmp_path):
    def expect(arr_or_bytes, message, name="x.npy"):
        path = tmp_path / name
        if isinstance(arr_or_bytes, bytes):
            path.write_bytes(arr_or_bytes)
        else:
            np.save(path, arr_or_bytes, allow_pickle=True)
        with pytest.raises(ValidationError, match=message) as info:
            load_file(str(path))
        assert str(path) in str(info.value)

    good = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "good.npy", good)
    raw = (tmp_path / "good.npy").read_bytes()
    expect(good + 1j, "complex numbers")
    expect(np.array([{"a": 1}, None], dtype=object), "pickle")
    expect(np.array([["a", "b"], ["c", "d"]]), "strings")
    expect(np.array([[b"a"], [b"b"]]), "byte strings")
    expect(raw[: len(raw) - 10], "truncated or corrupt")
    expect(raw[:20], "could not be read")
    expect(b"definitely not numpy", "could not be read")
    expect(np.zeros((0, 3)), "empty")
    nan = good.copy()
    nan[2, 1] = np.nan
    expect(nan, r"1 missing \(NaN\) or infinite value\(s\), the first at index \[2, 1\]")
    expect(np.array(3.0), "shape")
    np.savez(tmp_path / "arch.npz", X=good)
    expect((tmp_path / "arch.npz").read_bytes(), "npz archive, not a single data array")


def test_npy_labels_files_refused_with_their_path(tmp_path):
    X = np.zeros((3, 2))
    np.save(tmp_path / "x.npy", X)
    for labels, message in [
        (np.array([1 + 1j, 2, 3]), "complex"),
        (np.array([{"a": 1}, 2, 3], dtype=object), "pickle"),
        (np.array([0.0, np.nan, 1.0]), "missing"),
    ]:
        np.save(tmp_path / "y.npy", labels, allow_pickle=True)
        with pytest.raises(ValidationError, match=message) as info:
            load_file(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
        assert str(tmp_path / "y.npy") in str(info.value)
    (tmp_path / "y.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValidationError, match="could not be read"):
        load_file(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy"))
    with pytest.raises(DataNotFoundError, match="no labels file"):
        load_file(str(tmp_path / "x.npy"), labels=str(tmp_path / "nope.npy"))
    np.save(tmp_path / "y.npy", np.array(["a", "b", "c"]))  # string labels are fine
    assert load_file(str(tmp_path / "x.npy"), labels=str(tmp_path / "y.npy")).y.tolist() == ["a", "b", "c"]


def test_npz_files_refused_with_path_and_cause(tmp_path):
    X = np.arange(6.0).reshape(3, 2)
    path = tmp_path / "d.npz"
    np.savez(path, X=X + 2j, y=np.arange(3))
    with pytest.raises(ValidationError, match="complex"):
        load_file(str(path))
    np.savez(path, X=X, y=np.arange(3) + 1j)
    with pytest.raises(ValidationError, match="the labels holds complex"):
        load_file(str(path))
    np.savez(path, X=np.array([[{"a": 1}]], dtype=object))
    with pytest.raises(ValidationError, match="pickle") as info:
        load_file(str(path))
    assert "'X'" in str(info.value) and str(path) in str(info.value)
    np.savez(path, X=X)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # a truncated archive
    with pytest.raises(ValidationError, match="could not be read") as info:
        load_file(str(path))
    assert str(path) in str(info.value)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValidationError, match="could not be read"):
        load_file(str(path))
    np.save(tmp_path / "plain.npy", X)
    (tmp_path / "plain.npz").write_bytes((tmp_path / "plain.npy").read_bytes())
    with pytest.raises(ValidationError, match=r"single \.npy array"):
        load_file(str(tmp_path / "plain.npz"))
    with pytest.raises(ConfigError, match="header"):
        load_file(str(tmp_path / "plain.npy"), header=True)


def test_idx_damaged_files(tmp_path):
    img = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    good = tmp_path / "good-idx3-ubyte.gz"
    _write_idx(good, img)
    np.testing.assert_array_equal(read_idx(good), img)
    data = good.read_bytes()
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(data[: len(data) - 12])  # a gzip stream cut short
    with pytest.raises(ValidationError, match="truncated or corrupt") as info:
        read_idx(cut)
    assert str(cut) in str(info.value)
    mangled = bytearray(data)
    mangled[-8] ^= 0xFF  # the CRC no longer matches the data
    bad = tmp_path / "bad-idx3-ubyte.gz"
    bad.write_bytes(bytes(mangled))
    with pytest.raises(ValidationError, match="could not be read"):
        read_idx(bad)
    plain = tmp_path / "plain-idx3-ubyte"
    plain.write_bytes(gzip.decompress(data))
    compressed_no_suffix = tmp_path / "gz-idx3-ubyte"
    compressed_no_suffix.write_bytes(data)
    with pytest.raises(ValidationError, match=r"bad magic number: it starts with 1f 8b"):
        read_idx(compressed_no_suffix)
    raw = plain.read_bytes()
    for payload, message in [
        (raw[:6], r"incomplete IDX header: 6 of 16 bytes"),
        (raw[:2] + b"\x07" + raw[3:], "unsupported IDX type 0x07"),
        (raw[:3] + b"\x00" + raw[4:], "0 dimensions"),
        (raw + b"\x00", "truncated or corrupt"),
        (b"", "bad magic number: it starts with nothing"),
    ]:
        plain.write_bytes(payload)
        with pytest.raises(ValidationError, match=message):
            read_idx(plain)
    # a header promising more than 2**63 bytes is refused, not overflowed
    plain.write_bytes(b"\x00\x00\x08\x04" + b"\xff\xff\xff\xff" * 4)
    with pytest.raises(ValidationError, match="truncated or corrupt"):
        read_idx(plain)
