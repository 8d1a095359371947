"""Every registered architecture builds, steps and matches the papers' parameter counts."""

import math

import keras
import numpy as np
import pytest

import architectures
from architectures import complexity
from architectures.layers import ChannelZeroPad

# Exact trainable parameters we build (10-class head), and the figure each paper prints.
PAPER_COUNTS = {
    "resnet20": (269_722, "0.27M"), "resnet32": (464_154, "0.46M"), "resnet44": (658_586, "0.66M"),
    "resnet56": (853_018, "0.85M"), "resnet110": (1_727_962, "1.7M"),
    "wrn-16-4": (2_748_890, "2.7M"), "wrn-16-8": (10_961_370, "11.0M"),
    "wrn-28-10": (36_479_194, "36.5M"), "wrn-40-4": (8_949_210, "8.9M"),
}
VGG16_100 = 15_295_524  # "about 15.3M with 100 classes"


def rounds_to(count: int, text: str) -> bool:
    decimals = len(text.rstrip("M").partition(".")[2])
    return f"{count / 1e6:.{decimals}f}M" == text


@pytest.mark.parametrize("name", architectures.names())
@pytest.mark.parametrize("num_classes", [10, 100])
def test_builds_with_output_shape(name, num_classes):
    model = architectures.build(name, num_classes=num_classes)
    out = model(np.zeros((2, 32, 32, 3), np.float32), training=False)
    assert tuple(out.shape) == (2, num_classes)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)  # probabilities


@pytest.mark.parametrize("name", architectures.names())
def test_one_training_step_is_finite(name):
    keras.utils.set_random_seed(0)
    model = architectures.build(name, num_classes=100, weight_decay=5e-4)
    # Eagerly: the same ops without tracing a graph for one step (ResNet-110's trace took 30 s of
    # CI's 2 cores; the step itself takes under one).
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, np.array([0, 1, 2, 3]))
    assert math.isfinite(float(loss))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_parameter_counts_match_the_papers(name):
    exact, printed = PAPER_COUNTS[name]
    spec = architectures.spec(name)
    assert spec.paper_params_text == printed and spec.paper_classes == 10
    count = complexity.trainable_params(architectures.build(name, num_classes=10))
    assert count == exact
    assert rounds_to(count, printed)


def test_vgg16_bn_parameter_count():
    count = complexity.trainable_params(architectures.build("vgg16", num_classes=100))
    assert count == VGG16_100 and rounds_to(count, architectures.spec("vgg16").paper_params_text)


def test_option_b_shortcut_adds_projections():
    a = complexity.trainable_params(architectures.build("resnet20", num_classes=10))
    b = complexity.trainable_params(architectures.build("resnet20", num_classes=10, shortcut="B"))
    # two 1x1 projections (16->32, 32->64) with their batch norms
    assert b - a == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


def test_channel_zero_pad_is_subsample_and_pad():
    x = np.arange(2 * 4 * 4 * 2, dtype=np.float32).reshape(2, 4, 4, 2)
    y = np.asarray(ChannelZeroPad(4, 2)(x))
    assert y.shape == (2, 2, 2, 4)
    np.testing.assert_array_equal(y[..., 1:3], x[:, ::2, ::2, :])
    assert not y[..., 0].any() and not y[..., 3].any()


def post_listing(num_classes=100):
    """The blog post's Keras 2 listing, expanded to (layer type, key setting) pairs."""
    seq = []
    for item in (128, 20, 20, "pool", 64, 20, 20, "pool", 32, 20, 20, "pool"):
        if item == "pool":
            seq += [("MaxPooling2D", (2, 2)), ("Dropout", 0.25)]
        else:
            seq += [("Conv2D", (item, (3, 3), (1, 1), "valid")), ("BatchNormalization", None),
                    ("Activation", "relu"), ("ZeroPadding2D", ((1, 1), (1, 1)))]
    seq += [("Flatten", None), ("BatchNormalization", None), ("Dense", 90), ("BatchNormalization", None),
            ("Activation", "relu"), ("Dense", num_classes), ("BatchNormalization", None),
            ("Activation", "softmax")]
    return seq


def describe(layer):
    kind = type(layer).__name__
    c = layer.get_config()
    key = {"Conv2D": lambda: (c["filters"], tuple(c["kernel_size"]), tuple(c["strides"]), c["padding"]),
           "MaxPooling2D": lambda: tuple(c["pool_size"]), "Dropout": lambda: c["rate"],
           "Activation": lambda: c["activation"], "Dense": lambda: c["units"],
           "ZeroPadding2D": lambda: tuple(map(tuple, c["padding"]))}.get(kind, lambda: None)()
    return kind, key


@pytest.mark.parametrize("num_classes", [100, 10])
def test_original_is_the_posts_model_layer_for_layer(num_classes):
    model = architectures.build("original", num_classes=num_classes)
    layers = [describe(layer) for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert layers == post_listing(num_classes)
    assert model.output_shape == (None, num_classes)
    assert model.get_layer("block1_pool").output.shape[1:] == (16, 16, 20)


def test_original_spec_records_the_posts_recipe_and_result():
    published = architectures.spec("original").published_dict
    assert published["optimizer"] == "Adam" and published["batch_size"] == 150
    assert published["val_top1"] == 0.52 and published["train_top1"] == 0.60


def test_layers_are_named_by_stage_and_block():
    names = {layer.name for layer in architectures.build("resnet20").layers}
    assert {"stage2_block1_conv1", "stage3_block3_bn2", "predictions"} <= names


def test_macs_match_a_hand_count():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8*4 outputs x 3*3*3 MACs
    x = keras.layers.Conv2D(6, 1, strides=2)(x)  # 4*4*6 outputs x 4 MACs
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10)(x)  # 96 x 10
    model = keras.Model(inputs, outputs)
    assert complexity.macs(model) == 8 * 8 * 4 * 27 + 4 * 4 * 6 * 4 + 96 * 10


def test_resnet20_macs_are_the_known_41m():
    assert complexity.macs(architectures.build("resnet20", num_classes=10)) == pytest.approx(40.55e6, rel=0.01)


@pytest.mark.parametrize("name,depth", [("resnet38", 38), ("wrn-22-2", 22)])
def test_families_accept_any_valid_depth(name, depth):
    model = architectures.build(name, num_classes=10)
    assert architectures.spec(name).name == name and str(depth) in model.name


@pytest.mark.parametrize("name,fragment", [
    ("resnet21", "6n+2"), ("wrn-17-4", "6n+4"), ("resnt20", "Did you mean 'resnet20'"),
    ("alexnet", "Registered: original"),
])
def test_bad_names_fail_clearly(name, fragment):
    with pytest.raises(architectures.UnknownArchitectureError) as error:
        architectures.build(name)
    assert fragment in str(error.value)


@pytest.mark.parametrize("options,fragment", [
    ({"num_classes": 1}, "num_classes"), ({"input_shape": (32, 32)}, "input_shape"),
    ({"weight_decay": -1.0}, "weight_decay"),
])
def test_bad_builder_arguments_fail_clearly(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        architectures.build("resnet20", **options)


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        architectures.register("resnet20", family="resnet", description="", reference="")(lambda **kw: None)


def test_weight_decay_becomes_l2_of_half():
    model = architectures.build("resnet20", weight_decay=5e-4)
    conv = model.get_layer("stem_conv")
    assert conv.kernel_regularizer.l2 == pytest.approx(2.5e-4)


def test_architectures_never_import_the_harness():
    import pathlib

    for path in pathlib.Path(architectures.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import benchmarks" not in text and "from benchmarks" not in text, path.name
        assert "import tensorflow" not in text and " tf." not in text, path.name
