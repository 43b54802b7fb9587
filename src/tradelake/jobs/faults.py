"""Named crash points for the crash-safety tests.

``TRADELAKE_CRASH_AT=<point>`` makes the process die (``os._exit``, no cleanup, like SIGKILL) the
first time it reaches that point, so a test can prove that re-running after a crash anywhere in
an ingest yields the same tables as a clean run. Unset, it costs one dict lookup.
"""

from __future__ import annotations

import os

CRASH_ENV = "TRADELAKE_CRASH_AT"
CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    """Die here if the environment asks for a crash at ``name``."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT_CODE)
