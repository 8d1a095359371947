"""The embedded synthetic set: shapes, determinism, balance, one distribution for train and test,
no trivial shortcut, learnable but not solved by a small CNN. Generation speed is a benchmark
(tests/perf/test_synthetic_speed.py), not a test here."""

import numpy as np
import pytest

from benchmarks.data import synthetic


@pytest.fixture(scope="module")
def ten_classes():
    """10 classes at the default difficulty: 2,000 train and 1,000 test images."""
    return synthetic.make(10, 2000, 1000, seed=0)


def class_means(x, y, classes):
    """(classes, 3072) mean raw image per class."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.stack([flat[y == c].mean(0) for c in range(classes)])


def nearest_class_mean(x_train, y_train, x_test, y_test, classes) -> float:
    """Accuracy of the nearest class-mean image on raw pixels: the trivial baseline."""
    means = class_means(x_train, y_train, classes)
    flat = x_test.reshape(len(x_test), -1).astype(np.float64)
    distance = (flat**2).sum(1)[:, None] - 2 * flat @ means.T + (means**2).sum(1)[None]
    return float((distance.argmin(1) == y_test).mean())


# ------------------------------------------------------------------------------- the contract
def test_shapes_dtypes_and_labels(ten_classes):
    x_train, y_train, x_test, y_test = ten_classes
    assert x_train.shape == (2000, 32, 32, 3) and x_test.shape == (1000, 32, 32, 3)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))
    assert x_train.std() > 40  # images use the range, not a grey wash


@pytest.mark.parametrize("classes, n", [(2, 101), (20, 2000), (100, 1050)])
def test_classes_are_balanced(classes, n):
    _, y_train, _, y_test = synthetic.make(classes, n, n // 2, seed=3)
    for y, size in ((y_train, n), (y_test, n // 2)):
        counts = np.bincount(y, minlength=classes)
        assert counts.sum() == size and counts.max() - counts.min() <= 1


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b, c = (synthetic.make(10, 300, 100, seed=s) for s in (5, 5, 6))
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[2], c[2])
    assert not np.array_equal(a[0][:100], a[2])  # test is not a copy of train


def test_bytes_do_not_depend_on_the_number_of_threads(monkeypatch):
    many = synthetic.make(10, 700, 300, seed=1)  # several chunks, threads when cores allow
    monkeypatch.setattr(synthetic.os, "cpu_count", lambda: 1)
    one = synthetic.make(10, 700, 300, seed=1)
    for left, right in zip(many, one):
        np.testing.assert_array_equal(left, right)


def test_difficulty_is_a_documented_range():
    lo, hi = synthetic.DIFFICULTY_RANGE
    assert (lo, hi) == (0.0, 2.0)
    for bad in (lo - 0.1, hi + 0.1, float("nan")):
        with pytest.raises(ValueError, match="difficulty"):
            synthetic.make(10, 20, 10, difficulty=bad)
    easy, hard = (synthetic.make(10, 20, 10, difficulty=d)[0] for d in (lo, hi))
    assert not np.array_equal(easy, hard)
    with pytest.raises(ValueError, match="classes"):
        synthetic.make(1, 20, 10)


# ------------------------------------------------------------------ one distribution, no shortcut
def test_train_and_test_come_from_one_distribution(ten_classes):
    """Per-class mean colours of train and test agree within sampling noise (a two-sample z for
    each class and channel), while the classes' colours differ far beyond it; and a classifier
    fitted on train is as right on test as on train images it did not see."""
    x_train, y_train, x_test, y_test = ten_classes

    def colour_stats(x, y):  # per class: mean colour and its standard error
        colours = [x[y == c].mean((1, 2)) for c in range(10)]
        return (np.stack([c.mean(0) for c in colours]),
                np.stack([c.std(0) / np.sqrt(len(c)) for c in colours]))

    (train_mean, train_se), (test_mean, test_se) = colour_stats(x_train, y_train), colour_stats(x_test, y_test)
    z = (train_mean - test_mean) / np.hypot(train_se, test_se)
    assert np.abs(z).max() < 4.5, z  # 30 comparisons: |z| > 4.5 has odds under 1 in 10,000
    between = (train_mean[:, None] - train_mean[None]) / np.hypot(train_se[:, None], train_se[None])
    assert np.median(np.abs(between).max(-1)[~np.eye(10, dtype=bool)]) > 5  # the statistic has power
    assert abs(x_train.mean() - x_test.mean()) < 3 and abs(x_train.std() - x_test.std()) < 3

    fit, held = slice(0, 1000), slice(1000, 2000)
    on_train = nearest_class_mean(x_train[fit], y_train[fit], x_train[held], y_train[held], 10)
    on_test = nearest_class_mean(x_train[fit], y_train[fit], x_test, y_test, 10)
    assert abs(on_train - on_test) < 0.07, (on_train, on_test)  # 3 standard errors at 1,000 images


def test_no_trivial_shortcut_and_difficulty_orders_it():
    """Nearest class mean on raw pixels: far from chance when easy (the set is learnable), far
    from 100% at the default difficulty, near chance when hard: position, scale and colour
    carry no class identity a template could catch."""
    accuracy = {d: nearest_class_mean(*synthetic.make(10, 2000, 1000, seed=0, difficulty=d), 10)
                for d in (0.0, 1.0, 2.0)}
    assert accuracy[0.0] > 0.5
    assert 0.15 < accuracy[1.0] < 0.6
    assert accuracy[2.0] < 0.25
    assert accuracy[0.0] > accuracy[1.0] > accuracy[2.0]


# ----------------------------------------------------------------------------------- learnable
def test_a_small_cnn_learns_it_but_does_not_solve_it(ten_classes):
    """Two conv layers, four epochs on 2,000 images: clearly above chance (10%), clearly short
    of solved: the headroom the architectures compete for. About 15 s on two cores."""
    import keras

    x_train, y_train, x_test, y_test = ten_classes
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=50, epochs=4, verbose=0)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    assert 0.3 < accuracy < 0.9, accuracy
