"""The source seam: a parser turns one landed object's bytes into staged-table frames.

A new producer is one module with a function decorated by :func:`register_parser`; the ingest
job, replay and the stream workers find it here by source name. Parsers are pure (bytes in,
frames out): they never touch landing, staging or the feature store, so batch and stream share
them and tests can call them on plain bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.instruments import InstrumentTable
from tradelake.staging.quarantine import Quarantine

TableReady = Callable[[str, pl.DataFrame, Quarantine], None]


@dataclass(frozen=True)
class ParseContext:
    """What a parser may need beyond the bytes.

    ``timezone`` is the producer's local zone (ATAS exports); ``source`` is the landing source
    the rows will be tagged with (e.g. ``rss:fed-press``); ``options`` are the feed's
    kind-specific settings from ``[[feeds]]`` (column mappings, series ids, ...); ``ingest_ts``
    is when the landing object was written (when we learned its content).

    ``table_ready``, when set, is called (from any thread) with a table's final frame and
    quarantine as soon as the parser has them, before it returns: the ingest job starts
    staging that table while the parser still reads the rest (an ATAS Journal sheet while the
    longer Executions sheet loads). The table is still in the returned :class:`ParseResult`,
    and the parser must not touch that frame or quarantine afterwards.
    """

    timezone: str = "UTC"
    instruments: InstrumentTable = field(default_factory=InstrumentTable)
    source: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    ingest_ts: datetime | None = None
    table_ready: TableReady | None = None

    def hand_over(self, table: str, frame: pl.DataFrame, quarantine: Quarantine) -> None:
        """Tell the caller that ``table`` is final (a no-op without ``table_ready``)."""
        if self.table_ready is not None:
            self.table_ready(table, frame, quarantine)


@dataclass
class ParseResult:
    """Frames per staged table (matching its TableSpec content), their quarantines and notes."""

    frames: dict[str, pl.DataFrame]
    quarantine: dict[str, Quarantine]
    notes: list[str] = field(default_factory=list)


Parser = Callable[[bytes, str, ParseContext], ParseResult]


@dataclass(frozen=True)
class SourceDef:
    """A registered producer: its parser, the file suffixes it accepts and its content type.

    ``local_time`` marks a producer whose times carry no offset and are read in
    :attr:`ParseContext.timezone` (ATAS exports): the ingest warns when that zone is only the
    fallback."""

    name: str
    parse: Parser
    suffixes: tuple[str, ...]
    content_type: str
    local_time: bool = False


SOURCES: dict[str, SourceDef] = {}


def register_parser(
    name: str, *, suffixes: tuple[str, ...], content_type: str, local_time: bool = False
) -> Callable[[Parser], Parser]:
    """Register ``parse`` as the parser of source ``name``."""

    def decorate(parse: Parser) -> Parser:
        SOURCES[name] = SourceDef(name, parse, suffixes, content_type, local_time)
        return parse

    return decorate


def get_source(name: str) -> SourceDef:
    """The registered source ``name`` (importing the built-in source modules on first use)."""
    import tradelake.sources  # noqa: F401  (registers the built-in parsers)

    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES)) or "none"
        raise KeyError(f"unknown source {name!r}; registered sources: {known}") from None


def accepted_suffixes() -> frozenset[str]:
    """Every suffix a dropped file may have (``.xlsx``, ``.png``, ...), lower case."""
    import tradelake.sources  # noqa: F401  (registers the built-in parsers)

    return frozenset(suffix for source in SOURCES.values() for suffix in source.suffixes)


def source_for_path(path: Path) -> SourceDef:
    """The file-dropped source that accepts ``path``'s suffix (``.xlsx`` → ATAS)."""
    import tradelake.sources  # noqa: F401  (registers the built-in parsers)

    suffix = path.suffix.lower()
    for source in SOURCES.values():
        if suffix in source.suffixes:
            return source
    accepted = sorted(accepted_suffixes())
    raise SourceFormatError(
        f"{path}: unsupported file type {suffix or '(none)'}; "
        f"tradelake ingest accepts {', '.join(accepted)} files."
    )
