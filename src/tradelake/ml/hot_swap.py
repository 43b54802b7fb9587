"""Hot swap: follow an MLflow alias and swap the served model when it moves.

MLflow has no reload on alias change (MLflow issue 4039), so :class:`AliasWatcher` polls
``<name>@<alias>`` every ``poll_s`` on a daemon thread. When the alias names another version,
that version is loaded completely on the watcher's thread (by version number, so an alias
moving again mid-load cannot mix two versions) and only then published as the new
:class:`Served` pair in one reference assignment. A caller reads :attr:`AliasWatcher.served`
once per request (or batch) and uses that pair throughout: a request in flight finishes on the
model it started with, no request waits for a load, and a version that fails to load leaves
the old one serving (the failure is logged).

Used by the CV service for ``[vision] model = "models:/chart_cnn@champion"``
(:mod:`tradelake.stream.model_watch`) and by ``POST /api/score`` for the signal ensemble.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tradelake.ml.model_registry import alias_version

logger = logging.getLogger(__name__)
M = TypeVar("M")


@dataclass(frozen=True)
class Served(Generic[M]):
    """A loaded model and the registry version it is."""

    version: str
    model: M


class AliasWatcher(Generic[M]):
    """The model ``name@alias`` names now, swapped in when the alias moves."""

    def __init__(
        self,
        name: str,
        alias: str,
        tracking_uri: str | None,
        loader: Callable[[str], M],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.name, self.alias = name, alias
        self._uri = tracking_uri
        self._loader = loader
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_lock = threading.Lock()
        self.served: Served[M] | None = None
        self.swaps = 0

    def check_now(self) -> bool:
        """Read the alias once; True when another version was loaded and swapped in.

        Raises what the loader raises (the polling thread logs it and keeps the old model).
        """
        with self._load_lock:
            version = alias_version(self._uri, self.name, self.alias)
            current = self.served
            if version is None or (current is not None and current.version == version):
                return False
            loaded = Served(version, self._loader(version))
            self.served = loaded  # the one switch: readers see the old pair or the new one
            self.swaps += 1
        logger.info("model %s@%s moved to version %s", self.name, self.alias, version)
        return True

    def start(self) -> None:
        """Start polling on a daemon thread; its first look at the alias is immediate, so a
        server starts without waiting for the registry (the first load, if any, follows)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._watch, name=f"alias-watch-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_now()
            except Exception:  # a bad new version: keep serving the old one
                current = self.served.version if self.served else None
                logger.exception(
                    "swap of %s@%s failed, still serving version %s", self.name, self.alias, current
                )
            self._stop.wait(self._poll_s)
