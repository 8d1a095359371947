"""Published CIFAR-100 test top-1 of the zoo's architectures, with the recipe and source of each:
the one place these figures live (the report's table and the sweep's hollow markers read them;
they never enter a mean, an interval or the what-to-train table). Sources and recipes as
`shared/REFERENCES.md` gives them.

Each is placed on the FLOP axis by the rule every budget uses: 6 x the zoo's own MACs per image
(at 100 classes; a test builds each model and holds `mmacs` to it) x the images the recipe saw.
"""

from __future__ import annotations

import dataclasses

from benchmarks.core.budget import TRAIN_FLOPS_PER_MAC

CIFAR100_TRAIN = 50_000

CHENYAOFO = ("chenyaofo/pytorch-cifar-models: 200 epochs, batch 256, SGD Nesterov 0.9, lr 0.1 cosine to 0, "
             "wd 5e-4, crop + flip; best test epoch reported (optimistic)")
WEIAICUNZAI = "weiaicunzai/pytorch-cifar100: 200 epochs, batch 128, lr 0.1 x0.2 at 60/120/160, wd 5e-4"
SZAGORUYKO = ("szagoruyko/wide-residual-networks: 200 epochs, batch 128, SGD Nesterov 0.9, lr 0.1 x0.2 at "
              "60/120/160, wd 5e-4, flip + translation")


@dataclasses.dataclass(frozen=True)
class Published:
    arch: str  # the zoo's name for the architecture
    top1: float  # CIFAR-100 test top-1, 0..1
    epochs: int
    batch: int
    source: str  # who published it, with the recipe
    mmacs: float  # the zoo's own MACs per image at 100 classes, millions
    note: str = ""  # a variant of the model ('dropout 0.3'), or how the figure was taken
    optimistic: bool = False  # the source picked its best epoch on the test set

    @property
    def images(self) -> int:
        return self.epochs * CIFAR100_TRAIN

    @property
    def train_flops(self) -> float:
        return TRAIN_FLOPS_PER_MAC * self.mmacs * 1e6 * self.images

    @property
    def label(self) -> str:
        return self.arch + (f" ({self.note})" if self.note else "")


PUBLISHED = (
    Published("resnet20", 0.6883, 200, 256, CHENYAOFO, 40.5568, optimistic=True),
    Published("resnet32", 0.7016, 200, 256, CHENYAOFO, 68.868352, optimistic=True),
    Published("resnet44", 0.7163, 200, 256, CHENYAOFO, 97.179904, optimistic=True),
    Published("resnet56", 0.7263, 200, 256, CHENYAOFO, 125.491456, optimistic=True),
    Published("vgg16", 0.7400, 200, 256, CHENYAOFO, 313.772032, optimistic=True),
    Published("vgg16", 0.7293, 200, 128, WEIAICUNZAI, 313.772032),
    Published("wrn-28-10", 0.8075, 200, 128, SZAGORUYKO, 5243.386368, note="median of 5"),
    Published("wrn-28-10", 0.8115, 200, 128, SZAGORUYKO, 5243.386368, note="dropout 0.3, median of 5"),
    Published("wrn-40-10", 0.7875, 200, 128, WEIAICUNZAI, 8074.541568),
)
