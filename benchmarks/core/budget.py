"""How much training a run gets, in one type. Every kind becomes either a number of steps or a
number of seconds here, so the loop only ever sees progress in [0, 1] (the way big_vision's
`utils.steps` turns epochs, examples or percent into steps in one place).

Kinds: epochs, steps, images, FLOPs (`5e15flops`, `5pflop`: the same training compute for every
architecture, independent of device, backend and precision) and seconds of training steps.
A training image costs 3 x the forward pass, and the forward pass 2 FLOPs per multiply-accumulate
of the built model (convolutions and dense layers; batch norm, activations and pooling are left
out, as in the papers' counts): TRAIN_FLOPS_PER_MAC = 6.
"""

from __future__ import annotations

import dataclasses
import math
import re

from benchmarks.core.errors import ConfigError

KINDS = ("epochs", "steps", "images", "flops", "seconds")
TRAIN_FLOPS_PER_MAC = 6  # forward: 2 FLOPs per MAC; a training step: about 3 forward passes
MAX_EPOCHS = 100_000  # a budget past these can never finish: refused rather than trained forever
MAX_SECONDS = 366 * 86400
_UNITS = {"epochs": "epochs", "epoch": "epochs", "steps": "steps", "step": "steps", "images": "images",
          "s": "seconds", "m": "seconds", "h": "seconds"}
_SECONDS = {"s": 1, "m": 60, "h": 3600}
_FLOP_PREFIX = {"": 1.0, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
_PATTERN = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-z]+)\s*")


@dataclasses.dataclass(frozen=True)
class Budget:
    kind: str  # epochs | steps | images | flops | seconds (of training steps, summed over resumes)
    amount: float  # in units of `kind`

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """'50epochs', '20000steps', '5e6images', '5e15flops', '5pflop', '90s', '30m', '2h'."""
        match = _PATTERN.fullmatch(str(text).lower())
        unit = match.group(2) if match else ""
        flops = re.fullmatch(r"([gtpe]?)flops?", unit)
        if not match or (unit not in _UNITS and not flops):
            raise ConfigError(f"malformed budget {text!r}: use e.g. 50epochs, 20000steps, 5e6images, 5e15flops, "
                              f"5pflop, 90s, 30m or 2h")
        value = float(match.group(1))
        if flops:
            kind, amount = "flops", value * _FLOP_PREFIX[flops.group(1)]
        else:
            kind = _UNITS[unit]
            amount = value * _SECONDS[unit] if kind == "seconds" else value
        if not math.isfinite(amount):
            raise ConfigError(f"budget {text!r} is not a finite number")
        whole = kind in ("epochs", "steps", "images")
        if amount <= 0 or (whole and amount != int(amount)):
            raise ConfigError(f"budget {text!r} must be a positive {'whole ' if whole else ''}number")
        if kind == "epochs" and amount > MAX_EPOCHS or kind == "seconds" and amount > MAX_SECONDS:
            raise ConfigError(f"budget {text!r} could never finish: at most {MAX_EPOCHS:,} epochs "
                              f"or {MAX_SECONDS // 86400} days of training")
        return cls(kind, amount)

    def __str__(self) -> str:
        """The budget's name, in run folders and records: '30m', '10tflop', '5e+06images'. Exact:
        `Budget.parse(str(b)) == b` always, so two budgets never share a folder (six significant
        digits named 123456501 and 123457499 images alike); the short form is kept wherever it is
        exact, so every name that was exact before is unchanged."""
        if self.kind == "seconds":
            units = [(f"{int(self.amount // _SECONDS[u])}{u}", self.amount % _SECONDS[u] == 0) for u in ("h", "m")]
            named = [text for text, whole in units if whole]
            return named[0] if named else self._exact(self.amount, "s")
        if self.kind == "flops":
            for prefix in ("e", "p", "t", "g"):
                if _FLOP_PREFIX[prefix] <= self.amount < 1e6 * _FLOP_PREFIX[prefix]:
                    return self._exact(self.amount / _FLOP_PREFIX[prefix], f"{prefix}flop")
            return self._exact(self.amount, "flop")
        if self.kind == "images":
            return self._exact(self.amount, "images")
        return f"{int(self.amount)}{self.kind}"

    def _exact(self, value: float, unit: str) -> str:
        """`value` + `unit` in the shortest form that parses back to this budget: `:g` (six digits)
        where that is exact, else the whole number, else the float's shortest round-trip repr; in
        units of `unit`'s scale, else of the kind's base unit."""
        base = {"flops": "flops", "seconds": "s", "images": "images"}[self.kind]
        whole = [f"{int(value)}{unit}"] if float(value).is_integer() else []
        candidates = [f"{value:g}{unit}", *whole, f"{value!r}{unit}", f"{self.amount!r}{base}"]
        return next(text for text in candidates if Budget.parse(text) == self)

    def images(self, train_images: int, batch_size: int, flops_per_image: float | None = None) -> float | None:
        """Training images the budget allows (None for a time budget)."""
        if self.kind == "flops":
            if not flops_per_image:
                raise ConfigError("a FLOP budget needs the model's FLOPs per image")
            return self.amount / flops_per_image
        return {"epochs": self.amount * train_images, "steps": self.amount * batch_size,
                "images": self.amount}.get(self.kind)

    def total_steps(self, steps_per_epoch: int, batch_size: int, flops_per_image: float | None = None) -> int | None:
        """Steps a step-like budget allows (whole epochs stay whole); None for a time budget."""
        if self.kind == "epochs":
            return int(self.amount) * steps_per_epoch
        if self.kind == "steps":
            return int(self.amount)
        images = self.images(steps_per_epoch * batch_size, batch_size, flops_per_image)
        return None if images is None else max(1, math.ceil(images / batch_size))

    def progress(self, steps: int, seconds: float, total: int | None) -> float:
        """Share of the budget spent, 0..1+ (`total`: from `total_steps`)."""
        return seconds / self.amount if total is None else steps / total

    def check_ceiling(self, train_images: int, batch_size: int, flops_per_image: float | None = None) -> None:
        """Refuse a budget of more than MAX_EPOCHS passes over `train_images`."""
        images = self.images(train_images, batch_size, flops_per_image) or 0
        if images > MAX_EPOCHS * train_images:
            raise ConfigError(f"budget {self} could never finish: it is {images / train_images:.3g} epochs of "
                              f"{train_images:,} training images (at most {MAX_EPOCHS:,})")

    def epochs_at(self, images_per_second: float, train_images: int, batch_size: int,
                  flops_per_image: float | None = None) -> float:
        """Epochs this budget buys at a measured speed (exact for step-like budgets)."""
        images = self.images(train_images, batch_size, flops_per_image)
        return (self.amount * images_per_second if images is None else images) / train_images

    def scaled(self, share: float) -> "Budget":
        """A share of this budget (hyperband's rungs), whole where the kind counts whole things."""
        amount = self.amount * share
        if self.kind in ("epochs", "steps", "images"):
            amount = max(1.0, float(round(amount)))
        return Budget(self.kind, amount)


def parse_sweep(text: str) -> tuple[Budget, ...]:
    """One budget or a comma-separated sweep of distinct budgets ('30s,90s', '1e15flops,5pflop')."""
    budgets = tuple(Budget.parse(part) for part in str(text).split(","))
    if len(set(budgets)) != len(budgets):
        raise ConfigError(f"--budget {text!r} names the same budget twice")
    return budgets


def train_flops_per_image(macs: float) -> float:
    """FLOPs one training image costs: 3 x the forward pass at 2 FLOPs per multiply-accumulate."""
    return TRAIN_FLOPS_PER_MAC * macs
