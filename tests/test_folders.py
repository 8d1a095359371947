"""Image-folder datasets: labels in the dataset's own order, the same run as an archive of the same
images, superclasses from the spec, one-line errors, the decode cache and the statistics check."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from benchmarks.core import datasets
from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import archives, folders, loader
from benchmarks.report import style
from tests import cifar_files
from tests.cifar_files import cifar100_tree, small_spec

pytestmark = pytest.mark.usefixtures("cache_dir")  # conftest.py: a decode cache of each test's own


def load(root, **kw):
    return loader._load_arrays(DataConfig(data_dir=str(root), **kw))


def pairs(x, y) -> set:
    return {(int(label), image.tobytes()) for image, label in zip(x, y)}


# --------------------------------------------------------------------------------- labels
def test_labels_follow_the_datasets_own_order_not_the_disk(tmp_path, monkeypatch):
    x_tr, y_tr, x_te, y_te = cifar100_tree(tmp_path / "c100", monkeypatch)
    raw, provenance = load(tmp_path / "c100")
    assert raw["names"] == datasets.CIFAR100_CLASSES and provenance["source"] == "folder"
    assert pairs(raw["x_train"], raw["y_train"]) == pairs(x_tr, y_tr)  # each image kept its folder's label
    assert pairs(raw["x_test"], raw["y_test"]) == pairs(x_te, y_te)
    assert raw["names"].index("apple") == 0 and raw["names"].index("worm") == 99


def test_superclasses_come_from_the_spec_map(tmp_path, monkeypatch):
    x_tr, y_tr, *_ = cifar100_tree(tmp_path / "c100", monkeypatch)
    raw, _ = load(tmp_path / "c100", labels="coarse")
    spec = datasets.DATASETS["cifar100"]
    assert len(raw["names"]) == 20 and raw["names"][0] == "aquatic_mammals"
    want = {(spec.coarse_classes.index(spec.coarse_of[spec.classes[f]]), x.tobytes()) for x, f in zip(x_tr, y_tr)}
    assert pairs(raw["x_train"], raw["y_train"]) == want
    # the published map: beaver and whale are aquatic mammals, tractor a vehicle 2
    assert spec.coarse_of["beaver"] == spec.coarse_of["whale"] == "aquatic_mammals"
    assert spec.coarse_of["tractor"] == "vehicles_2" and len(set(spec.coarse_of.values())) == 20
    assert sorted(spec.coarse_of) == list(spec.classes) and len(spec.classes) == 100


def test_a_folder_and_an_archive_of_the_same_images_are_the_same_run(tmp_path, monkeypatch):
    path, _ = cifar_files.cifar10(tmp_path / "archive", "python")
    got = archives.read(path)
    small_spec(monkeypatch, "cifar10", len(got.y_train), len(got.y_test))
    cifar_files.image_folders(tmp_path / "folders", datasets.CIFAR10_CLASSES, got.x_train, got.y_train,
                              got.x_test, got.y_test)
    config = dict(dataset="cifar10", val_size=10, batch_size=8, train_eval_size=5)
    from_archive, from_folder = (DataConfig(data_dir=str(tmp_path / d), **config) for d in ("archive", "folders"))
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(loader._load_arrays(from_archive)[0][key], loader._load_arrays(from_folder)[0][key])
    assert loader.facts(from_archive).digest == loader.facts(from_folder).digest != ""
    a, b = loader.load_splits(from_archive), loader.load_splits(from_folder)
    np.testing.assert_array_equal(a.arrays["y_val"], b.arrays["y_val"])
    np.testing.assert_array_equal(a.epoch_order(3), b.epoch_order(3))


def test_the_published_content_is_the_canonical_identity(tmp_path, monkeypatch):
    x_tr, y_tr, x_te, y_te = cifar100_tree(tmp_path / "c100", monkeypatch)
    raw, provenance = load(tmp_path / "c100")
    assert provenance["digest_ok"] is False and provenance["digest"] == provenance["content_digest"][:16]
    small_spec(monkeypatch, "cifar100", len(y_tr), len(y_te), content_digest=provenance["content_digest"])
    loader._load_arrays.cache_clear()
    _, provenance = load(tmp_path / "c100")
    assert provenance["digest_ok"] is True and provenance["digest"] == ""  # the run needs no data hash


def test_statistics_check_tells_a_real_copy_from_another(tmp_path, monkeypatch):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    splits = loader.load_splits(DataConfig(data_dir=str(tmp_path / "c100"), val_size=100, batch_size=8,
                                         train_eval_size=10))
    assert splits.info.stats_ok is False and any("per-channel mean" in w for w in splits.info.warnings)
    raw, _ = load(tmp_path / "c100")
    mean, std = loader.channel_stats(raw["x_train"])
    small_spec(monkeypatch, "cifar100", 200, 100, channel_stats=(tuple(round(m, 4) for m in mean),
                                                                tuple(round(s, 4) for s in std)))
    loader._load_arrays.cache_clear()
    splits = loader.load_splits(DataConfig(data_dir=str(tmp_path / "c100"), val_size=100, batch_size=8,
                                         train_eval_size=10))
    assert splits.info.stats_ok is True and not splits.info.warnings
    assert splits.info.source == "folder" and splits.info.location == str((tmp_path / "c100").resolve())


# ---------------------------------------------------------------------------- bad folders
def refused(root, match, **kw):
    with pytest.raises(ConfigError, match=match) as error:
        load(root, **kw)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("damage,match", [
    (lambda r: os.rename(r / "train" / "apple", r / "train" / "aple"), r"unexpected folder\(s\) 'aple' \(did you mean 'apple'"),
    (lambda r: (r / "test" / "unicorn").mkdir(), r"test: .*unexpected folder\(s\) 'unicorn'"),
    (lambda r: [p.unlink() for p in (r / "train" / "worm").iterdir()] and (r / "train" / "worm").rmdir(),
     r"missing worm"),
    (lambda r: next((r / "train" / "bee").iterdir()).unlink(), r"train holds 199 images; cifar100's train split has 200"),
    (lambda r: next((r / "test" / "bee").iterdir()).write_bytes(b"not a png"), r"bee_\d+\.png is not a readable PNG"),
    (lambda r: __import__("PIL.Image").Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(
        next((r / "train" / "bee").iterdir())), r"is 28x28 pixels; every image of cifar100 must be 32x32"),
    (lambda r: os.rename(r / "test", r / "testing"), r"test is missing"),
])
def test_a_bad_cifar_folder_is_one_line_before_anything_trains(tmp_path, monkeypatch, damage, match):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    damage(tmp_path / "c100")
    refused(tmp_path / "c100", match)


def test_links_are_never_read(tmp_path, monkeypatch):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    secret = tmp_path / "secret.png"
    first = next((tmp_path / "c100" / "train" / "bee").iterdir())
    secret.write_bytes(first.read_bytes())
    first.unlink()
    first.symlink_to(secret)
    refused(tmp_path / "c100", "train holds 199 images")


# ------------------------------------------------------------------------- a user's folders
def test_own_folders_any_classes_and_shape(tmp_path):
    names = ("cats", "dogs", "owls")
    x_tr, y_tr = cifar_files.balanced(3, 8, seed=4, shape=(24, 20, 3))
    x_te, y_te = cifar_files.balanced(3, 2, seed=5, shape=(24, 20, 3))
    cifar_files.image_folders(tmp_path / "My pets!", names, x_tr, y_tr, x_te, y_te, suffix=".jpg")
    config = DataConfig(dataset="folder", data_dir=str(tmp_path / "My pets!"), val_size=6, batch_size=4,
                        train_eval_size=6)
    splits = loader.load_splits(config)
    assert splits.info.num_classes == 3 and splits.info.class_names == names
    assert splits.image_shape == (24, 20, 3) and splits.info.stats_ok is None
    assert config.name == "folder-My_pets_" and splits.info.name == "folder-My_pets_"
    assert style.reference(config.name) is None  # never set beside the post's CIFAR-100 52%
    assert loader.facts(config).digest != ""  # never the published identity


@pytest.mark.parametrize("make,match", [
    (lambda r: cifar_files.image_folders(r, ("only",), *cifar_files.balanced(1, 2, 1), *cifar_files.balanced(1, 1, 2)),
     "has 1 class folder"),
    (lambda r: cifar_files.image_folders(r, ("a", "b"), *cifar_files.balanced(2, 2, 1),
                                         *cifar_files.balanced(1, 1, 2)) and (r / "test" / "b").rmdir(),
     r"test: the class folders must be exactly train/'s 2 classes: missing b"),
    (lambda r: cifar_files.image_folders(r, ("a", "b"), *cifar_files.balanced(2, 2, 1), *cifar_files.balanced(1, 2, 2)),
     r"no PNG or JPEG images in b"),
    (lambda r: cifar_files.image_folders(r, ("a", "b"), *cifar_files.balanced(2, 2, 1, shape=(8, 8, 3)),
                                         *cifar_files.balanced(2, 1, 2, shape=(9, 8, 3))),
     r"is 8x9 pixels; every image of the dataset must be 8x8"),
    (lambda r: r.mkdir(), r"--dataset folder needs --data-dir holding train/<class>/"),
])
def test_bad_own_folders_are_one_line(tmp_path, make, match):
    make(tmp_path / "mine")
    refused(tmp_path / "mine", match, dataset="folder")


def test_folder_dataset_needs_a_data_dir():
    with pytest.raises(ConfigError, match="--dataset folder needs --data-dir"):
        DataConfig(dataset="folder")


# -------------------------------------------------------------------------------- the cache
def test_the_cache_is_used_keyed_by_content_and_rebuilt_when_damaged(tmp_path, monkeypatch, cache_dir, capfd):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    first, p1 = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"])
    assert p1["cache_note"] == "decoded"
    again, p2 = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"])
    assert p2["cache_note"] == "cache" and p2["cache"] == p1["cache"]
    np.testing.assert_array_equal(first["x_train"], again["x_train"])

    # a changed image is a new key: decoded afresh, the new pixels read
    image = next((tmp_path / "c100" / "train" / "bee").iterdir())
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(image)
    changed, p3 = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"])
    assert p3["cache"] != p1["cache"] and p3["cache_note"] == "decoded"
    assert any((x == 7).all() for x in changed["x_train"])

    # a damaged cache (bytes flipped inside an array, or cut short) is rebuilt, never trusted
    for damage in (lambda b: b[:-5000] + bytes(5000), lambda b: b[: len(b) // 2]):
        path = Path(p3["cache"])
        path.write_bytes(damage(path.read_bytes()))
        rebuilt, p4 = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"])
        assert p4["cache_note"] == "decoded (cache damaged or another tree's)" and "damaged" in capfd.readouterr().err
        np.testing.assert_array_equal(rebuilt["x_train"], changed["x_train"])
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]  # atomic: no partial files left


def test_a_read_only_data_folder_and_an_unwritable_cache_still_read(tmp_path, monkeypatch, capfd):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    for path in (tmp_path / "c100").rglob("*"):
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    blocker = tmp_path / "cache-file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ARCHBENCH_CACHE_DIR", str(blocker))
    raw, provenance = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"])
    assert raw["x_train"].shape == (200, 32, 32, 3) and provenance["cache_note"] == "decoded (not cached)"
    assert "cannot write the decode cache" in capfd.readouterr().err


# ------------------------------------------------------------------------------ on the CLI
def pets(root, shape=(16, 16, 3)):
    x_tr, y_tr = cifar_files.balanced(3, 12, seed=4, shape=shape)
    x_te, y_te = cifar_files.balanced(3, 4, seed=5, shape=shape)
    return cifar_files.image_folders(root / "pets", ("cat", "dog", "owl"), x_tr, y_tr, x_te, y_te)


def test_own_folders_train_and_report_under_their_name(tmp_path, cli_in_process):
    import json

    results_dir, flags = tmp_path / "results", ("--val-split", "6", "--train-eval-size", "6", "--batch-size", "6")
    code, err = cli_in_process("run", "resnet20", "--dataset", "folder", "--data-dir", str(pets(tmp_path)),
                               "--budget", "3steps", "--results-dir", str(results_dir), "--quiet", *flags)
    assert code == 0, err
    (summary,) = results_dir.glob("folder-pets/*/resnet20/seed-0/summary.json")
    record = json.loads(summary.read_text())
    assert record["status"] == "complete" and record["dataset"] == "folder-pets" and record["data_source"] == "folder"
    assert record["data"]["num_classes"] == 3 and record["data"]["sizes"]["train"] == 30
    assert record["data"]["stats_ok"] is None and record["config_hash"]  # own data: never the canonical identity
    code, err = cli_in_process("report", "--results-dir", str(results_dir), "--out", str(tmp_path / "report"))
    report = (tmp_path / "report" / "report.md").read_text()
    assert code == 0 and "## folder-pets, budget 3steps" in report and "(image folders)" in report
    assert "blog post: 52%" not in report  # the post's CIFAR-100 figure is never set beside another dataset


@pytest.mark.parametrize("argv,match", [
    (("run", "resnet20", "--dataset", "cifar100"), "the class folders must be exactly cifar100's 100 classes"),
    (("run", "original", "--dataset", "folder"), "original cannot be built for 8x8 images with 3 classes"),
    (("speed", "resnet20", "--dataset", "cifar100"), "the class folders must be exactly cifar100's 100 classes"),
])
def test_bad_folders_on_the_cli_are_one_line_exit_2_and_nothing_written(tmp_path, cli_in_process, argv, match):
    data_dir = pets(tmp_path, shape=(8, 8, 3))
    results_dir = tmp_path / "results"
    extra = ("--results-dir", str(results_dir), "--budget", "2steps", "--val-split", "6", "--train-eval-size", "6",
             "--batch-size", "6") if argv[0] == "run" else ()
    code, err = cli_in_process(*argv, "--data-dir", str(data_dir), *extra)
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not results_dir.exists()


def test_progress_shows_images_share_and_eta_on_a_long_decode(capfd):
    bar = folders._Progress("decoding x", 1000, every=0.0)
    for done in (10, 500, 1000):
        bar.update(done)
    bar.close()
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines[0].startswith("decoding x: 10/1,000 images (1%), ETA") and lines[-1].startswith("decoding x: 1,000/1,000")
    quiet = folders._Progress("decoding y", 1000, every=60.0)  # done before the first tick: nothing shown
    quiet.update(1000)
    quiet.close()
    assert capfd.readouterr().err == ""
