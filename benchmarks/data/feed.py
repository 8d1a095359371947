"""The input path of every backend and every command: pixels on the accelerator once,
augmentation inside the compiled step.

On the host, each epoch is a plan drawn with numpy from (seed, epoch): the order of the images and
each image's augmentation parameters (crop shift, flip bit, cutout centre), 24 bytes per image.
A batch is therefore a pure function of (seed, epoch, position), and a run resumed mid-epoch
sees exactly the batches an uninterrupted one would.

On the device, `DeviceImages` holds every split's uint8 pixels as one non-trainable variable and,
inside the training step, turns a batch of plans into normalised images: one gather that does the
reflect-padded crop and the flip at once (source coordinates are reflected, nothing is padded),
then normalisation and cutout, all in `keras.ops`, so the same code runs on TensorFlow, JAX and
torch.

Why not tf.data: its per-image map runs on the host (about 12,000 img/s on 2 cores, measured),
which would throttle small models on a GPU and bind the runner to TensorFlow. Why not Keras'
RandomCrop/RandomFlip layers: they draw from a seed-generator state, so a batch is not a pure
function of its position (resume would differ), and they pad with zeros, not by reflection.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

PAD = 4  # pixels of reflection padding before the random crop (He et al., Zagoruyko & Komodakis)
CUTOUT = 8  # side of the cutout square of `--augment strong` (DeVries & Taylor 2017)
NO_CUTOUT = -(10**4)  # a cutout centre that masks nothing
NAME = "device_images"  # the layer's name: its variable is data, never checkpointed
# Evaluation's batch (at least): measured on 2 cores for ResNet-20, 256/512/1024 gave 1,433/1,484/
# 1,531 img/s on TensorFlow and 994/959/874 on JAX; larger batches only cost memory on a GPU.
EVAL_BATCH = 256


# ------------------------------------------------------------------------------- the host plan
def epoch_plan(indices: np.ndarray, seed: int, epoch: int, batch_size: int, augment: str,
               image_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The training plan of `epoch`: full batches only (the remainder is dropped, so every step
    has one shape). `indices` are the training images' rows in the device table."""
    rng = np.random.default_rng([seed, epoch, 7])
    order = rng.permutation(len(indices))[: len(indices) // batch_size * batch_size]
    n = len(order)
    # Every parameter is drawn whatever the augmentation, so all levels share one random stream.
    shift = rng.integers(-PAD, PAD + 1, size=(n, 2), dtype=np.int32)
    flip = rng.integers(0, 2, size=n, dtype=np.int32)
    centre = np.stack([rng.integers(0, size, n, dtype=np.int32) for size in image_size], axis=1)
    if augment == "none":
        shift, flip = np.zeros_like(shift), np.zeros_like(flip)
    if augment != "strong":
        centre = np.full_like(centre, NO_CUTOUT)
    return {"index": indices[order].astype(np.int32), "shift": shift, "flip": flip, "cutout": centre,
            "order": order}


def plain(indices: np.ndarray) -> dict[str, np.ndarray]:
    """Inputs that show `indices` as they are (evaluation): no shift, no flip, no cutout."""
    n = len(indices)
    return {"index": np.asarray(indices, np.int32), "shift": np.zeros((n, 2), np.int32),
            "flip": np.zeros(n, np.int32), "cutout": np.full((n, 2), NO_CUTOUT, np.int32)}


def model_inputs(plan: dict[str, np.ndarray], start: int = 0) -> dict[str, np.ndarray]:
    """The plan's arrays the model takes, from position `start` on."""
    return {k: plan[k][start:] for k in ("index", "shift", "flip", "cutout")}


def fit_arguments(inputs: dict[str, np.ndarray], labels: np.ndarray, batch_size: int, sample_weight=None) -> dict:
    """Keyword arguments for `fit`/`evaluate` that hand the plans over as they are. On TensorFlow
    a plain `from_tensor_slices(...).batch()`: Keras' own array adapter adds a parallel map per
    epoch (and, with TF 2.21, an error line about `use_unbounded_threadpool` each time); the
    other backends slice the numpy arrays directly."""
    if keras.backend.backend() != "tensorflow":
        return {"x": inputs, "y": labels, "batch_size": batch_size, "sample_weight": sample_weight}
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False  # measured: its thread made each epoch's teardown wait ~1.3 s
    options.deterministic = True
    parts = (inputs, labels) if sample_weight is None else (inputs, labels, sample_weight)
    data = tf.data.Dataset.from_tensor_slices(parts).batch(batch_size).prefetch(2)
    return {"x": data.with_options(options)}


# ----------------------------------------------------------------------------- the device part
class DeviceImages(keras.layers.Layer):
    """uint8 pixels held on the device; maps a batch of plans to normalised float32 images.

    Host mode (`pixels` None): for data too large for the device, each batch brings its own
    uint8 images (gathered on the host by `to_host`), and the same crop, flip and cutout apply."""

    def __init__(self, pixels: np.ndarray | None, mean, std, image_shape=None, **kwargs):
        super().__init__(name=NAME, dtype="float32", autocast=False, **kwargs)
        self.image_shape = tuple(pixels.shape[1:]) if pixels is not None else tuple(image_shape)
        h, w, c = self.image_shape
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.pixels = None
        if pixels is not None:  # one row of H*W*C bytes per image
            self.pixels = self.add_weight(shape=(len(pixels), h * w * c), dtype="uint8", trainable=False,
                                          initializer="zeros", name="pixels")
            self.pixels.assign(np.ascontiguousarray(pixels).reshape(len(pixels), -1))

    def call(self, inputs):
        h, w, c = self.image_shape
        shift, flip, centre = (inputs[k] for k in ("shift", "flip", "cutout"))
        if self.pixels is None:
            images = inputs["images"]
        else:  # Two gathers, so the step's cost does not depend on the table's size: whole images
            # first (B contiguous rows of the table), then the crop and flip inside the batch. One
            # gather of H*W pixels per image straight from the table read 3-byte pieces all over it.
            images = ops.take(self.pixels, ops.reshape(ops.cast(inputs["index"], "int32"), (-1,)), axis=0)
        table = ops.reshape(images, (-1, c))
        index = ops.arange(ops.shape(shift)[0], dtype="int32")
        rows = ops.arange(h, dtype="int32")[None, :] + shift[:, 0:1]
        cols = ops.arange(w, dtype="int32")[None, :]
        cols = ops.where(ops.reshape(flip, (-1, 1)) > 0, w - 1 - cols, cols) + shift[:, 1:2]
        source = (index[:, None, None] * (h * w) + _reflect(rows, h)[:, :, None] * w
                  + _reflect(cols, w)[:, None, :])
        x = ops.take(table, ops.reshape(source, (-1,)), axis=0)
        x = ops.reshape(ops.cast(x, "float32"), (-1, h, w, c)) / 255.0
        x = (x - ops.convert_to_tensor(self.mean)) / ops.convert_to_tensor(self.std)
        # Cutout zeroes a square after normalising: 0 is the dataset mean.
        r = ops.arange(h, dtype="int32")[None, :, None] - centre[:, 0][:, None, None]
        q = ops.arange(w, dtype="int32")[None, None, :] - centre[:, 1][:, None, None]
        inside = ops.logical_and(ops.abs(r) * 2 < CUTOUT, ops.abs(q) * 2 < CUTOUT)
        return x * ops.cast(ops.logical_not(inside), "float32")[..., None]

    def compute_output_spec(self, inputs):
        batch = inputs["shift"].shape[0]
        return keras.KerasTensor((batch, *self.image_shape), dtype="float32")


def _reflect(v, size: int):
    """Reflection without repeating the edge (numpy's and TF's 'reflect'): -1 -> 1, size -> size-2."""
    v = ops.abs(v)
    return ops.where(v > size - 1, 2 * (size - 1) - v, v)


def inputs_spec(image_shape=None) -> dict[str, keras.KerasTensor]:
    """The model's inputs: a plan per image, and in host mode the image itself."""
    first = {"index": keras.Input((), dtype="int32", name="index")} if image_shape is None else \
        {"images": keras.Input(tuple(image_shape), dtype="uint8", name="images")}
    return {**first,
            "shift": keras.Input((2,), dtype="int32", name="shift"),
            "flip": keras.Input((), dtype="int32", name="flip"),
            "cutout": keras.Input((2,), dtype="int32", name="cutout")}


def on_device(net: keras.Model, pixels: np.ndarray, mean, std, host: bool = False) -> keras.Model:
    """`net` behind a `DeviceImages` layer: the model that trains and evaluates on plans. `host`:
    the pixels stay in host memory and each batch carries its images (see `to_host`)."""
    inputs = inputs_spec(pixels.shape[1:] if host else None)
    outputs = net(DeviceImages(None if host else pixels, mean, std, image_shape=pixels.shape[1:])(inputs))
    return keras.Model(inputs, outputs, name=f"{net.name}_on_{'host' if host else 'device'}")


def to_host(inputs: dict[str, np.ndarray], pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Host mode: replace each plan's table row by its uint8 image (about 3 KB per image)."""
    out = {k: v for k, v in inputs.items() if k != "index"}
    return {"images": pixels[inputs["index"]], **out}


def is_data(variable) -> bool:
    """True for the pixels variable: data, not state (never checkpointed, never 'best weights')."""
    return variable.path.split("/")[0] == NAME


# --------------------------------------------------------------------------- the numpy reference
def reference(images: np.ndarray, shift, flip, centre, mean, std) -> np.ndarray:
    """The paper's definition, written plainly: reflect-pad by PAD, crop at PAD+shift, flip,
    normalise, cutout. Tests hold `DeviceImages` to it."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)), mode="reflect")
    out = np.empty(images.shape, np.float32)
    for i in range(n):
        top, left = PAD + shift[i][0], PAD + shift[i][1]
        crop = padded[i, top:top + h, left:left + w]
        crop = crop[:, ::-1] if flip[i] else crop
        x = (crop / 255.0 - np.asarray(mean)) / np.asarray(std)
        cy, cx = centre[i]
        r, q = np.ogrid[:h, :w]
        x[(np.abs(r - cy) * 2 < CUTOUT) & (np.abs(q - cx) * 2 < CUTOUT)] = 0.0
        out[i] = x
    return out


# ---------------------------------------------------------------------------------- the feeder
class Feeder:
    """What `fit` and `evaluate` are given for one run: the splits' plans, cut into this process's
    share of every batch when several processes train the run, with the images attached when the
    data stays in host memory."""

    def __init__(self, splits, batch_size: int, share: tuple[int, int] = (0, 1), host: bool = False):
        self.splits, self.batch_size, self.share, self.host = splits, batch_size, share, host
        if batch_size % share[1]:
            raise ValueError(f"batch size {batch_size} does not split over {share[1]} processes")

    def train(self, epoch: int, skip_batches: int = 0) -> dict:
        """`fit` arguments of `epoch` from batch `skip_batches` on."""
        x, y = self._mine(*self.splits.train(epoch, skip_batches), self.batch_size)
        return fit_arguments(x, y, self.batch_size // self.share[1])

    def evaluation(self, split: str) -> tuple[dict, float]:
        """(`evaluate` arguments, loss correction). Several processes each take their share of
        every batch, so the split is padded to whole batches with weight 0; Keras then averages the
        loss over the padding too, which the correction (padded / real count) undoes exactly."""
        x, y = self.splits.evaluation(split)
        count, processes = len(y), self.share[1]
        batch = -(-max(self.batch_size, EVAL_BATCH) // processes) * processes
        if processes == 1:
            return fit_arguments(*self._mine(x, y, batch), batch), 1.0
        pad = -count % batch
        x = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in x.items()}
        y = np.concatenate([y, np.repeat(y[:1], pad)])
        weights = share_of((np.arange(count + pad) < count).astype(np.float32), batch, *self.share)
        x, y = self._mine(x, y, batch)
        return fit_arguments(x, y, batch // processes, sample_weight=weights), (count + pad) / count

    def _mine(self, x, y, batch: int):
        if self.share[1] > 1:
            x, y = {k: share_of(v, batch, *self.share) for k, v in x.items()}, share_of(y, batch, *self.share)
        return (to_host(x, self.splits.pixels()) if self.host else x), y


def share_of(values: np.ndarray, batch: int, index: int, count: int) -> np.ndarray:
    """Process `index`'s contiguous slice of each `batch`-sized batch of `values`."""
    shaped = values.reshape(len(values) // batch, count, batch // count, *values.shape[1:])
    return shaped[:, index].reshape(-1, *values.shape[1:])
