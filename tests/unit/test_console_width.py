"""Tables at 80 columns keep money and dates whole; piped output is plain aligned text."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import polars as pl
import pytest
from rich.console import Console as RichConsole

from tradelake.console import Console

STATS_COLUMNS = [
    *("key", "currency", "trades", "wins", "losses", "win_rate", "gross_wins", "gross_losses"),
    *("profit_factor", "expectancy", "avg_win", "avg_loss", "largest_win", "largest_loss"),
    *("max_drawdown", "net_total"),
]


def _stats() -> pl.DataFrame:
    values: dict[str, list[object]] = {
        name: [-1940.123 - i] for i, name in enumerate(STATS_COLUMNS)
    }
    values.update(key=["APEX-88731"], currency=["USD"], trades=[1087], wins=[433], losses=[654])
    values.update(win_rate=[0.3983], profit_factor=[0.4632])
    return pl.DataFrame(values)


def _terminal(width: int, *, wide: bool = False) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    out = RichConsole(file=buffer, width=width, force_terminal=True, color_system=None)
    return Console(wide=wide, out=out), buffer


def test_stats_at_80_columns_keeps_every_amount_it_shows_whole_and_names_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, buffer = _terminal(80)
    console.frame(_stats(), priority=("key", "trades", "win_rate", "net_total", "expectancy"))
    text = buffer.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "-1,955.12" in text  # net_total, the 16th column, kept by priority
    assert "-1,949.12" in text  # expectancy
    hidden = capsys.readouterr().err
    assert "hidden at 80 characters" in hidden and "--wide" in hidden
    for name in STATS_COLUMNS:  # every column is either shown or named as hidden
        assert name in text.replace("\n", "") or name in hidden.replace("\n", "")


def test_dates_and_money_survive_a_narrow_table_with_long_text() -> None:
    frame = pl.DataFrame(
        {
            "session_date": [date(2025, 10, 24)],
            "open_ts": [datetime(2025, 10, 24, 18, 51, 25, 451000, tzinfo=UTC)],
            "account": ["A-VERY-LONG-ACCOUNT-NAME-THAT-MUST-FOLD"],
            "net_pnl": [-1940.5],
        }
    )
    console, buffer = _terminal(70)
    console.frame(frame)
    text = buffer.getvalue()
    assert "2025-10-24" in text and "2025-10-24 18:51:25.451Z" in text and "-1,940.50" in text
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 70
    assert "A-VERY-L" in text  # folded, not cut
    assert "MUST-FOLD".replace("-", "") in text.replace("\n", "").replace(" ", "").replace(
        "│", ""
    ).replace("-", "")


def test_wide_shows_every_column_past_the_terminal_width() -> None:
    console, buffer = _terminal(80, wide=True)
    console.frame(_stats())
    text = buffer.getvalue()
    for name in STATS_COLUMNS:
        assert name in text
    assert max(len(line) for line in text.splitlines()) > 80


def test_piped_output_is_plain_aligned_text_with_every_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Console().frame(_stats())  # pytest's captured stdout is not a terminal
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == STATS_COLUMNS
    assert "┃" not in "".join(lines) and "…" not in "".join(lines)
    cells = lines[1].split()
    assert cells[0] == "APEX-88731" and cells[-1] == "-1,955.12" and len(cells) == 16
    assert len(lines[0].rstrip()) <= len(lines[1])  # aligned: the header spans the row


def test_progress_counts_items_then_names_the_refresh() -> None:
    console, _ = _terminal(80)
    shown = io.StringIO()
    console.err = RichConsole(file=shown, width=80, force_terminal=True, color_system=None)
    with console.progress(3, "ingesting", then="refreshing the feature store") as advance:
        for name in ("a", "b", "c"):
            advance(name)
    text = shown.getvalue()
    assert "3/3" in text and "refreshing the feature store" in text


def test_one_large_file_moves_through_its_stages_on_a_bar() -> None:
    console, _ = _terminal(100)
    single = io.StringIO()
    console.err = RichConsole(file=single, width=100, force_terminal=True, color_system=None)
    with console.progress(1, "ingesting") as bar:
        assert "ingesting" in single.getvalue()  # visible while the one big file runs
        bar.stage("parsing [big].xlsx", 0.05)
        assert "parsing [big].xlsx" in single.getvalue()  # a file name is not markup
        assert "0/1" in single.getvalue()
        bar.stage("staging [big].xlsx", 0.6)
        assert "staging [big].xlsx" in single.getvalue()
        bar("big.xlsx")
        bar.stage("refreshing the feature store")
        assert "1/1" in single.getvalue()
    assert "refreshing the feature store" in single.getvalue()
    quiet = Console(json_mode=True)
    with quiet.progress(2, "ingesting") as bar:
        bar.stage("parsing a.xlsx", 0.5)  # no bar, no output, no error
        bar("a.xlsx")
    assert bar.done == 1
