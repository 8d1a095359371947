"""Every fact about a dataset, declared once (AlgoPerf's `Workload` keeps a dataset's sizes,
normalisation and targets on one class): the CLI's choices, the archive reader, the loader,
`speed` and the report's time-to-target columns all read these entries. Adding a dataset is one
entry here plus its loader in `data.py`."""

from __future__ import annotations

import dataclasses

# CIFAR-100's targets: 0.52 is the blog post's result (the question archbench answers).
CIFAR100_TARGETS = (0.30, 0.40, 0.52, 0.60, 0.70)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple[int, int, int]  # height, width, channels
    label_sets: dict[str, int]  # label set -> classes ("fine" is the default)
    train_images: int  # in the published training split (val is carved out of it)
    archives: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # file -> (sha256, folder)
    tfds_name: str | None = None
    targets: tuple[float, ...] = CIFAR100_TARGETS  # val top-1 targets for `time_to_target`
    synthetic: bool = False


DATASETS: dict[str, DatasetSpec] = {
    "cifar100": DatasetSpec(
        "cifar100", (32, 32, 3), {"fine": 100, "coarse": 20}, 50_000,
        archives={  # published sha256 (Keras' and tensorflow-datasets' checksum tables), extracted folder
            "cifar-100-python.tar.gz": ("85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                                        "cifar-100-python"),
            "cifar-100-binary.tar.gz": ("58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
                                        "cifar-100-binary")},
        tfds_name="cifar100"),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), {"fine": 10}, 50_000,
        archives={
            "cifar-10-python.tar.gz": ("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                                       "cifar-10-batches-py"),
            "cifar-10-binary.tar.gz": ("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                                       "cifar-10-batches-bin")},
        tfds_name="cifar10", targets=(0.52, 0.80, 0.90, 0.93, 0.95)),
    # Embedded and generated (benchmarks/synthetic.py): sizes and classes come from DataConfig.
    "synthetic": DatasetSpec("synthetic", (32, 32, 3), {"fine": 100}, 50_000, synthetic=True),
}


def spec(name: str) -> DatasetSpec:
    from benchmarks.errors import ConfigError

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    return DATASETS[name]
