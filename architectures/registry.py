"""The name -> builder table of the model zoo, and the metadata kept beside each entry.

Two kinds of entries exist:

* fixed names (`original`, `vgg16`, `resnet20`, ...), registered with `register`;
* parameterised families (`resnetN` for any N = 6n+2, `wrn-D-K` for any D = 6n+4), registered
  with `register_family`: a regular expression plus a function that turns the match into a `Spec`
  (its `options` are the builder's keyword arguments).

A builder is named by its place, "module:function" (the catalogue, `architectures.zoo`, names them
all), and imported only when a model is built: the metadata (names, families, papers, the blog
post's figures) needs no framework. A test may register a builder function itself (decorator form).

Every builder returns an un-compiled functional `keras.Model` whose output is the softmax
probability of each class, in float32 even under a mixed-precision policy (the zoo's one output
convention; losses and metrics are therefore built with `from_logits=False`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import re
from typing import Any, Callable

Builder = Callable[..., Any]  # -> keras.Model


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the zoo knows about one architecture, independent of any run."""

    name: str
    family: str  # "original", "vgg", "resnet", "wide_resnet"
    description: str  # one line
    reference: str  # paper (and table) the architecture and its figures come from
    paper_params: int | None = None  # trainable parameters the paper publishes (see paper_classes)
    paper_params_text: str | None = None  # the figure as printed, e.g. "0.27M"
    paper_classes: int = 10  # the head the published count was made with
    options: tuple[tuple[str, Any], ...] = ()  # keyword arguments bound into the builder
    published: tuple[tuple[str, Any], ...] = ()  # the blog post's recipe and result (`original`), for the report

    @property
    def published_dict(self) -> dict[str, Any]:
        return dict(self.published)


@dataclasses.dataclass(frozen=True)
class _Entry:
    builder: Builder | str  # a function, or "module:function" imported when a model is built
    spec: Spec

    def function(self) -> Builder:
        """The builder with the spec's options bound (its module imported now, if named)."""
        builder = self.builder
        if isinstance(builder, str):
            module, name = builder.split(":")
            builder = getattr(importlib.import_module(module), name)
        return functools.partial(builder, **dict(self.spec.options))


_REGISTRY: dict[str, _Entry] = {}
_FAMILIES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Spec], str]] = []


class UnknownArchitectureError(KeyError):
    """Raised for a name that is neither registered nor matches a parameterised family."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(name: str | None = None, *, spec: Spec | None = None, builder: str | None = None,
             family: str = "", description: str = "", reference: str = "", paper_params: int | None = None,
             paper_params_text: str | None = None, paper_classes: int = 10, published: dict[str, Any] | None = None,
             **options: Any):
    """Register `name` (or a whole `spec`) with `options` bound as keyword arguments. With `builder`
    ("module:function") it is registered now; without, it is a decorator for the builder function."""
    spec = spec or Spec(name=name, family=family, description=description, reference=reference,
                        paper_params=paper_params, paper_params_text=paper_params_text, paper_classes=paper_classes,
                        options=tuple(sorted(options.items())), published=tuple(sorted((published or {}).items())))

    def add(function: Builder | str):
        if spec.name in _REGISTRY:
            raise ValueError(f"architecture {spec.name!r} is already registered")
        _REGISTRY[spec.name] = _Entry(function, spec)
        return function

    if builder is not None:
        add(builder)
        return None
    return add


def register_family(pattern: str, resolve: Callable[[re.Match[str]], Spec], builder: str) -> None:
    """Register a parameterised family: names that fully match `pattern` are built by `builder`
    with the options of the Spec that `resolve` makes of the match. `resolve` raises ValueError
    with a readable message for a name of the right shape but an invalid value (say `wrn-17-4`,
    whose depth is not 6n+4)."""
    _FAMILIES.append((re.compile(pattern), resolve, builder))


def _entry(name: str) -> _Entry:
    if name in _REGISTRY:
        return _REGISTRY[name]
    for pattern, resolve, builder in _FAMILIES:
        match = pattern.fullmatch(name)
        if match:
            try:
                return _Entry(builder, resolve(match))
            except ValueError as error:
                raise UnknownArchitectureError(f"{error}; registered names: {', '.join(names())}")
    close = difflib.get_close_matches(name, names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownArchitectureError(
        f"unknown architecture {name!r}.{hint} Registered: {', '.join(names())} "
        f"(also resnetN for N=6n+2 and wrn-D-K for D=6n+4)")


def names() -> list[str]:
    """Every registered fixed name, in registration order (families add any valid depth)."""
    return list(_REGISTRY)


def spec(name: str) -> Spec:
    """The frozen metadata of `name`; raises UnknownArchitectureError with the names that exist."""
    return _entry(name).spec


# Builder arguments a run sets itself (from the dataset and the recipe), never through options.
RUN_SET = ("num_classes", "input_shape", "weight_decay", "name")


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse (ValueError, one line) builder options that `name`'s builder does not take, that
    the name itself fixes (`depth` of resnet20: that model is resnet8), or of the wrong type."""
    builder = _entry(name).function()
    bound = builder.keywords
    parameters = inspect.signature(builder.func).parameters
    free = [p for p in parameters if p not in bound and p not in RUN_SET]
    for key, value in options.items():
        if key in bound:
            raise ValueError(f"option {key}={value!r} contradicts the name {name!r}, which fixes {key}={bound[key]!r}; "
                             f"name the architecture you mean instead")
        if key in RUN_SET or key not in parameters:
            raise ValueError(f"{name} takes no option {key!r}; its options: {', '.join(free) or 'none'}")
        default = parameters[key].default
        if not _same_kind(value, default):
            raise ValueError(f"option {key} of {name} must be {type(default).__name__} like its default "
                             f"{default!r}, got {value!r}")


def _same_kind(value: Any, default: Any) -> bool:
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(default))


def build(name: str, num_classes: int = 100, input_shape: tuple[int, int, int] = (32, 32, 3),
          **options: Any):
    """Build an un-compiled model that maps `input_shape` images to `num_classes` probabilities."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    return _entry(name).function()(num_classes=num_classes, input_shape=tuple(input_shape), **options)
