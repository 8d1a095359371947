"""archbench's model zoo: CIFAR architectures behind one registry, in pure Keras 3.

    >>> import architectures
    >>> architectures.spec("resnet20").paper_params_text  # metadata: no framework imported
    '0.27M'
    >>> model = architectures.build("resnet20", num_classes=100)  # imports the builder, and Keras
    >>> from architectures.complexity import macs
    >>> macs(model) / 1e6
    40.5568

Every model outputs softmax probabilities (float32). The builders import only Keras, so the models
build on any Keras backend (TensorFlow here, JAX on the GPU machine); the catalogue
(`architectures.zoo`: names, families, papers, the blog post's figures) imports no framework at all,
so the readers (`report`, `compare`) start without one.
"""

from architectures import zoo  # noqa: F401  (fill the registry: metadata only)
from architectures.registry import Spec, UnknownArchitectureError, build, check_options, names, register, register_family, spec

__all__ = ["Spec", "UnknownArchitectureError", "build", "check_options", "names", "register", "register_family", "spec"]
# A built model's parameters and MACs: `architectures.complexity` (it imports Keras; this module does not).

