"""``python -m tradelake`` is the ``tradelake`` command."""

from tradelake.cli import main

main()
