"""Fixtures every integration test may ask for by name: the scripted feed server and the pull
wiring of :mod:`fixtures.feed_server` (``server``, ``real_env``, ``states``, ``sleeps``,
``fast``)."""

from fixtures.feed_server import fast, real_env, server, sleeps, states

__all__ = ["fast", "real_env", "server", "sleeps", "states"]
