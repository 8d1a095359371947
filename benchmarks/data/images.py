"""One image file to 8-bit RGB pixels, as the folder datasets read them.

Pillow decodes, but only the format the file's extension names (a GIF, TIFF, WEBP or EPS renamed
`.png` is refused, and Pillow's other plugins, Ghostscript's EPS loader among them, are never
tried), and only images of a sane size (the header is read before any pixel: a decompression bomb
is refused in one line). Every mode a PNG or JPEG decodes to becomes the right 8-bit RGB:
16-bit greyscale is scaled, not clipped (Pillow's own `convert("RGB")` clips it at 255); alpha is
dropped, as `image_dataset_from_directory` and torchvision's `ImageFolder` drop it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_PIXELS = 4096 * 4096  # far past any image a CIFAR-like dataset holds; a bomb is refused before decoding
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # greyscale of more than 8 bits (PNG: 16 at most)
_EIGHT_BIT = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")


class ImageError(ValueError):
    """What is wrong with one image file, in words (the caller names the file)."""


def decode(blob: bytes, suffix: str) -> np.ndarray:
    """The image in `blob` as uint8 (height, width, 3), read as the format `suffix` names."""
    from PIL import Image, UnidentifiedImageError

    expected = FORMATS[suffix.lower()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(blob), formats=[expected])
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"is {width}x{height} pixels, more than an image of a dataset may have")
            return _rgb(image)
    except UnidentifiedImageError:
        raise ImageError(f"is not a readable {expected} image (its content is another format, or damaged)")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("is a decompression bomb (more pixels than Pillow allows)")
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # truncated, bad chunk CRC, ...
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"is not a readable {expected} image ({type(error).__name__})")


def _rgb(image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT:  # 0..65535: scaled to 0..255, never clipped
        grey = np.asarray(image).astype(np.uint32)
        grey = ((grey * 255 + 32767) // 65535).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode not in _EIGHT_BIT:
        raise ImageError(f"has pixel mode {image.mode!r}, which archbench does not read")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in FORMATS and not path.name.startswith(".")
