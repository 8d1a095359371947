"""Every fact about a dataset, declared once (AlgoPerf's `Workload` keeps a dataset's sizes,
normalisation and targets on one class): the CLI's choices, the archive reader, the loader,
`speed` and the report's time-to-target columns all read these entries. Adding a dataset is one
entry here plus its reader in `data/sources.py`."""

from __future__ import annotations

import dataclasses

# CIFAR-100's targets: 0.52 is the blog post's result (the question archbench answers).
CIFAR100_TARGETS = (0.30, 0.40, 0.52, 0.60, 0.70)

# CIFAR-100's 20 superclasses and their fine classes (Krizhevsky 2009, the dataset's web page).
# Label numbers are the alphabetical order of the names, as in the archives' meta files.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_CLASSES = tuple(sorted(c for fine in CIFAR100_SUPERCLASSES.values() for c in fine))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple[int, int, int] | None  # height, width, channels; None: read from the data (folder)
    label_sets: dict[str, int]  # label set -> classes ("fine" is the default); 0: read from the data
    train_images: int  # in the published training split (val is carved out of it); 0: read from the data
    test_images: int = 0
    archives: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # file -> (sha256, folder)
    tfds_name: str | None = None
    targets: tuple[float, ...] = CIFAR100_TARGETS  # val top-1 targets for `time_to_target`
    synthetic: bool = False
    classes: tuple[str, ...] = ()  # fine class names in label order: an image folder's folder names
    coarse_of: dict[str, str] = dataclasses.field(default_factory=dict)  # fine class -> superclass
    # Per-channel mean and std in [0, 1] of the published training split: tells a real copy from a
    # damaged or different one where no archive checksum exists (image folders, extracted folders).
    channel_stats: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    # blake2b-128 of the decoded published data in canonical order (`sources.content_digest`): any source
    # (archive, tfds, image folder) holding exactly these images and labels is the published dataset.
    content_digest: str = ""

    @property
    def coarse_classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.coarse_of.values())))


DATASETS: dict[str, DatasetSpec] = {
    "cifar100": DatasetSpec(
        "cifar100", (32, 32, 3), {"fine": 100, "coarse": 20}, 50_000, 10_000,
        archives={  # published sha256 (Keras' and tensorflow-datasets' checksum tables), extracted folder
            "cifar-100-python.tar.gz": ("85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                                        "cifar-100-python"),
            "cifar-100-binary.tar.gz": ("58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
                                        "cifar-100-binary")},
        tfds_name="cifar100", classes=CIFAR100_CLASSES,
        coarse_of={fine: coarse for coarse, members in CIFAR100_SUPERCLASSES.items() for fine in members},
        channel_stats=((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
        # Measured on the lossless PNG copy (github.com/cyizhuo/CIFAR-100-dataset), whose statistics are
        # the published ones to the 4th decimal; an archive with the published sha256 is trusted as is.
        content_digest="2e1d70d0233a2150c6ec8b91e20e8cc2"),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), {"fine": 10}, 50_000, 10_000,
        archives={
            "cifar-10-python.tar.gz": ("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                                       "cifar-10-batches-py"),
            "cifar-10-binary.tar.gz": ("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                                       "cifar-10-batches-bin")},
        tfds_name="cifar10", targets=(0.52, 0.80, 0.90, 0.93, 0.95), classes=CIFAR10_CLASSES,
        channel_stats=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))),
    # Embedded and generated (benchmarks/data/synthetic.py): sizes and classes come from DataConfig.
    "synthetic": DatasetSpec("synthetic", (32, 32, 3), {"fine": 100}, 50_000, 10_000, synthetic=True),
    # A user's own image folders (train/<class>/, test/<class>/): classes, shape and sizes are the data's.
    "folder": DatasetSpec("folder", None, {"fine": 0}, 0, targets=(0.5, 0.7, 0.9)),
}

