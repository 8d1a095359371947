"""archbench's model zoo: CIFAR architectures behind one registry, in pure Keras 3.

    >>> import architectures
    >>> model = architectures.build("resnet20", num_classes=100)
    >>> architectures.spec("resnet20").paper_params_text
    '0.27M'

Every model outputs softmax probabilities (float32). This package imports only Keras, so the
models build on any Keras backend (TensorFlow here, JAX on the GPU machine).
"""

from architectures import original, resnet, vgg, wide_resnet  # noqa: F401  (fill the registry)
from architectures.complexity import macs, trainable_params
from architectures.registry import Spec, UnknownArchitectureError, build, check_options, names, register, register_family, spec

__all__ = ["Spec", "UnknownArchitectureError", "build", "check_options", "macs", "names", "register", "register_family",
           "spec", "trainable_params"]
