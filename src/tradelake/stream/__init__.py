"""The real-time path: screen frames → gateway → queue → CV service → signals → alerts.

Landing is the source of truth: the queue only carries work (ids and small JSON), and
anything the queue loses is found again by comparing landing with ``img_signals``.
"""
