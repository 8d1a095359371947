"""Image folders as a hostile or careless user leaves them: links, FIFOs, 16-bit and odd modes,
files whose content is not their extension's format, decompression bombs, another tree's decode
cache, results written into the data. Each is read correctly or refused in one line."""

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmarks.core import datasets
from benchmarks.core.config import ConfigError, DataConfig
from benchmarks.data import folders, images, loader
from tests import cifar_files
from tests.cifar_files import cifar100_tree

pytestmark = pytest.mark.usefixtures("cache_dir")  # conftest.py: a decode cache of each test's own


def refused(root, match):
    with pytest.raises(ConfigError, match=match) as error:
        loader._load_arrays(DataConfig(data_dir=str(root)))
    assert "\n" not in str(error.value)


def first_image(root, split="train", name="bee"):
    return sorted((root / split / name).iterdir())[0]


# ------------------------------------------------------------------------------------ links
def test_a_linked_class_folder_is_refused_not_trained(tmp_path, monkeypatch):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(tmp_path / "c100" / "train" / "fox", elsewhere)
    (tmp_path / "c100" / "train" / "fox").symlink_to(elsewhere, target_is_directory=True)
    refused(tmp_path / "c100", r"train/fox is a symbolic link to a folder: links in an image folder are never followed")


def test_a_linked_split_folder_is_refused(tmp_path, monkeypatch):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    shutil.move(tmp_path / "c100" / "train", tmp_path / "real-train")
    (tmp_path / "c100" / "train").symlink_to(tmp_path / "real-train", target_is_directory=True)
    refused(tmp_path / "c100", r"c100/train is a symbolic link: links in an image folder are never followed")


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_linked_or_fifo_image_is_skipped_and_said(tmp_path, monkeypatch, kind):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    image = first_image(tmp_path / "c100")
    image.unlink()
    if kind == "link":
        image.symlink_to(first_image(tmp_path / "c100", name="fox"))
    else:
        os.mkfifo(image)
    refused(tmp_path / "c100", r"train holds 199 images; .* 1 linked or non-regular file\(s\) skipped, such as .*bee")
    # a user's own folders have no count to miss: the skipped file is a warning of the run
    names, files, warnings = folders.listing(tmp_path / "c100", datasets.DATASETS["folder"])
    assert len(files["train"]) == 199 and len(warnings) == 1 and "1 image file(s)" in warnings[0]


# ----------------------------------------------------------------------------- pixel modes
GRADIENT = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)  # 0..65472


def encoded(image: Image.Image, fmt="PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    pixels = images.decode(encoded(Image.fromarray(GRADIENT)), ".png")
    expected = np.round(GRADIENT / 257).astype(np.uint8)
    assert pixels.shape == (32, 32, 3) and (pixels == expected[..., None]).all()
    assert abs(pixels.mean() - GRADIENT.mean() / 257) < 0.5  # Pillow's convert("RGB") gave 254.4 here


@pytest.mark.parametrize("color_type,channels", [(2, 3), (6, 4), (4, 2), (0, 1)])
def test_sixteen_bit_colour_alpha_and_grey_become_the_right_8_bit_rgb(color_type, channels):
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 65536, size=(8, 8, channels), dtype=np.uint16)
    pixels = images.decode(cifar_files.png(wide, color_type), ".png")
    colour = wide[..., :3] if channels >= 3 else np.repeat(wide[..., :1], 3, axis=-1)
    assert np.abs(pixels.astype(int) - np.round(colour / 257)).max() <= 1  # the top byte, or its rounding


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA"])
def test_eight_bit_modes_read_as_rgb(mode):
    rgb = np.random.default_rng(1).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(rgb).convert(mode)
    pixels = images.decode(encoded(image), ".png")
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, np.asarray(image.convert("RGB")))


def test_cmyk_jpeg_reads_as_rgb():
    image = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    pixels = images.decode(encoded(image, "JPEG"), ".jpg")
    assert pixels.shape == (8, 8, 3) and pixels[..., 0].mean() > 200 and pixels[..., 1:].mean() < 60


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "WEBP", "BMP", "JPEG"])
def test_a_file_whose_content_is_not_its_extensions_format_is_refused(fmt):
    blob = encoded(Image.new("RGB", (8, 8)), fmt)
    with pytest.raises(images.ImageError, match="is not a readable PNG image"):
        images.decode(blob, ".png")


def test_an_eps_named_png_never_reaches_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    def never(*args, **kwargs):
        raise AssertionError("Ghostscript's loader was called")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", never)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", never)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\nshowpage\n"
    with pytest.raises(images.ImageError, match="is not a readable PNG image"):
        images.decode(eps, ".png")


@pytest.mark.parametrize("size,match", [((20000, 10000), "is a decompression bomb"),  # past Pillow's own limit
                                        ((5000, 5000), "is 5000x5000 pixels, more than an image of a dataset may have")])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch, size, match):
    out = io.BytesIO()
    Image.new("L", size).save(out, format="PNG", optimize=True)
    assert len(out.getvalue()) < 1_000_000  # a few hundred KB that would decode to hundreds of MB
    with pytest.raises(images.ImageError, match=match):
        images.decode(out.getvalue(), ".png")
    cifar100_tree(tmp_path / "c100", monkeypatch)
    first_image(tmp_path / "c100").write_bytes(out.getvalue())
    refused(tmp_path / "c100", rf"bee_\d+\.png {match}")


def test_a_sixteen_bit_png_in_a_tree_trains_as_its_scaled_pixels(tmp_path, monkeypatch):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    image = first_image(tmp_path / "c100")
    Image.fromarray(GRADIENT).save(image)
    arrays, _ = folders.read(tmp_path / "c100", datasets.DATASETS["cifar100"], progress=False)
    grey = np.round(GRADIENT / 257).astype(np.uint8)
    assert any((x == grey[..., None]).all() for x in arrays["x_train"])


# ---------------------------------------------------------------------------- the cache
def test_another_trees_cache_is_never_read_for_this_one(tmp_path, monkeypatch, cache_dir, capfd):
    cifar100_tree(tmp_path / "a", monkeypatch)
    a, pa = folders.read(tmp_path / "a", datasets.DATASETS["cifar100"], progress=False)
    x_tr, y_tr = cifar_files.balanced(100, 2, seed=7)
    x_te, y_te = cifar_files.balanced(100, 1, seed=8)
    cifar_files.image_folders(tmp_path / "b", datasets.DATASETS["cifar100"].classes, x_tr, y_tr, x_te, y_te)
    b_cache = folders.cache_dir() / f"{folders._key(*_key_parts(tmp_path / 'b'))}.npz"
    shutil.copyfile(pa["cache"], b_cache)  # tree A's intact cache under tree B's key
    b, pb = folders.read(tmp_path / "b", datasets.DATASETS["cifar100"], progress=False)
    assert pb["cache"] == str(b_cache) and pb["cache_note"].startswith("decoded")
    assert "damaged or another tree's" in capfd.readouterr().err
    assert folders.arrays_digest(b) != folders.arrays_digest(a)
    assert {x.tobytes() for x in b["x_train"]} == {x.tobytes() for x in x_tr}  # B's own pixels


def _key_parts(root):
    names, files, _ = folders.listing(root, datasets.DATASETS["cifar100"])
    blobs = {split: [path.read_bytes() for _, path in files[split]] for split in folders.SPLITS}
    return names, files, blobs, root


# ---------------------------------------------------------------------- results in the data
def test_results_inside_the_data_are_refused(tmp_path, monkeypatch, cli_in_process):
    cifar100_tree(tmp_path / "c100", monkeypatch)
    inside = tmp_path / "c100" / "train" / "x"
    code, err = cli_in_process("run", "resnet20", "--data-dir", str(tmp_path / "c100"), "--budget", "1steps",
                               "--results-dir", str(inside))
    assert code == 2 and len(err) == 1 and "is inside the data folder" in err[0], err
    assert not inside.exists()


def test_a_figure_in_a_class_folder_is_named_with_the_size_the_others_have(tmp_path):
    root = cifar_files.image_folders(tmp_path / "mine", ("a", "b"), *cifar_files.balanced(2, 3, 1, shape=(8, 8, 3)),
                                     *cifar_files.balanced(2, 1, 2, shape=(8, 8, 3)))
    Image.new("RGB", (640, 480)).save(root / "train" / "a" / "0-accuracy.png")  # sorts first
    with pytest.raises(ConfigError, match=r"0-accuracy\.png is 640x480 pixels; every image of the dataset must be "
                                          r"8x8 \(the size of 6 of its 7 images\)"):
        loader._load_arrays(DataConfig(dataset="folder", data_dir=str(root)))
