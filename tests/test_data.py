"""Data: archive readers, tfds path, splits, augmentation, synthetic set, offline errors."""

import pickle
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import archives, feed, loader, sources
from tests import cifar_files


# ------------------------------------------------------------------------------- archives
@pytest.mark.parametrize("fmt", ["python", "binary"])
@pytest.mark.parametrize("extracted", [False, True])
def test_cifar100_archives_round_trip(tmp_path, fmt, extracted):
    path, want = cifar_files.cifar100(tmp_path, fmt, extracted=extracted)
    got = archives.read(path)
    np.testing.assert_array_equal(got.x_train, want["x_train"])  # HWC, exact pixels
    np.testing.assert_array_equal(got.x_test, want["x_test"])
    np.testing.assert_array_equal(got.y_train, want["y_train"])
    np.testing.assert_array_equal(got.coarse_test, want["coarse_test"])
    assert got.fine_names == want["fine_names"] and got.coarse_names == want["coarse_names"]
    assert got.x_train.shape[1:] == (32, 32, 3) and got.x_train.dtype == np.uint8


@pytest.mark.parametrize("fmt", ["python", "binary"])
def test_cifar10_archives_round_trip(tmp_path, fmt):
    path, want = cifar_files.cifar10(tmp_path, fmt)
    got = archives.read(path)
    np.testing.assert_array_equal(got.x_train, want["x_train"])
    np.testing.assert_array_equal(got.y_test, want["y_test"])
    assert got.fine_names == want["fine_names"] and got.coarse_train is None


def test_one_pixel_lands_where_the_format_says(tmp_path):
    path, want = cifar_files.cifar100(tmp_path, "python")
    raw = cifar_files.rows(want["x_train"])
    got = archives.read(path).x_train
    # row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32
    assert got[5, 2, 7, 1] == raw[5, 1024 + 2 * 32 + 7]


def test_checksum_mismatch_is_a_recorded_warning_not_a_refusal(tmp_path):
    cifar_files.cifar100(tmp_path, "python")
    splits = loader.load_splits(DataConfig(data_dir=str(tmp_path), val_size=0, select_on="test",
                                         batch_size=8, train_eval_size=10))
    assert splits.info.source == "archive" and splits.info.sha256_ok is False
    assert any("sha256" in w for w in splits.info.warnings)


def test_a_truncated_archive_is_named_as_corrupt(tmp_path):
    path, _ = cifar_files.cifar100(tmp_path, "python")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(archives.CorruptArchiveError, match="corrupt or truncated"):
        archives.read(path)


def test_a_truncated_binary_batch_is_refused(tmp_path):
    folder, _ = cifar_files.cifar100(tmp_path, "binary", extracted=True)
    (folder / "train.bin").write_bytes((folder / "train.bin").read_bytes()[:-100])
    with pytest.raises(archives.CorruptArchiveError, match="records"):
        archives.read(folder)


def test_pickles_with_globals_are_refused(tmp_path):
    folder, _ = cifar_files.cifar100(tmp_path, "python", extracted=True)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": Evil()}))
    with pytest.raises(archives.CorruptArchiveError, match="not allowed"):
        archives.read(folder)


def refused(path, match: str) -> str:
    """The one-line CorruptArchiveError of reading `path`; it names the file and matches `match`."""
    with pytest.raises(archives.CorruptArchiveError, match=re.escape(match)) as raised:
        archives.read(path)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize("fmt,member,entries,fragment", [
    ("cifar100", "train", {"fine_labels": [1] * 40}, "train: 60 images but 40 fine_labels"),
    ("cifar100", "test", {"coarse_labels": [1] * 30}, "test: 20 images but 30 coarse_labels"),
    # totals would agree (50 = 50) if the counts were only compared after concatenating the batches
    ("cifar10", "data_batch_3", {"labels": [1] * 5}, "data_batch_3: 10 images but 5 labels"),
])
def test_image_and_label_counts_must_agree(tmp_path, fmt, member, entries, fragment):
    folder, _ = getattr(cifar_files, fmt)(tmp_path, "python", extracted=True)
    cifar_files.edit_pickle(folder, member, **entries)
    if fmt == "cifar10":
        cifar_files.edit_pickle(folder, "data_batch_4", labels=[1] * 15)
    refused(folder, fragment)


@pytest.mark.parametrize("case,fragment", [
    ("fine 100", "train: fine_labels holds 100, outside 0..99 (100 classes named in meta)"),
    ("coarse -1", "test: coarse_labels holds -1, outside 0..19"),
    ("50 names", "train: fine_labels holds 50, outside 0..49 (50 classes named in meta)"),
    ("cifar10 10", "test_batch: labels holds 10, outside 0..9 (10 classes named in batches.meta)"),
    ("binary fine 150", "train.bin: fine labels holds 150, outside 0..99"),
    ("binary coarse 20", "test.bin: coarse labels holds 20, outside 0..19"),
    ("binary cifar10 255", "data_batch_2.bin: labels holds 255, outside 0..9"),
])
def test_labels_outside_the_named_classes_are_refused_when_read(tmp_path, case, fragment):
    binary, cifar10 = "binary" in case, "cifar10" in case
    folder, want = (cifar_files.cifar10 if cifar10 else cifar_files.cifar100)(
        tmp_path, "binary" if binary else "python", extracted=True)
    if case == "fine 100":
        cifar_files.edit_pickle(folder, "train", fine_labels=[*want["y_train"][:-1].tolist(), 100])
    elif case == "coarse -1":
        cifar_files.edit_pickle(folder, "test", coarse_labels=[-1, *want["coarse_test"][1:].tolist()])
    elif case == "50 names":  # the names list is shorter than the labels need (labels reach 59)
        cifar_files.edit_pickle(folder, "meta", fine_label_names=[f"n{i}".encode() for i in range(50)])
    elif case == "cifar10 10":
        cifar_files.edit_pickle(folder, "test_batch", labels=[10] * 10)
    elif case == "binary fine 150":
        cifar_files.edit_label_byte(folder, "train.bin", 7, 150)
    elif case == "binary coarse 20":
        cifar_files.edit_label_byte(folder, "test.bin", 3, 20, column=0)
    else:
        cifar_files.edit_label_byte(folder, "data_batch_2.bin", 0, 255)
    refused(folder, fragment)


@pytest.mark.parametrize("array,fragment", [
    (cifar_files.ForgedArray((10**13,)), "larger than any CIFAR file"),  # 9 TiB: MemoryError before
    (cifar_files.ForgedArray((60_001, 3072)), "larger than any CIFAR file"),  # one row past a split
    (cifar_files.ForgedArray((2**62, 2**62), via="state"), "larger than any CIFAR file"),
    (cifar_files.ForgedArray((10**13,), via="state", dtype="O", data=[0] * 8), "object arrays"),
])
def test_a_forged_array_size_is_a_one_line_corrupt_archive_error(tmp_path, array, fragment):
    folder, _ = cifar_files.cifar100(tmp_path, "python", extracted=True)
    cifar_files.edit_pickle(folder, "train", data=array)
    assert "train: not a CIFAR pickle" in refused(folder, fragment)


@pytest.mark.parametrize("damage,fragment", [
    (lambda f: cifar_files.edit_pickle(f, "train", drop=("fine_labels",)), "train has no 'fine_labels'"),
    (lambda f: (f / "test").unlink(), "test is missing"),
    (lambda f: cifar_files.edit_pickle(f, "train", data=np.zeros((60, 3072), np.float32)),
     "train: images must be N x 3072 uint8 rows, got a float32 array of shape (60, 3072)"),
    (lambda f: cifar_files.edit_pickle(f, "train", data=np.zeros((60, 1024), np.uint8)), "images must be N x 3072"),
    (lambda f: cifar_files.edit_pickle(f, "test", fine_labels=["a"] * 20), "fine_labels must be a list of integers"),
    (lambda f: cifar_files.edit_pickle(f, "test", fine_labels=[1.0] * 20), "fine_labels must be a list of integers"),
    (lambda f: cifar_files.edit_pickle(f, "train", data=np.zeros((0, 3072), np.uint8), fine_labels=[],
                                       coarse_labels=[]), "its train split holds 0 images"),
    (lambda f: cifar_files.edit_pickle(f, "meta", coarse_label_names=b"x"), "meta: label names must be"),
    (lambda f: cifar_files.edit_pickle(f, "meta", fine_label_names=[]), "meta: label names must be a non-empty"),
    (lambda f: (f / "meta").write_bytes(pickle.dumps([1, 2])), "meta: expected a dict"),
])
def test_malformed_content_is_named_in_one_line(tmp_path, damage, fragment):
    folder, _ = cifar_files.cifar100(tmp_path, "python", extracted=True)
    damage(folder)
    refused(folder, fragment)


def test_a_file_larger_than_any_cifar_file_is_refused_unread(tmp_path, monkeypatch):
    path, _ = cifar_files.cifar100(tmp_path, "binary")
    monkeypatch.setattr(archives, "_MAX_FILE_BYTES", 100_000)  # train.bin is 60 x 3074 bytes
    refused(path, "train.bin is 184,440 bytes, more than any CIFAR file holds")


def test_files_no_format_uses_are_never_read(tmp_path, monkeypatch):
    folder, want = cifar_files.cifar100(tmp_path, "binary", extracted=True)
    monkeypatch.setattr(archives, "_MAX_FILE_BYTES", 200_000)
    (folder / "readme.html").write_bytes(b"<html>" * 50_000)  # past the bound, but no format reads it
    np.testing.assert_array_equal(archives.read(folder).y_train, want["y_train"])


# ------------------------------------------------------------------------------------ tfds
def test_tfds_path_with_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(sources, "_reachable", lambda *a, **k: True)  # mock_data replaces the download
    loader._load_arrays.cache_clear()
    with tfds.testing.mock_data(num_examples=240):
        splits = loader.load_splits(DataConfig(dataset="cifar100", labels="coarse", val_size=40,
                                             train_eval_size=20, batch_size=16))
    assert splits.info.source == "tfds" and splits.info.num_classes == 20
    assert splits.info.sizes == {"train": 200, "val": 40, "test": 240, "train_eval": 20}
    assert splits.arrays["x_train"].shape[1:] == (32, 32, 3) and splits.arrays["x_train"].dtype == np.uint8
    assert len(splits.info.class_names) == 20
    loader._load_arrays.cache_clear()


# ---------------------------------------------------------------------------------- splits
def test_stratified_split_sizes_balance_and_disjointness():
    labels = np.repeat(np.arange(10), 50)
    keep, held = loader.stratified_split(labels, 105, seed=3)
    assert len(held) == 105 and len(keep) == 395
    assert not set(keep) & set(held) and set(keep) | set(held) == set(range(500))
    counts = np.bincount(labels[held], minlength=10)
    assert counts.max() - counts.min() <= 1


def test_split_is_fixed_by_the_seed():
    labels = np.repeat(np.arange(10), 50)
    a, b, c = (loader.stratified_split(labels, 100, seed=s)[1] for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def small(**kw):
    base = dict(dataset="synthetic", synthetic_train=400, synthetic_test=100, synthetic_classes=10,
                val_size=100, train_eval_size=50, batch_size=32, augment="none")
    return DataConfig(**{**base, **kw})


def test_splits_leave_test_untouched_and_train_eval_inside_train():
    splits = loader.load_splits(small())
    x_tr, x_te = loader._load_arrays(loader._raw_request(small()))[0]["x_train"], None
    assert splits.info.sizes == {"train": 300, "val": 100, "test": 100, "train_eval": 50}
    raw = loader._load_arrays(loader._raw_request(small()))[0]
    np.testing.assert_array_equal(splits.arrays["x_test"], raw["x_test"])
    train_rows = {r.tobytes() for r in splits.arrays["x_train"]}
    assert all(r.tobytes() in train_rows for r in splits.arrays["x_train_eval"])
    assert not {r.tobytes() for r in splits.arrays["x_val"]} & train_rows
    del x_tr, x_te


def images(splits, inputs):
    """What the model sees: the plans turned into images by the device feed."""
    return np.asarray(feed.DeviceImages(splits.pixels(), splits.info.mean, splits.info.std)(inputs))


def test_normalisation_uses_train_statistics():
    splits = loader.load_splits(small())
    x = images(splits, splits.evaluation("train_eval")[0])
    raw = splits.arrays["x_train_eval"].astype(np.float64) / 255
    np.testing.assert_allclose(x, (raw - splits.info.mean) / splits.info.std, atol=1e-5)
    full = splits.arrays["x_train"].reshape(-1, 3) / 255.0
    np.testing.assert_allclose(splits.info.mean, full.mean(0), atol=1e-6)
    np.testing.assert_allclose(splits.info.std, full.std(0), atol=1e-6)


def test_post_protocol_needs_both_flags():
    with pytest.raises(ConfigError, match="select-on test"):
        DataConfig(val_size=0)
    assert DataConfig(val_size=0, select_on="test").select_on == "test"
    with pytest.raises(ConfigError):
        DataConfig(val_size=10, select_on="test")


# ---------------------------------------------------------------------------- augmentation
def first_batch(config, epoch=0, skip=0):
    splits = loader.load_splits(config)
    x, y = splits.train(epoch, skip)
    batch = {k: v[:config.batch_size] for k, v in x.items()}
    return images(splits, batch), y[:config.batch_size]


def test_none_is_the_identity_after_normalising():
    splits = loader.load_splits(small(augment="none"))
    x, y = first_batch(small(augment="none"))
    order = splits.epoch_order(0)[:32]
    want = (splits.arrays["x_train"][order] / 255.0 - splits.info.mean) / splits.info.std
    np.testing.assert_allclose(x, want, atol=1e-5)
    np.testing.assert_array_equal(y, splits.arrays["y_train"][order])


@pytest.mark.parametrize("preset", ["standard", "strong"])
def test_augmentation_shapes_ranges_and_determinism(preset):
    x1, y1 = first_batch(small(augment=preset))
    x2, y2 = first_batch(small(augment=preset))
    x3, _ = first_batch(small(augment=preset), epoch=1)
    plain, _ = first_batch(small(augment="none"))
    assert x1.shape == (32, 32, 32, 3) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3) and not np.array_equal(x1, plain)
    # Crops and flips move pixels, never invent values: outside a cutout hole every value of an
    # augmented image is a value of the same image unaugmented (the reflection pads with its own pixels).
    holes = (x1 == 0).all(axis=-1).sum(axis=(1, 2))
    for augmented, original in zip(x1, plain):  # the same order whatever the preset
        kept = augmented[~(augmented == 0).all(axis=-1)]
        assert np.isin(kept.round(5), original.reshape(-1, 3).round(5)).all()
    if preset == "strong":
        assert holes.min() >= 16  # a cutout hole (at least a clipped quarter of 8x8) in every image
    else:
        assert holes.max() < 16


def test_resumed_epoch_sees_the_same_batches():
    config = small(augment="standard")
    full, _ = first_batch(config, epoch=2, skip=3)
    splits = loader.load_splits(config)
    x, _ = splits.train(2)
    fourth = {k: v[3 * 32:4 * 32] for k, v in x.items()}
    np.testing.assert_array_equal(images(splits, fourth), full)


def test_data_order_depends_on_seed_and_epoch():
    a = loader.load_splits(small(seed=0))
    b = loader.load_splits(small(seed=1))
    assert not np.array_equal(a.epoch_order(0), a.epoch_order(1))
    assert not np.array_equal(a.epoch_order(0), b.epoch_order(0))


# ------------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_learnable():
    import keras

    config = small(synthetic_train=1200, val_size=200, augment="none", batch_size=50)
    splits = loader.load_splits(config)
    np.testing.assert_array_equal(splits.arrays["x_train"], loader.load_splits(config).arrays["x_train"])
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3, activation="relu"),
                            keras.layers.MaxPooling2D(4), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    model = feed.on_device(net, splits.pixels(), splits.info.mean, splits.info.std)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    for epoch in range(3):
        model.fit(*splits.train(epoch), batch_size=50, verbose=0, shuffle=False)
    accuracy = model.evaluate(*splits.evaluation("val"), verbose=0)[1]
    assert accuracy > 0.3  # chance is 0.1 (the synthetic set is meant to be hard; tests/test_synthetic.py probes it)


# ------------------------------------------------------------------------- offline failure
def test_offline_with_no_data_fails_fast_with_exit_2(tmp_path, cli_env):
    results = tmp_path / "results"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "run", "resnet20", "--dataset", "cifar100",
                           "--budget", "1steps", "--results-dir", str(results)],
                          capture_output=True, text=True, env=cli_env, timeout=120)
    assert proc.returncode == 2
    assert time.monotonic() - started < 60
    err = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(err) == 1 and "cifar-100-python.tar.gz" in err[0] and "--dataset synthetic" in err[0]
    assert not any(p.is_file() for p in results.rglob("*"))


def test_corrupt_archive_on_the_cli_is_exit_2(tmp_path, cli_in_process):
    path, _ = cifar_files.cifar100(tmp_path / "data", "python")
    path.write_bytes(path.read_bytes()[:5000])
    code, lines = cli_in_process("run", "resnet20", "--data-dir", str(tmp_path / "data"), "--budget", "1steps",
                                 "--results-dir", str(tmp_path / "r"))
    ours = [line for line in lines if line.startswith("archbench run: error:")]  # in-process: a library's first notices too
    assert code == 2 and len(ours) == 1 and "corrupt or truncated" in ours[0], lines
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize("damage", ["counts", "label range"])
def test_a_bad_archive_on_the_cli_is_one_line_exit_2_and_no_result(tmp_path, cli_in_process, damage):
    folder, _ = cifar_files.cifar10(tmp_path / "data", "python", extracted=True)
    if damage == "counts":
        cifar_files.edit_pickle(folder, "data_batch_1", labels=[1] * 6)
    else:
        cifar_files.edit_pickle(folder, "test_batch", labels=[12] * 10)
    results = tmp_path / "r"
    code, lines = cli_in_process("run", "resnet20", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"),
                                 "--budget", "1steps", "--results-dir", str(results))
    assert code == 2 and len(lines) == 1 and "corrupt archive" in lines[0] and str(folder) in lines[0], lines
    assert not any(p.is_file() for p in results.rglob("*"))  # no run folder, config or summary


def test_a_forged_array_size_is_refused_before_memory_is_asked_for(tmp_path, cli_env):
    """A pickle that claims 10^13 pixels: in a process of its own, so that a regression costs that
    process its memory, not the test run's."""
    folder, _ = cifar_files.cifar10(tmp_path / "data", "python", extracted=True)
    cifar_files.edit_pickle(folder, "data_batch_5", data=cifar_files.ForgedArray((10**13,)))
    results = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "run", "resnet20", "--dataset", "cifar10",
                           "--data-dir", str(tmp_path / "data"), "--budget", "1steps", "--results-dir", str(results)],
                          capture_output=True, text=True, env=cli_env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt archive" in lines[0] and str(folder) in lines[0], proc.stderr[-3000:]
    assert not any(p.is_file() for p in results.rglob("*"))  # no run folder, config or summary
