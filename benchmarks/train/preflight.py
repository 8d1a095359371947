"""Before any run starts: every config checked against its data (a missing or corrupt dataset, a
split or batch too large for it, a budget that could never finish, a model that cannot take the
images) and completed with the digest of the data it will train on."""

from __future__ import annotations

import dataclasses
import functools

from benchmarks.core.config import ConfigError, RunConfig
from benchmarks.data.loader import Facts, facts


def prepare(configs: list[RunConfig]) -> list[RunConfig]:
    """Check every config against its data before any run starts (a missing or corrupt dataset,
    a split or batch too large for it, a budget that could never finish: ConfigError, exit 2),
    and complete each run's identity with the digest of the data it will train on."""
    known = {data: facts(data) for data in dict.fromkeys(c.data for c in configs)}
    for config in configs:
        if not check_buildable(config, known[config.data]):
            continue  # its options fail at any size: the run records that failure and the suite goes on
        flops = flops_per_image(config, known[config.data]) if config.budget.kind == "flops" else None
        config.budget.check_ceiling(known[config.data].train_size, config.data.batch_size, flops)
    return [dataclasses.replace(c, data_digest=known[c.data].digest) for c in configs]


DESIGNED_FOR = (32, 32, 3)  # the image shape the registry's builders are written for


def check_buildable(config: RunConfig, data: Facts) -> bool:
    """Whether the model builds for the data's images and classes (an image folder's may be any).
    ConfigError (one line, nothing trained) when the image size is what it cannot take."""
    shape, classes = data.image_shape, data.num_classes
    if shape == DESIGNED_FOR and config.budget.kind != "flops":  # a FLOPs budget counts MACs: built anyway
        return True  # every registered model takes CIFAR's images: the run builds it, once
    try:
        _macs(config.model_name, config.hparams, classes, shape)
        return True
    except ValueError as error:
        try:
            _macs(config.model_name, config.hparams, classes, DESIGNED_FOR)
        except ValueError:
            return False
        reason = str(error).strip().splitlines()[0][:160]
        raise ConfigError(f"{config.model_name} cannot be built for {shape[1]}x{shape[0]} images with {classes} classes "
                          f"({reason}); choose another architecture or larger images")


def flops_per_image(config: RunConfig, data: Facts) -> float:
    """Training FLOPs per image of `config`'s model on `data` (built once, to count its MACs)."""
    from benchmarks.core.budget import train_flops_per_image

    return train_flops_per_image(_macs(config.model_name, config.hparams, data.num_classes, data.image_shape))


@functools.lru_cache(maxsize=None)
def _macs(arch, hparams, classes, shape) -> float:
    """MACs per image of `arch` built for `shape` and `classes` (built once per distinct request)."""
    import architectures
    from architectures import complexity

    return complexity.macs(architectures.build(arch, num_classes=classes, input_shape=shape, **dict(hparams)))
