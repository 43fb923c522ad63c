"""Event-time series maths (mdx.analytics.series) against pandas' time-based rolling windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdx.analytics.series import time_mean
from mdx.errors import ConfigError, InvalidValue


def _pandas_time_mean(ts: np.ndarray, x: np.ndarray, window_ns: int) -> np.ndarray:
    """pandas' trailing time window (t - window, t], with rows of equal time all included."""
    s = pd.Series(x, index=pd.to_datetime(ts, unit="ns")).replace([np.inf, -np.inf], np.nan)
    rolled = s.rolling(pd.Timedelta(window_ns, "ns"), min_periods=1).mean()
    # pandas gives a row only the rows up to itself; equal timestamps all belong to each other's window
    return rolled.groupby(level=0).transform("last").to_numpy()


def test_equals_pandas_rolling_on_irregular_times_with_bursts_and_gaps() -> None:
    rng = np.random.default_rng(3)
    gaps = rng.choice([0, 1_000_000, 50_000_000, 4_000_000_000], size=5_000, p=[0.1, 0.6, 0.25, 0.05])
    ts = 1_700_000_000_000_000_000 + np.cumsum(gaps)
    x = rng.uniform(-1.0, 1.0, size=ts.shape[0])
    x[rng.choice(ts.shape[0], 40, replace=False)] = np.nan
    x[rng.choice(ts.shape[0], 10, replace=False)] = np.inf
    got = time_mean(ts, x, 2_000_000_000)
    want = _pandas_time_mean(ts, x, 2_000_000_000)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_window_counts_time_not_rows() -> None:
    ts = np.array([0, 1, 2, 10, 11], dtype=np.int64) * 1_000_000_000
    x = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    got = time_mean(ts, x, 2_000_000_000)
    np.testing.assert_allclose(got, [1.0, 1.5, 2.5, 10.0, 15.0])


def test_window_of_only_non_finite_values_is_nan_and_later_windows_recover() -> None:
    ts = np.arange(4, dtype=np.int64) * 10
    got = time_mean(ts, np.array([np.nan, -np.inf, 5.0, 7.0]), 5)
    assert np.isnan(got[0]) and np.isnan(got[1])
    np.testing.assert_allclose(got[2:], [5.0, 7.0])


def test_empty_input_gives_empty_output() -> None:
    assert time_mean(np.empty(0, np.int64), np.empty(0), 10).shape == (0,)


@pytest.mark.parametrize("window", [0, -5, 1.5, None])
def test_bad_window_is_a_config_error(window: object) -> None:
    with pytest.raises(ConfigError, match="window_ns"):
        time_mean(np.arange(3), np.ones(3), window)  # type: ignore[arg-type]


def test_decreasing_times_or_unequal_lengths_are_invalid() -> None:
    with pytest.raises(InvalidValue, match="non-decreasing"):
        time_mean(np.array([2, 1]), np.ones(2), 10)
    with pytest.raises(InvalidValue, match="equal length"):
        time_mean(np.arange(3), np.ones(2), 10)
