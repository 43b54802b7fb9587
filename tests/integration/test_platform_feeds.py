"""The facade wires the feed jobs: ``tradelake run`` and ``status`` only unpack options."""

from __future__ import annotations

from pathlib import Path

from tradelake.jobs.feed_state import FeedStateStore
from tradelake.platform import Platform

CONFIG = """
[[feeds]]
name = "fed"
kind = "rss"
url = "http://127.0.0.1:9/fed.xml"
schedule = "*/5 * * * *"

[[feeds]]
name = "ecb"
kind = "atom"
url = "http://127.0.0.1:9/ecb.xml"
schedule = "0 * * * *"
"""


def test_feed_states_and_the_scheduler_come_from_the_platform(home: Path) -> None:
    (home / "tradelake.toml").write_text(CONFIG)
    platform = Platform.open(home)
    saved = FeedStateStore(platform.settings.state_dir)
    state = saved.load("fed")
    state.rows_staged_total = 42
    saved.save(state)

    pairs = platform.feed_states()
    lines: list[str] = []
    scheduler = platform.feed_scheduler(report=lines.append)

    assert [(feed.name, s.rows_staged_total) for feed, s in pairs] == [("fed", 42), ("ecb", 0)]
    assert sorted(slot.feed.name for slot in scheduler.slots) == ["ecb", "fed"]
    assert scheduler.watch is not None and scheduler.watch.folder == platform.settings.input_dir
    assert platform.settings.input_dir.is_dir()
