"""CSV import into the store and CSV / Parquet export out of it: real candles and trades from ../shared/data,
bad files generated here (each rule: refused whole, line numbers named, nothing stored), --skip-bad, imports
that store nothing twice, Binance's kline dumps in ms and µs, a round trip, and the Parquet dataset read back
by DuckDB, pyarrow and pandas."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pandas.testing as pdt
import pyarrow.dataset as ds
import pytest

from mdx import cli
from mdx.errors import RejectedFile
from mdx.events import Trade
from mdx.io.candles import read_coinbase_candles
from mdx.store import Store, export, import_csv
from mdx.store.imports import parse_times

KLINES = "binance-formats/ADABTC-1m-2021-11-27.csv"
COINBASE = "coinbase-4h-btc-eth/Coinbase-BTC-USD-PT4H-20160518_20251028.json"
TARDIS = "binance-formats/tardis/bitmex_trades_XBTUSD.csv"
BARS_HEADER = "timestamp,open,high,low,close,volume"
GOOD_BARS = [
    "1723161600000,100,110,90,105,3",
    "1723161660000,105,106,104,105.5,0",
    "1723161720000,105.5,107,105,106,2.5",
]
T0_NS = 1_723_161_600_000 * 10**6


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "market.db")


def coinbase_csv(shared_data: Path, out: Path) -> tuple[Path, pd.DataFrame]:
    """Coinbase's real BTC-USD 4h candles as a ccxt-style CSV (timestamp in ms)."""
    candles = read_coinbase_candles(shared_data / COINBASE)
    frame = candles.reset_index(drop=True)
    frame.insert(0, "timestamp", candles.index.as_unit("ms").asi8)
    frame.to_csv(out, index=False)
    return out, candles


# --- validation: each rule, with a bad file ----------------------------------------------------------------

BAD_BARS = {
    "timestamp": ("abc,100,110,90,105,3", "timestamp 'abc' is not a time"),
    "timestamp range": ("17,100,110,90,105,3", "out of range"),
    "number": ("1723161780000,100,x,90,105,3", "high 'x' is not a finite number"),
    "finite": ("1723161780000,100,inf,90,105,3", "high 'inf' is not a finite number"),
    "positive": ("1723161780000,-1,110,90,105,3", "open -1 must be > 0"),
    "high": ("1723161780000,100,101,90,105,3", "high 101.0 is below max(open 100.0, close 105.0)"),
    "low": ("1723161780000,100,110,101,105,3", "low 101.0 is above min(open 100.0, close 105.0)"),
    "volume": ("1723161780000,100,110,90,105,-3", "volume -3 must be >= 0"),
    "monotonic": ("1723161000000,100,110,90,105,3", "is not after the rows before it"),
    "unique": ("1723161720000,100,110,90,105,3", "is not after the rows before it"),
    "missing value": ("1723161780000,100,110,90", "no close"),
}


@pytest.mark.parametrize("rule", sorted(BAD_BARS))
def test_a_bad_bar_file_is_refused_whole_with_its_line(tmp_path: Path, rule: str) -> None:
    bad, reason = BAD_BARS[rule]
    file = write(tmp_path / "bars.csv", BARS_HEADER, *GOOD_BARS, bad, "1723161900000,106,107,105,106,1")
    with store(tmp_path) as db:
        with pytest.raises(RejectedFile) as caught:
            import_csv(db, file, symbol="BTC/USDT", timeframe="1m", progress=False)
        assert "line 5: " in str(caught.value) and reason in str(caught.value)
        assert caught.value.count == 1 and caught.value.problems[0].startswith("line 5: ")
        assert "nothing was stored" in str(caught.value)
        assert db.counts()["bars"] == 0


BAD_TRADES = {
    "price": ("1723161603000,0,1,buy,4", "price 0 must be > 0"),
    "amount": ("1723161603000,100,-1,buy,4", "amount -1 must be > 0"),
    "side": ("1723161603000,100,1,long,4", "side 'long' is not buy or sell"),
    "goes back": ("1723161000000,100,1,buy,4", "time 2024-08-08T23:50:00Z goes back before"),
    "unique id": ("1723161603000,100,1,buy,2", "trade id '2' repeats an earlier row"),
    "nan": ("1723161603000,nan,1,buy,4", "price 'nan' is not a finite number"),
}


@pytest.mark.parametrize("rule", sorted(BAD_TRADES))
def test_a_bad_trade_file_is_refused_whole_with_its_line(tmp_path: Path, rule: str) -> None:
    bad, reason = BAD_TRADES[rule]
    good = ["1723161600000,100,1,buy,1", "1723161601000,101,2,sell,2", "1723161602000,102,1,,3"]
    file = write(tmp_path / "trades.csv", "timestamp,price,amount,side,id", *good, bad)
    with store(tmp_path) as db:
        with pytest.raises(RejectedFile, match=f"line 5: {reason}"):
            import_csv(db, file, symbol="BTC/USDT", progress=False)
        assert db.counts()["trades"] == 0


def test_a_file_without_a_required_column_is_refused_even_with_skip_bad(tmp_path: Path) -> None:
    file = write(tmp_path / "bars.csv", "timestamp,open,high,close", "1723161600000,1,2,1.5")
    with store(tmp_path) as db, pytest.raises(RejectedFile, match="line 1: no low column"):
        import_csv(db, file, symbol="BTC/USDT", timeframe="1m", skip_bad=True, progress=False)


def test_the_message_lists_the_first_20_problems_and_counts_all(tmp_path: Path) -> None:
    rows = [f"{1723161600000 + i * 60_000},100,99,90,95,1" for i in range(30)]  # high < open on every row
    file = write(tmp_path / "bars.csv", BARS_HEADER, *rows)
    with store(tmp_path) as db, pytest.raises(RejectedFile) as caught:
        import_csv(db, file, symbol="BTC/USDT", timeframe="1m", progress=False)
    error = caught.value
    assert error.count == 30 and len(error.problems) == 20
    assert error.problems[0].startswith("line 2: ") and error.problems[-1].startswith("line 21: ")
    assert "30 bad rows of 30" in str(error) and "... and 10 more" in str(error)


def test_skip_bad_stores_the_good_rows_and_reports_the_rest(tmp_path: Path) -> None:
    bad = [BAD_BARS["high"][0], BAD_BARS["timestamp"][0]]
    file = write(tmp_path / "bars.csv", BARS_HEADER, *GOOD_BARS, *bad, "1723161900000,106,107,105,106,1")
    with store(tmp_path) as db:
        report = import_csv(db, file, symbol="BTC/USDT", timeframe="1m", skip_bad=True, progress=False)
        assert (report.rows, report.stored, report.rejected) == (6, 4, 2)
        assert [p.split(":")[0] for p in report.problems] == ["line 5", "line 6"]
        bars = db.bars("BTC/USDT", "1m", source="exchange")
    assert bars.index.asi8.tolist() == [T0_NS + i * 60 * 10**9 for i in (0, 1, 2, 5)]
    assert bars["high"].tolist() == [110.0, 106.0, 107.0, 107.0]


def test_the_same_file_imported_twice_stores_each_row_once(tmp_path: Path) -> None:
    bars = write(tmp_path / "bars.csv", BARS_HEADER, *GOOD_BARS)
    trades = write(
        tmp_path / "trades.csv", "timestamp,price,amount", "1723161600000,1,1", "1723161600000,1,1"
    )
    with store(tmp_path) as db:
        for _ in range(2):
            import_csv(db, bars, symbol="BTC/USDT", timeframe="1m", progress=False)
            second = import_csv(db, trades, symbol="BTC/USDT", progress=False)  # no ids: made from the rows
        assert (second.stored, second.duplicates) == (0, 2)
        assert db.counts()["bars"] == 3 and db.counts()["trades"] == 2  # two identical trades stay two


# --- real data and Binance's formats -----------------------------------------------------------------------


def test_binance_klines_in_ms_and_in_us_store_the_same_bars(shared_data: Path, tmp_path: Path) -> None:
    ms_file = shared_data / KLINES
    fields = [line.split(",") for line in ms_file.read_text().splitlines()]
    us_file = tmp_path / "ADABTC-1m-us.csv"
    us_file.write_text(
        "".join(",".join([f"{row[0]}000", *row[1:6], f"{row[6]}000", *row[7:]]) + "\n" for row in fields)
    )
    frames = []
    for number, file in enumerate((ms_file, us_file)):
        with Store(tmp_path / f"{number}.db") as db:
            report = import_csv(db, file, symbol="ADA/BTC", timeframe="1m", progress=False)
            assert (report.layout, report.stored, report.rejected) == ("binance-klines", len(fields), 0)
            frames.append(db.bars("ADA/BTC", "1m", source="exchange"))
    pdt.assert_frame_equal(frames[0], frames[1])
    first = frames[0].iloc[0]
    assert frames[0].index[0] == pd.Timestamp("2021-11-27", tz="UTC")
    assert first["exchange"] == "binance" and first["count"] == 79 and first["buy_volume"] == 19523.0
    assert first["sell_volume"] == pytest.approx(36304.2 - 19523.0)
    assert first["vwap"] == pytest.approx(1.03547608 / 36304.2)


def test_binance_trade_dumps_read_the_aggressor_side(tmp_path: Path) -> None:
    file = write(
        tmp_path / "BTCUSDT-trades.csv",
        "3735683259,61000.5,0.01,610.005,1723161600123,True,True",
        "3735683260,61000.6,0.02,1220.012,1723161600124,False,True",
    )
    with store(tmp_path) as db:
        assert import_csv(db, file, symbol="BTC/USDT", progress=False).layout == "binance-trades"
        trades = db.trades("BTC/USDT")
    assert trades["side"].tolist() == ["sell", "buy"] and trades["id"].tolist() == [
        "3735683259",
        "3735683260",
    ]


def test_times_are_read_in_any_unit_and_as_iso(tmp_path: Path) -> None:
    numbers = ["1723161600", "1723161600000", "1723161600000000", "1723161600000000000", "1.7231616e12"]
    text = pd.Series([*numbers, "2024-08-09T00:00:00Z", "2024-08-09 02:00:00+02:00", "x", ""])
    ns, parsed, fine = parse_times(text)
    assert ns[:7].tolist() == [T0_NS] * 7
    assert parsed.tolist() == [True] * 7 + [False, False] and fine[:7].all()


def test_real_coinbase_candles_round_trip_through_csv(shared_data: Path, tmp_path: Path) -> None:
    file, candles = coinbase_csv(shared_data, tmp_path / "btc-4h.csv")
    with Store(tmp_path / "a.db") as first:
        report = import_csv(
            first, file, symbol="BTC/USD", timeframe="4h", exchange="coinbase", progress=False
        )
        assert report.stored == len(candles) > 20_000 and report.rejected == 0
        stored = first.bars("BTC/USD", "4h", source="exchange")
        out = tmp_path / "export.csv"
        assert export(
            first, symbol="BTC/USD", timeframe="4h", format="csv", out=out, progress=False
        ).rows == len(candles)
    pdt.assert_frame_equal(
        stored[["open", "high", "low", "close", "volume"]], candles, check_index_type=False, check_names=False
    )
    with Store(tmp_path / "b.db") as second:
        again = import_csv(second, out, symbol="BTC/USD", timeframe="4h", progress=False)
        assert (again.stored, again.rejected) == (len(candles), 0)
        pdt.assert_frame_equal(second.bars("BTC/USD", "4h", source="exchange"), stored)


def trades_store(tmp_path: Path) -> Store:
    """Trades of two symbols, two exchanges and two days, some with ns times and without a side."""
    db = Store(tmp_path / "market.db")
    trades = [
        Trade(ex, sym, T0_NS - 10 * 10**9 + i * 997_000_123, T0_NS + i, str(i), 100.0 + i % 7, 0.5 + i, side)
        for i in range(20)
        for ex, sym, side in (("binance", "BTC/USDT", "buy" if i % 3 else "sell"), ("kraken", "BTC/USDT", ""))
    ]
    trades.append(Trade("binance", "ETH/USDT:USDT", T0_NS, T0_NS, "e1", 3000.0, 1.0, "buy"))
    assert not db.write_trades(trades).rejected
    return db


def test_trades_round_trip_through_csv_exactly(tmp_path: Path) -> None:
    with trades_store(tmp_path) as db:
        out = tmp_path / "trades.csv"
        assert export(db, symbol="BTC/USDT", format="csv", out=out, progress=False).rows == 40
        before = db.trades("BTC/USDT")
    with Store(tmp_path / "b.db") as other:
        report = import_csv(other, out, symbol="BTC/USDT", progress=False)
        assert (report.stored, report.rejected) == (40, 0)
        after = other.trades("BTC/USDT")
    pdt.assert_frame_equal(after.sort_values(["exchange", "id"]), before.sort_values(["exchange", "id"]))


def test_the_parquet_dataset_reads_back_with_duckdb_pyarrow_and_pandas(tmp_path: Path) -> None:
    out = tmp_path / "lake"
    with trades_store(tmp_path) as db:
        report = export(db, symbol="BTC/USDT", format="parquet", out=out, progress=False)
        export(db, symbol="ETH/USDT:USDT", format="parquet", out=out, progress=False)
        expected = db.trades("BTC/USDT")
    assert report.rows == 40 and len(report.files) == 4  # 2 exchanges x 2 days
    folders = sorted(str(f.parent.relative_to(out)) for f in report.files)
    assert folders[0] == "exchange=binance/symbol=BTC%2FUSDT/date=2024-08-08"
    assert (out / "exchange=binance/symbol=ETH%2FUSDT%3AUSDT/date=2024-08-09/trades.parquet").is_file()

    glob = f"{out}/**/*.parquet"
    counts = duckdb.sql(
        f"SELECT exchange, symbol, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert counts == [
        ("binance", "BTC/USDT", 20),
        ("binance", "ETH/USDT:USDT", 1),
        ("kraken", "BTC/USDT", 20),
    ]
    prices = duckdb.sql(
        f"SELECT price FROM read_parquet('{glob}', hive_partitioning=true) "
        "WHERE symbol = 'BTC/USDT' AND exchange = 'binance' ORDER BY timestamp"
    ).fetchall()
    assert [p for (p,) in prices] == expected[expected["exchange"] == "binance"]["price"].tolist()

    table = ds.dataset(out, format="parquet", partitioning="hive").to_table(
        filter=(ds.field("symbol") == "BTC/USDT") & (ds.field("exchange") == "kraken")
    )
    frame = table.to_pandas().sort_values("timestamp")
    kraken = expected[expected["exchange"] == "kraken"]
    assert (
        frame["id"].tolist() == kraken["id"].tolist()
        and frame["amount"].tolist() == kraken["amount"].tolist()
    )
    assert (frame["timestamp"].astype("int64") * 1000).tolist() == [
        t // 1000 * 1000 for t in kraken.index.asi8
    ]
    assert set(pd.read_parquet(out)["symbol"].astype(str)) == {"BTC/USDT", "ETH/USDT:USDT"}


def test_bars_export_to_parquet_keeps_source_and_nulls(tmp_path: Path) -> None:
    file = write(tmp_path / "bars.csv", BARS_HEADER, *GOOD_BARS)
    out = tmp_path / "lake"
    with store(tmp_path) as db:
        import_csv(db, file, symbol="BTC/USDT", timeframe="1m", exchange="okx", progress=False)
        export(db, symbol="BTC/USDT", timeframe="1m", format="parquet", out=out, progress=False)
    rows = duckdb.sql(
        f"SELECT exchange, symbol, source, close, vwap, count FROM read_parquet('{out}/**/bars-1m.parquet', "
        "hive_partitioning=true) ORDER BY timestamp"
    ).fetchall()
    assert [r[:4] for r in rows] == [("okx", "BTC/USDT", "exchange", c) for c in (105.0, 105.5, 106.0)]
    assert all(r[4] is None and r[5] == 0 for r in rows)  # OHLCV says nothing of vwap (null) or count


# --- the command line ------------------------------------------------------------------------------------


def test_mdx_import_and_export_on_the_command_line(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("MDX_DB", str(db))  # no --db: MDX_DB
    args = ["import", str(shared_data / KLINES), "--symbol", "ADA/BTC", "--timeframe", "1m"]
    assert cli.main(args) == 0
    assert "stored 10, already there 0" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "stored 0, already there 10" in capsys.readouterr().out
    out = tmp_path / "ada.csv"
    export_args = ["export", "--symbol", "ADA/BTC", "--timeframe", "1m", "--format", "csv", "--out", str(out)]
    assert cli.main([*export_args, "--start", "2021-11-27T00:03", "--end", "2021-11-27T00:05"]) == 0
    assert "exported 2 bars rows as csv" in capsys.readouterr().out
    assert out.read_text().splitlines()[1].startswith("2021-11-27T00:03:00.000Z,binance,ADA/BTC,1m,exchange,")
    other = tmp_path / "other.db"
    assert cli.main(["import", str(shared_data / TARDIS), "--symbol", "XBTUSD", "--db", str(other)]) == 0
    assert Store(other).counts()["trades"] == 10 and Store(db).counts()["trades"] == 0


def test_mdx_import_of_a_bad_file_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "bars.csv", BARS_HEADER, *GOOD_BARS, BAD_BARS["low"][0])
    db = tmp_path / "x.db"
    args = ["import", str(file), "--symbol", "BTC/USDT", "--timeframe", "1m", "--db", str(db)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mdx import: ") and "line 5: low 101.0 is above" in err and "Traceback" not in err
    assert Store(db).counts()["bars"] == 0
    assert cli.main([*args, "--skip-bad"]) == 0
    assert "stored 3, already there 0, skipped as bad 1" in capsys.readouterr().out


def test_long_files_are_read_in_chunks_with_the_right_lines(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdx.store import imports

    monkeypatch.setattr(imports, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(imports, "KEEP_ROWS", 5000)  # longer files are checked, then read again to store
    file, candles = coinbase_csv(shared_data, tmp_path / "btc-4h.csv")
    lines = file.read_text().splitlines()
    stamp = lines[12_345].split(",")[0]
    lines.insert(12_346, lines[12_345])  # line 12,347 repeats the bar of line 12,346
    bad = write(tmp_path / "bad.csv", *lines)
    with Store(tmp_path / "a.db") as db:
        with pytest.raises(RejectedFile, match=r"line 12347: time .* is not after the rows before it"):
            import_csv(db, bad, symbol="BTC/USD", timeframe="4h", progress=False)
        assert db.counts()["bars"] == 0
        report = import_csv(db, bad, symbol="BTC/USD", timeframe="4h", skip_bad=True, progress=False)
        assert (report.stored, report.rejected) == (len(candles), 1) and stamp in file.read_text()
        again = import_csv(db, file, symbol="BTC/USD", timeframe="4h", progress=False)
        assert (again.stored, again.duplicates) == (0, len(candles))


def test_a_zipped_binance_dump_imports_as_is(shared_data: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "ADABTC-1m-2021-11-27.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(shared_data / KLINES, "ADABTC-1m-2021-11-27.csv")
    with store(tmp_path) as db:
        assert import_csv(db, archive, symbol="ADA/BTC", timeframe="1m", progress=False).stored == 10
