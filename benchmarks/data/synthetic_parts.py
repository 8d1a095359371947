"""The synthetic dataset's parts drawn once per (seed, classes, difficulty): each class's shape
variants and texture as small uint8 templates, the background fields and the noise bank
(`Bank`), and the affine warps that place a template in an image (`affine`, `coords`,
`texture_at`). `synthetic` composes images from them; the module docstring there says what an
image is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 32  # image side, pixels
TEMPLATE = 64  # template side, template pixels (a power of two: texture phases wrap)
UNIT = 16  # template pixels per object unit (an object's nominal radius is about one unit)
VARIANTS = 8  # shape variants per class: deformation of the instance beyond the affine warp
NOISE_BANK = 1 << 16  # bytes of sensor noise, read at a random offset per image
TILES = 2048  # background fields of each kind (smooth, clutter) to draw from
_F32 = np.float32
_GRID = np.arange(SIZE, dtype=_F32)


@dataclass(frozen=True)
class Bank:
    """Everything drawn once per (seed, classes, difficulty), flattened for gathers."""

    shapes: np.ndarray  # (classes * VARIANTS * T * T,) uint8 soft masks, 0 on the border
    textures: np.ndarray  # (classes * 2T * 2T,) uint8: each class's periodic texture tiled 2x2
    clutter: np.ndarray  # (tiles, SIZE * SIZE) uint8: class textures under random poses
    smooth: np.ndarray  # (TILES, SIZE * SIZE) uint8: smooth random fields (bilinear from 4x4)
    noise: np.ndarray  # (NOISE_BANK,) uint8, uniform
    colours: np.ndarray  # (classes, 3, 3) in [0, 255]: each class's object pair and scene colour
    classes: int
    nuisance: dict[str, float]  # NUISANCES at this difficulty

    @classmethod
    def draw(cls, rng: np.random.Generator, classes: int, nuisance: dict[str, float]) -> "Bank":
        shapes = quantise(_shapes(rng, classes, nuisance["wobble"])).reshape(-1)
        textures = quantise(np.tile(_textures(rng, classes), (1, 2, 2))).reshape(-1)
        colours = rng.uniform(0, 255, size=(classes, 3, 3))
        noise = np.frombuffer(rng.bytes(NOISE_BANK), np.uint8)
        up = bilinear(4)
        smooth = quantise((up @ rng.uniform(0, 1, size=(TILES, 4, 4)) @ up.T).reshape(TILES, -1))
        # Clutter: as many tiles as TILES, every class's texture equally often, random poses.
        owners = np.arange(TILES) % classes
        poses = affine(rng, rng.uniform(0, SIZE, size=(TILES, 2)), rng.uniform(6, 14, size=TILES),
                        rng.uniform(-np.pi, np.pi, size=TILES), np.ones(TILES), np.zeros(TILES))
        clutter = texture_at(textures, owners, rng, coords(poses))
        return cls(shapes, textures, clutter, smooth, noise, colours, classes, nuisance)


def bilinear(coarse: int) -> np.ndarray:
    """(SIZE, coarse) weights that spread a coarse grid bilinearly over the image's pixels."""
    pos = np.clip((np.arange(SIZE) + 0.5) * coarse / SIZE - 0.5, 0, coarse - 1)
    low = np.minimum(np.floor(pos).astype(int), coarse - 2)
    weights = np.zeros((SIZE, coarse))
    weights[np.arange(SIZE), low] = 1 - (pos - low)
    weights[np.arange(SIZE), low + 1] = pos - low
    return weights


def quantise(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


def _template_grid() -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in object units at the template's pixel centres, the object's centre in the middle."""
    t = (np.arange(TEMPLATE, dtype=_F32) + 0.5 - TEMPLATE / 2) / UNIT
    return t[None, :], t[:, None]


def _shapes(rng: np.random.Generator, classes: int, wobble: float) -> np.ndarray:
    """(classes, VARIANTS, T, T) soft masks in [0, 1]: a blob whose radius at angle phi is
    r (1 + sum_k a_k cos k phi + b_k sin k phi), k = 2..5 (elongation, triangles, squares, stars),
    joined by an ellipse at a class-specific place; variants deform both a little."""
    x, y = _template_grid()
    rho = np.sqrt(x * x + y * y) + 1e-6
    cos1, sin1 = x / rho, y / rho
    basis, cos_k, sin_k = [], cos1, sin1
    for _ in range(4):  # cos/sin of k phi by the angle-addition recurrence, k = 2..5
        cos_k, sin_k = cos_k * cos1 - sin_k * sin1, sin_k * cos1 + cos_k * sin1
        basis += [cos_k, sin_k]
    basis = np.stack(basis).reshape(len(basis), -1)  # (8, T*T)
    spread = np.repeat(0.28 / np.sqrt(np.arange(2, 6, dtype=_F32)), 2)  # smaller for higher harmonics
    coef = rng.normal(size=(classes, 1, 8)) * spread + wobble * rng.normal(size=(classes, VARIANTS, 8))
    radius = rng.uniform(0.75, 1.0, size=(classes, 1)) * np.exp(wobble * rng.normal(size=(classes, VARIANTS)))
    profile = 1 + (coef.reshape(-1, 8).astype(_F32) @ basis).reshape(classes, VARIANTS, TEMPLATE, TEMPLATE)
    edge = radius[..., None, None].astype(_F32) * np.clip(profile, 0.35, 1.6)
    body = np.clip((edge - rho) * UNIT + 0.5, 0, 1)

    def per_variant(low, high):  # a class value, jittered per variant
        return (rng.uniform(low, high, size=(classes, 1)) * np.exp(wobble * rng.normal(size=(classes, VARIANTS))))

    angle = rng.uniform(0, 2 * np.pi, size=(classes, 1)) + wobble * rng.normal(size=(classes, VARIANTS))
    distance, long, short = per_variant(0.7, 1.05), per_variant(0.3, 0.55), per_variant(0.15, 0.35)
    tilt = rng.uniform(0, np.pi, size=(classes, 1)) + wobble * rng.normal(size=(classes, VARIANTS))
    grid = lambda v: v[..., None, None].astype(_F32)  # noqa: E731
    dx, dy = x - grid(distance * np.cos(angle)), y - grid(distance * np.sin(angle))
    u = (dx * grid(np.cos(tilt)) + dy * grid(np.sin(tilt))) / grid(long)
    v = (dy * grid(np.cos(tilt)) - dx * grid(np.sin(tilt))) / grid(short)
    part = np.clip((1 - np.sqrt(u * u + v * v)) * grid(short) * UNIT + 0.5, 0, 1)
    shapes = np.maximum(body, part)
    shapes[..., [0, -1], :] = 0  # off-template pixels are clipped onto the border: keep it empty
    shapes[..., :, [0, -1]] = 0
    return shapes


def _textures(rng: np.random.Generator, classes: int) -> np.ndarray:
    """(classes, T, T) textures in [0, 1], periodic over the template: one to three gratings with
    whole numbers of cycles per tile, summed and squashed (gain: soft to hard edges; bias: dots or
    holes). Wavelengths of 0.3 to 0.8 object units: 3 to 7 image pixels at the nominal scale."""
    t = np.arange(TEMPLATE, dtype=_F32) * _F32(2 * np.pi / TEMPLATE)
    x, y = t[None, None, :], t[None, :, None]
    total = np.zeros((classes, TEMPLATE, TEMPLATE), _F32)
    gratings = rng.integers(1, 4, size=classes)
    column = lambda v: np.asarray(v, _F32)[:, None, None]  # noqa: E731
    for g in range(3):
        cycles = rng.uniform(TEMPLATE / UNIT / 0.8, TEMPLATE / UNIT / 0.3, size=classes)
        theta = rng.uniform(0, np.pi, size=classes)
        kx, ky = np.rint(cycles * np.cos(theta)), np.rint(cycles * np.sin(theta))
        phase = rng.uniform(0, 2 * np.pi, size=classes)
        weight = (g < gratings) * rng.uniform(0.6, 1.0, size=classes)
        total += column(weight) * np.cos(column(kx) * x + column(ky) * y + column(phase))
    gain, bias = rng.uniform(1.5, 6.0, size=classes), rng.uniform(-0.6, 0.6, size=classes)
    return 1 / (1 + np.exp(-column(gain) * (total / column(np.sqrt(gratings)) + column(bias))))


def affine(rng: np.random.Generator, centre, scale, rotation, aspect, shear) -> np.ndarray:
    """(n, 2, 3) maps from image [x, y, 1] to template [row, column]: about `centre`, a random
    mirror, then rotation, shear and anisotropic scale (`scale` image pixels per object unit)."""
    n = len(scale)
    flip = rng.choice(np.array([-1.0, 1.0]), size=n)
    cos, sin = np.cos(rotation), np.sin(rotation)
    su, sv = UNIT / scale / np.sqrt(aspect), UNIT / scale * np.sqrt(aspect)
    # [u, v] = diag(su, sv) @ [[1, shear], [0, 1]] @ R(rotation) @ diag(flip, 1) @ [dx, dy]
    linear = np.empty((n, 2, 2))
    linear[:, 1, 0], linear[:, 1, 1] = su * flip * (cos + shear * sin), su * (shear * cos - sin)  # column
    linear[:, 0, 0], linear[:, 0, 1] = sv * flip * sin, sv * cos  # row
    shift = TEMPLATE / 2 - (linear @ centre[:, :, None])[..., 0]
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(_F32)


def coords(affine: np.ndarray) -> np.ndarray:
    """(n, 2, SIZE*SIZE) template (row, column) at every image pixel. The map is separable into
    a function of x plus one of y, so a single broadcast add does the work (a BLAS product
    of this shape is slower, and starts threads)."""
    a = affine[..., None, None]
    along_x = a[:, :, 0] * _GRID + a[:, :, 2]  # (n, 2, 1, SIZE)
    along_y = a[:, :, 1] * _GRID[:, None]  # (n, 2, SIZE, 1)
    return (along_x + along_y).reshape(len(affine), 2, SIZE * SIZE)


def texture_at(textures: np.ndarray, labels, rng, coords) -> np.ndarray:
    """Each class's texture at a random phase at every pixel (coordinates wrap: it is periodic)."""
    whole = (coords % TEMPLATE).astype(np.intp) + rng.integers(0, TEMPLATE, size=(len(labels), 2, 1))
    index = whole[:, 0] * (2 * TEMPLATE) + whole[:, 1] + (labels * 4 * TEMPLATE * TEMPLATE)[:, None]
    return textures.take(index)  # whole < 2T: inside the 2x2 tiling
