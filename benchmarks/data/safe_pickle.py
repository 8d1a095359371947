"""Unpickling CIFAR's python-format batches without running anything: CIFAR's pickles hold dicts,
lists, bytes, ints and numpy uint8 arrays, so exactly the globals that rebuild those are allowed
and every other is refused, and no array larger than a CIFAR file can hold is ever allocated (a
forged shape would otherwise ask numpy for terabytes). An archive from an untrusted mirror cannot
run code when it is loaded."""

from __future__ import annotations

import io
import math
import pickle

import numpy as np

MAX_ARRAY_BYTES = 60_000 * 32 * 32 * 3  # CIFAR's largest array: all 60,000 images of a split's uint8 rows


def loads(data: bytes):
    """The object pickled in `data`, rebuilt with the allowed globals only (pickle.UnpicklingError
    and friends for anything else)."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _bounded_shape(shape, dtype) -> None:
    """Refuse an array larger than any CIFAR file holds, before numpy allocates it."""
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not a tuple of sizes")
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        raise pickle.UnpicklingError(f"array dtype {dtype!r} is not a dtype")
    if math.prod(shape) * max(itemsize, 1) > MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError(f"an array of shape {shape} is larger than any CIFAR file holds")


class _BoundedArray(np.ndarray):
    """The ndarray a CIFAR pickle rebuilds, with its state checked before numpy sizes the array
    (a forged shape would otherwise allocate terabytes); object arrays are refused outright."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5) or not isinstance(state[-3], np.dtype):
            raise pickle.UnpicklingError("array state is not (shape, dtype, fortran, data)")
        if state[-3].hasobject:
            raise pickle.UnpicklingError("object arrays are not allowed in a CIFAR pickle")
        _bounded_shape(state[-4], state[-3])
        super().__setstate__(state)


def _allowed_globals() -> dict[tuple[str, str], object]:
    import codecs

    numpy_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct, any version

    def reconstruct(subtype, shape, dtype):
        if subtype is not _BoundedArray:
            raise pickle.UnpicklingError("only plain arrays are allowed in a CIFAR pickle")
        _bounded_shape(shape, dtype)
        return numpy_reconstruct(subtype, shape, dtype)

    def encode(text, encoding="utf-8", errors="strict"):  # how Python 3 pickles bytes at protocol 2
        if encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError(f"_codecs.encode to {encoding!r} is not allowed in a CIFAR pickle")
        return codecs.encode(text, encoding, errors)

    def empty_bytes(*args):  # how Python 3 pickles b"" at protocol 2; bytes(n) would allocate n
        if args:
            raise pickle.UnpicklingError("bytes() with arguments is not allowed in a CIFAR pickle")
        return b""

    return {("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): _BoundedArray, ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): encode, ("__builtin__", "bytes"): empty_bytes,
            ("builtins", "bytes"): empty_bytes}


class _RestrictedUnpickler(pickle.Unpickler):
    """CIFAR's pickles hold dicts, lists, bytes, ints and numpy uint8 arrays: allow exactly the
    globals that rebuild those and refuse every other, so an archive from an untrusted mirror
    cannot run code when it is loaded."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR pickle")
