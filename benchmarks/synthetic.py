"""`synthetic`: an embedded, deterministic dataset with CIFAR's shapes, so every command runs end
to end on a fresh machine with no internet. Each class is a random smooth colour prototype; each
image is its prototype shifted by a few pixels, colour-jittered and noised, which a CNN can learn
(and overfit) within seconds. Results on it say nothing about CIFAR and are labelled so."""

from __future__ import annotations

import numpy as np


def _prototypes(rng: np.random.Generator, classes: int) -> np.ndarray:
    """Smooth 32x32x3 patterns: a coarse 4x4 random grid upsampled, plus a class-specific stripe."""
    coarse = rng.uniform(0, 255, size=(classes, 4, 4, 3))
    protos = coarse.repeat(8, axis=1).repeat(8, axis=2)
    yy, xx = np.mgrid[0:32, 0:32]
    angle = rng.uniform(0, np.pi, size=classes)
    freq = rng.uniform(0.2, 0.8, size=classes)
    stripes = np.sin(freq[:, None, None] * (np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy))
    return protos + 60 * stripes[..., None]


def make(classes: int, n_train: int, n_test: int, seed: int = 0):
    """(x_train, y_train, x_test, y_test): uint8 HWC images and int64 labels, balanced classes."""
    rng = np.random.default_rng([seed, 17])
    protos = _prototypes(rng, classes)

    def sample(n: int):
        y = np.arange(n) % classes
        rng.shuffle(y)
        shifts = rng.integers(-3, 4, size=(n, 2))
        x = np.stack([np.roll(protos[c], tuple(s), axis=(0, 1)) for c, s in zip(y, shifts)])
        x = x * rng.uniform(0.8, 1.2, size=(n, 1, 1, 3)) + rng.normal(0, 25, size=x.shape)
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    return x_train, y_train, x_test, y_test
