"""The zoo's catalogue: every name, its metadata and where its builder lives, without importing any
framework. `report`, `compare` and `list --format` name models, colour them and set the blog post
beside them from here in a fraction of a second; a builder module (and Keras) is imported only when
a model is built (`registry.build`). The order of registration is the registry's order: every
report colours an architecture by its place in it, so it is kept (original, ResNets, VGGs, WRNs).
"""

from __future__ import annotations

import re

from architectures.registry import Spec, register, register_family

# ------------------------------------------------------------------------- the blog post's model
POST = {
    "optimizer": "Adam", "learning_rate": 1e-3, "batch_size": 150, "epochs": 2000,
    "loss": "categorical cross-entropy", "selection": "ModelCheckpoint(monitor='val_acc') on the test set",
    "device": "Tesla K80 (Colab)", "wall_clock": "about two days, restarted by hand every 12 hours",
    "val_top1": 0.52, "train_top1": 0.60,
}
register("original", family="original", builder="architectures.original:build_original",
         description="The blog post's hand-made 9-conv CNN, layer for layer (the baseline under test)",
         reference="blog post: a 9-conv Keras CNN on CIFAR-100, about 52% val after 2 days on a K80",
         published=POST)

# -------------------------------------------------------------------------------- CIFAR ResNet
# Table 6 of the paper (trainable parameters, 10 classes).
RESNET_PARAMS = {20: ("0.27M", 270_000), 32: ("0.46M", 460_000), 44: ("0.66M", 660_000),
                 56: ("0.85M", 850_000), 110: ("1.7M", 1_700_000)}


def _resnet(depth: int, shortcut: str = "A") -> Spec:
    text, count = RESNET_PARAMS.get(depth, (None, None))
    return Spec(name=f"resnet{depth}", family="resnet",
                description=f"CIFAR ResNet-{depth}: 3x{(depth - 2) // 6} basic blocks, 16/32/64 filters, "
                            f"option {shortcut} shortcuts",
                reference="He et al. 2016, Deep Residual Learning, sec. 4.2, Table 6",
                paper_params=count, paper_params_text=text, options=(("depth", depth),))


def _resnet_family(match: re.Match[str]) -> Spec:
    depth = int(match.group(1))
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet{depth}: CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...)")
    return _resnet(depth)


for _depth in RESNET_PARAMS:
    register(spec=_resnet(_depth), builder="architectures.resnet:build_resnet")
register_family(r"resnet(\d+)", _resnet_family, builder="architectures.resnet:build_resnet")

# ------------------------------------------------------------------------------------------ VGG
_VGG_REFERENCE = "Simonyan & Zisserman 2015, Table 1 (config {}); CIFAR head as chenyaofo/pytorch-cifar-models"
for _depth, _config in zip((11, 13, 16, 19), "ABDE"):
    register(f"vgg{_depth}", family="vgg", builder="architectures.vgg:build_vgg", depth=_depth,
             description=f"VGG-{_depth} with batch norm, 512-512 head with dropout",
             reference=_VGG_REFERENCE.format(_config),
             **({"paper_params": 15_300_000, "paper_params_text": "15.3M", "paper_classes": 100}
                if _depth == 16 else {}))

# -------------------------------------------------------------------------------- Wide-ResNet
# The paper's parameter counts (10 classes), Tables 1-4.
WRN_PARAMS = {(16, 4): ("2.7M", 2_700_000), (16, 8): ("11.0M", 11_000_000),
              (28, 10): ("36.5M", 36_500_000), (40, 4): ("8.9M", 8_900_000)}


def _wrn(depth: int, width: int) -> Spec:
    text, count = WRN_PARAMS.get((depth, width), (None, None))
    return Spec(name=f"wrn-{depth}-{width}", family="wide_resnet",
                description=f"Wide-ResNet {depth}-{width}: pre-activation blocks, widths "
                            f"{16 * width}/{32 * width}/{64 * width}",
                reference="Zagoruyko & Komodakis 2016, Wide Residual Networks, Tables 1-4",
                paper_params=count, paper_params_text=text, options=(("depth", depth), ("width", width)))


def _wrn_family(match: re.Match[str]) -> Spec:
    depth, width = int(match.group(1)), int(match.group(2))
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"wrn-{depth}-{width}: WRN depth must be 6n+4 (10, 16, 22, 28, 40, ...)")
    if width < 1:
        raise ValueError(f"wrn-{depth}-{width}: width must be >= 1")
    return _wrn(depth, width)


for _depth, _width in WRN_PARAMS:
    register(spec=_wrn(_depth, _width), builder="architectures.wide_resnet:build_wide_resnet")
register_family(r"wrn-(\d+)-(\d+)", _wrn_family, builder="architectures.wide_resnet:build_wide_resnet")
