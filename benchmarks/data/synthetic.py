"""`synthetic`: an embedded, deterministic dataset shaped and behaving like CIFAR-100, so every
command runs end to end on a fresh machine with no internet, and a smoke report reads like a real
comparison (a ranking, a gap, curves still rising) instead of every model at 100%.

What an image is. Each class owns a *shape* (a blob with a class-specific radial profile and a
second, elliptical part, like a body and a head), a *texture* (one to three gratings through a
sigmoid: stripes, checks, dots, plaids) and loosely preferred colours for itself and its scene.
An image is one object of its class at a random position, scale, rotation, aspect, shear and
mirror, one of its class's shape variants, its texture at a random phase, in colours partly its
class's and partly random, over a smooth background that carries a random class's texture at low
contrast, sometimes behind a flat occluder, with sensor noise. Class identity is thus in shape and
texture under nuisance, not in a fixed prototype image: a nearest-class-mean classifier on raw
pixels stays far from 100% (colour gives it a CIFAR-like head start), a texture detector is fooled
by the background, and a model must learn features that survive position, scale and colour.
Position, mirror and occlusion vary within the distribution, so crop, flip and cutout add samples
of the very distribution the test set comes from: with enough steps, augmentation helps.

`difficulty` (0 to 2, default 1) moves every nuisance together along the NUISANCES table.

Speed. The classes are drawn once as small uint8 templates (`Bank`). An image is then a random
affine warp of its class's templates (one integer gather per pixel for the shape, one for the
texture) and a 7x3 colour matrix of its own applied to seven planes (background, smooth field,
clutter, object, texture, occluder, noise) in one batched matmul, in chunks of images on all
cores (numpy releases the GIL). No Python loop touches a pixel, and CIFAR's 60,000 images take
about a second of one core (tests/perf/test_synthetic_speed.py). Each chunk draws from its own
generator seeded by (seed, split, chunk): the bytes do not depend on the number of threads.

Results on it say nothing about CIFAR and are labelled synthetic everywhere.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks.data import synthetic_parts as parts
from benchmarks.data.synthetic_parts import NOISE_BANK, SIZE, TEMPLATE, VARIANTS, Bank

# Every nuisance at difficulty 0, 1 and 2 (piecewise linear between): the one place to tune.
DIFFICULTY_RANGE = (0.0, 2.0)  # 0: easy (near-prototypes); 1: the default, tuned on smoke; 2: hard
CHUNK = 256  # images composited at once: few numpy calls per image, working set in the L3 cache

NUISANCES = {
    "shift": (1.0, 4.0, 8.0),  # pixels: the object's centre is uniform within +-shift of the middle
    "zoom": (0.05, 0.2, 0.35),  # the object's scale is SCALE * exp(+-zoom), uniform in the log
    "rotate": (0.0, 20.0, 45.0),  # degrees, uniform within +-rotate
    "skew": (0.0, 0.08, 0.15),  # spread (normal) of log aspect and of shear
    "wobble": (0.03, 0.07, 0.12),  # spread of each shape variant's deformation (bank)
    "object_tie": (0.9, 0.6, 0.25),  # share of the object's colours that is the class's
    "scene_tie": (0.6, 0.35, 0.1),  # share of the background colour that is the class's
    "clutter": (0.0, 40.0, 90.0),  # grey levels: most contrast of a random class's texture behind
    "occlude": (0.0, 0.3, 0.6),  # share of the images with a flat occluder
    "noise": (4.0, 10.0, 20.0),  # grey levels: uniform luminance noise within +-noise
}
SCALE = 11.0  # image pixels per object unit at zoom 0 (an object is about 20 pixels across)
_F32 = np.float32


def make(classes: int, n_train: int, n_test: int, seed: int = 0, *, difficulty: float = 1.0):
    """(x_train, y_train, x_test, y_test): uint8 NHWC 32x32x3 images and int64 labels, balanced
    classes, train and test drawn from one distribution fixed by `seed`.

    Args:
      difficulty: in DIFFICULTY_RANGE, [0, 2]; moves every nuisance of NUISANCES together
        (linearly between the tabled points). 0: objects nearly centred and upright in mostly
        their class's colours, no clutter or occlusion (a nearest-class-mean classifier on raw
        pixels gets about 90% of 10 classes, 40% at the default). 1, the default: tuned on the
        smoke preset's data (20 classes, 1,500 training images): ResNet-20 reaches about 40% in
        4 epochs, 65% in 15 (the 9-conv `original` 45%) and about 78% in 30 with augmentation
        against 69% without. 2: colour nearly uninformative, twice the clutter, occlusion and
        noise (nearest class mean near chance).
    """
    if classes < 2:
        raise ValueError(f"classes must be >= 2, got {classes}")
    lo, hi = DIFFICULTY_RANGE
    if not lo <= float(difficulty) <= hi:
        raise ValueError(f"difficulty must be in [{lo}, {hi}], got {difficulty!r}")
    bank = Bank.draw(np.random.default_rng([seed, 17, 0]), classes, _nuisances(float(difficulty)))
    x_train, y_train = _split(bank, n_train, seed, split=1)
    x_test, y_test = _split(bank, n_test, seed, split=2)
    return x_train, y_train, x_test, y_test


def _nuisances(difficulty: float) -> dict[str, float]:
    """NUISANCES at `difficulty`, interpolated linearly between the tabled points."""
    return {name: float(np.interp(difficulty, (0.0, 1.0, 2.0), values)) for name, values in NUISANCES.items()}


def _split(bank: "Bank", n: int, seed: int, split: int) -> tuple[np.ndarray, np.ndarray]:
    """n images with balanced labels, rendered in chunks on all cores."""
    y = np.arange(n) % bank.classes
    np.random.default_rng([seed, 17, split]).shuffle(y)
    x = np.empty((n, SIZE, SIZE, 3), np.uint8)

    def render(start: int) -> None:
        rng = np.random.default_rng([seed, 17, split, 1 + start // CHUNK])
        _render(bank, y[start:start + CHUNK], rng, out=x[start:start + CHUNK])

    starts = range(0, n, CHUNK)
    workers = min(os.cpu_count() or 1, len(starts))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(render, starts))
    else:
        for start in starts:
            render(start)
    return x, y.astype(np.int64)


def _object_planes(bank: "Bank", labels, rng, coords) -> tuple[np.ndarray, np.ndarray]:
    """(mask, texture), uint8 (n, SIZE*SIZE): one of the class's shape variants, and the class's
    texture at a random phase, under the same warp (the texture moves with the object)."""
    n = len(labels)
    np.clip(coords, 0, TEMPLATE - 1, out=coords)  # the template's border is empty: clipping is safe
    whole = coords.astype(np.int32)
    row, col = whole[:, 0], whole[:, 1]
    variant = rng.integers(0, VARIANTS, size=n)
    index = row * TEMPLATE
    index += col
    index += ((labels * VARIANTS + variant) * TEMPLATE * TEMPLATE)[:, None].astype(np.int32)
    mask = bank.shapes.take(index)
    phase = rng.integers(0, TEMPLATE, size=(n, 2))
    row *= 2 * TEMPLATE
    row += col
    row += (labels * 4 * TEMPLATE * TEMPLATE + phase[:, 0] * 2 * TEMPLATE + phase[:, 1])[:, None].astype(np.int32)
    return mask, bank.textures.take(row)


def _occluders(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """(n, SIZE*SIZE) bool: a flat rectangle (what cutout imitates) in `share` of the images."""
    present = rng.uniform(size=n) < share
    top, left = rng.integers(-4, SIZE, size=(2, n))
    height, width = rng.integers(4, 11, size=(2, n)) * present
    pos = np.arange(SIZE)
    rows = (pos >= top[:, None]) & (pos < (top + height)[:, None])
    cols = (pos >= left[:, None]) & (pos < (left + width)[:, None])
    return (rows[:, :, None] & cols[:, None, :]).reshape(n, SIZE * SIZE)


def _render(bank: "Bank", labels: np.ndarray, rng: np.random.Generator, out: np.ndarray) -> None:
    """Draw images of `labels` into `out`, (n, 32, 32, 3) uint8.

    Each image is seven planes per pixel (all 0..255, or products of two such) times a 7x3
    colour matrix of its own, so every colour of a chunk comes out of one batched matmul:
    background alpha, background alpha times a smooth field, background alpha times clutter,
    the object's mask, mask times texture, the occluder, noise."""
    n, nu = len(labels), bank.nuisance
    pixels = SIZE * SIZE

    centre = SIZE / 2 - 0.5 + rng.uniform(-1, 1, size=(n, 2)) * nu["shift"]
    scale = SCALE * np.exp(rng.uniform(-1, 1, size=n) * nu["zoom"])  # image pixels per object unit
    rotation = np.radians(rng.uniform(-1, 1, size=n) * nu["rotate"])
    aspect, shear = np.exp(rng.normal(0, nu["skew"], size=n)), rng.normal(0, nu["skew"], size=n)
    coords = parts.coords(parts.affine(rng, centre, scale, rotation, aspect, shear))
    mask, texture = _object_planes(bank, labels, rng, coords)
    occluded = _occluders(rng, n, nu["occlude"])
    np.copyto(mask, 0, where=occluded)

    planes = np.empty((n, 7, pixels), _F32)
    back, obj = planes[:, 0], planes[:, 3]
    np.subtract(255, mask, out=back, dtype=_F32)
    np.copyto(back, 0, where=occluded)
    np.copyto(obj, mask)
    np.multiply(back, bank.smooth[rng.integers(0, len(bank.smooth), size=n)], out=planes[:, 1])
    np.multiply(back, bank.clutter[rng.integers(0, len(bank.clutter), size=n)], out=planes[:, 2])
    np.multiply(obj, texture, out=planes[:, 4])
    np.multiply(occluded, _F32(255), out=planes[:, 5])
    start = rng.integers(0, NOISE_BANK - pixels, size=n)
    np.copyto(planes[:, 6], np.lib.stride_tricks.sliding_window_view(bank.noise, pixels)[start])

    # Colours. The object's pair mixes the class's with random ones, the background's base
    # colour too (a scene); a smooth colour field and another class's texture vary it.
    own = bank.colours[labels]
    pair = nu["object_tie"] * own[:, :2] + (1 - nu["object_tie"]) * rng.uniform(0, 255, size=(n, 2, 3))
    contrast = rng.uniform(0.35, 1.0, size=(n, 1))
    low = pair[:, 0] + (1 - contrast) / 2 * (pair[:, 1] - pair[:, 0])
    span = contrast * (pair[:, 1] - pair[:, 0])
    base = nu["scene_tie"] * own[:, 2] + (1 - nu["scene_tie"]) * rng.uniform(0, 255, size=(n, 3))
    smooth_amp = rng.uniform(0, 70, size=(n, 3))
    clutter_amp = rng.uniform(0, 1, size=(n, 3)) * nu["clutter"]
    noise_amp = nu["noise"]
    weights = np.empty((n, 7, 3))  # in grey levels per unit of each plane (divided by 255 below)
    weights[:, 0] = base - smooth_amp - clutter_amp / 2  # the smooth field and clutter are centred
    weights[:, 1] = smooth_amp / 127.5
    weights[:, 2] = clutter_amp / 255
    weights[:, 3] = low
    weights[:, 4] = span / 255
    weights[:, 5] = rng.uniform(0, 255, size=(n, 3))  # the occluder's shade
    weights[:, 6] = noise_amp / 127.5 * 255
    weights[:, [0, 3, 5]] -= noise_amp  # background + mask + occluder = 255 everywhere: centres the noise
    weights /= 255
    image = planes.transpose(0, 2, 1) @ weights.astype(_F32)  # (n, pixels, 3): already channels-last
    np.clip(image, 0, 255, out=image)
    np.copyto(out.reshape(n, pixels, 3), image, casting="unsafe")
