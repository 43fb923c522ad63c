"""What every indicator module shares: parameter checks, input conversion, output wrapping, and the
runner that gives the compiled kernels their missing-value rule (non-finite inputs skipped)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InvalidValue

T = TypeVar("T", pd.Series, np.ndarray)
NAN = math.nan


def period(n: int, minimum: int = 1, what: str = "n") -> int:
    """An integer period ``>= minimum`` or a ``ConfigError`` saying which parameter is wrong."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ConfigError(f"indicator {what} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def width(k: float, what: str = "band width k") -> float:
    """A finite number > 0 (Bollinger's k)."""
    if isinstance(k, bool) or not isinstance(k, int | float | np.floating) or not 0.0 < k < math.inf:
        raise ConfigError(f"{what} must be a finite number > 0, got {k!r}")
    return float(k)


def ddof_of(ddof: int) -> int:
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise ConfigError(f"ddof must be 0 or 1, got {ddof!r}")
    return int(ddof)


def as_array(x: object) -> np.ndarray:
    """A 1-D float64 array (a Series' values, NA as NaN); ``InvalidValue`` when not numeric."""
    try:
        if isinstance(x, pd.Series) and x.dtype == np.float64:
            values = x.to_numpy()  # no copy; NaN already (na_value= would cost an isna pass and a copy)
        elif isinstance(x, pd.Series):
            values = x.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"indicator input is not numeric: {error}") from None
    if values.ndim != 1:
        raise DataError(f"indicator input must be one-dimensional, got shape {values.shape}")
    return values


def as_arrays(what: str, names: Sequence[str], *columns: object) -> list[np.ndarray]:
    """Several inputs as float64 arrays of one length, or a ``DataError`` naming the lengths."""
    arrays = [as_array(c) for c in columns]
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) > 1:
        shown = ", ".join(f"{name} {size}" for name, size in zip(names, lengths, strict=True))
        raise DataError(f"{what} needs inputs of one length, got {shown}")
    return arrays


def need(values: np.ndarray, count: int, what: str) -> None:
    """``DataError`` when ``values`` is shorter than ``count`` (the first output's position + 1)."""
    if values.shape[0] < count:
        raise DataError(f"{what} needs at least {count} values for one output, got {values.shape[0]}")


def wrap(x: T, out: np.ndarray) -> T:
    """``out`` as ``x``'s type: a Series keeps ``x``'s index and name; otherwise the array itself."""
    if isinstance(x, pd.Series):
        return cast(T, pd.Series(out, index=x.index, name=x.name, copy=False))
    return cast(T, out)


def frame(x: object, block: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame over the rows of ``block`` (shape ``(len(columns), n)``), without copying; ``x``'s
    index when it is a Series, a RangeIndex otherwise."""
    index = x.index if isinstance(x, pd.Series) else None
    return pd.DataFrame(block.T, index=index, columns=list(columns), copy=False)


def skipping(
    kernel: Callable[..., bool],
    inputs: Sequence[np.ndarray],
    params: Sequence[Any],
    outputs: int = 1,
    keep: Callable[..., np.ndarray] | None = None,
) -> np.ndarray:
    """Run ``kernel(*inputs, *params, *rows)`` into a fresh ``(outputs, n)`` block and return it.

    The kernels stop (returning False) at the first step with a non-finite input; then the kernel runs
    again on the rows where ``keep(*inputs)`` holds (default: every input finite) and the other rows get
    NaN: a skipped step leaves the state unchanged, as in the streaming classes.
    """
    size = inputs[0].shape[0]
    block = np.empty((outputs, size))
    if kernel(*inputs, *params, *block):
        return block
    rows = keep(*inputs) if keep is not None else _all_finite(inputs)
    dense = np.empty((outputs, int(rows.sum())))
    kernel(*[a[rows] for a in inputs], *params, *dense)
    block.fill(NAN)
    block[:, rows] = dense
    return block


def _all_finite(inputs: Sequence[np.ndarray]) -> np.ndarray:
    rows = np.isfinite(inputs[0])
    for other in inputs[1:]:
        rows &= np.isfinite(other)
    return rows


__all__ = [
    "NAN",
    "T",
    "as_array",
    "as_arrays",
    "ddof_of",
    "frame",
    "need",
    "period",
    "skipping",
    "width",
    "wrap",
]
