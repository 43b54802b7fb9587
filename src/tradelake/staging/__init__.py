"""Staging: validated, columnar Parquet partitioned by date and source, plus quarantine."""

from tradelake.staging.quarantine import Quarantine
from tradelake.staging.writer import StageResult, StagingWriter

__all__ = ["Quarantine", "StageResult", "StagingWriter"]
