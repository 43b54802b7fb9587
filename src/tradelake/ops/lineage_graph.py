"""Lineage read back from the run events: what ``tradelake lineage TABLE|RUN_ID`` prints.

The events file (:mod:`tradelake.ops.lineage`) holds START and COMPLETE/FAIL events; a run's
datasets are the union of its events'. From a dataset, *upstream* is the runs that wrote it and,
recursively, what those runs read; *downstream* is the runs that read it and what they wrote.

A table written by every ingest would list every run ever, so each dataset shows at most
``limit`` writers (or readers): first those that share another input with the run the walk came
from (the CV window that scored *this* alert's frame, not every window), then the newest; the
rest are counted. The walk stops at ``depth`` runs and expands a run once: where it shows up
again (a file's ingest wrote both ``trades_raw`` and ``atas_journal``) it is listed with
``"repeated": true`` and no children, so the output stays the size of the graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelake.errors import LineageError
from tradelake.ops.lineage import Dataset


@dataclass
class RunNode:
    """One run as its events describe it (times are ISO 8601 strings, UTC)."""

    run_id: str
    job: str
    state: str = "START"
    started: str = ""
    ended: str | None = None
    error: str | None = None
    parent: str | None = None
    inputs: set[Dataset] = field(default_factory=set)
    outputs: set[Dataset] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "state": self.state,
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
            "parent_run_id": self.parent,
        }


class LineageGraph:
    """Runs and datasets from a list of events."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.runs: dict[str, RunNode] = {}
        self.writers: dict[Dataset, list[str]] = defaultdict(list)
        self.readers: dict[Dataset, list[str]] = defaultdict(list)
        for event in events:
            self._add(event)
        for run in self.runs.values():
            for dataset in run.outputs:
                self.writers[dataset].append(run.run_id)
            for dataset in run.inputs:
                self.readers[dataset].append(run.run_id)

    def _add(self, event: dict[str, Any]) -> None:
        run_id = str(event.get("run", {}).get("runId", ""))
        if not run_id:
            return
        job = event.get("job", {})
        run = self.runs.setdefault(run_id, RunNode(run_id, str(job.get("name", ""))))
        state, when = str(event.get("eventType", "")), str(event.get("eventTime", ""))
        if state == "START":
            run.started = when
        else:
            run.state, run.ended = state, when
        facets = event.get("run", {}).get("facets") or {}
        if "errorMessage" in facets:
            run.error = str(facets["errorMessage"].get("message"))
        if "parent" in facets:
            run.parent = str(facets["parent"].get("run", {}).get("runId"))
        run.inputs.update(_datasets(event.get("inputs")))
        run.outputs.update(_datasets(event.get("outputs")))

    # -- lookups -------------------------------------------------------------------------------

    def find_run(self, query: str) -> RunNode | None:
        """A run by its id or an unambiguous prefix of at least 8 characters."""
        if query in self.runs:
            return self.runs[query]
        if len(query) >= 8:
            found = [run for run_id, run in self.runs.items() if run_id.startswith(query)]
            if len(found) == 1:
                return found[0]
        return None

    def find_datasets(self, query: str) -> list[Dataset]:
        """Datasets named ``query`` exactly, else whose name ends in ``/query`` (an alert id, a
        landing id), else whose ``namespace/name`` is ``query``."""
        known = set(self.writers) | set(self.readers)
        exact = [d for d in known if d.name == query]
        if exact:
            return sorted(exact)
        tail = [d for d in known if d.name.endswith(f"/{query}")]
        if tail:
            return sorted(tail)
        return sorted(d for d in known if f"{d.namespace}/{d.name}" == query)

    # -- walks ---------------------------------------------------------------------------------

    def upstream(self, dataset: Dataset, *, depth: int, limit: int) -> dict[str, Any]:
        return self._walk(dataset, "up", depth, limit, set(), None)

    def downstream(self, dataset: Dataset, *, depth: int, limit: int) -> dict[str, Any]:
        return self._walk(dataset, "down", depth, limit, set(), None)

    def run_tree(self, run: RunNode, *, depth: int, limit: int) -> dict[str, Any]:
        """A run with what it read (and their upstream) and what it wrote (and downstream)."""
        seen = {run.run_id}
        return {
            **run.summary(),
            "inputs": [
                self._walk(d, "up", depth, limit, set(seen), run) for d in sorted(run.inputs)
            ],
            "outputs": [
                self._walk(d, "down", depth, limit, set(seen), run) for d in sorted(run.outputs)
            ],
        }

    def _walk(
        self,
        dataset: Dataset,
        direction: str,
        depth: int,
        limit: int,
        seen: set[str],
        came_from: RunNode | None,
    ) -> dict[str, Any]:
        node: dict[str, Any] = dataset.to_dict()
        ids = self.writers if direction == "up" else self.readers
        candidates = [
            self.runs[i] for i in ids.get(dataset, []) if i != getattr(came_from, "run_id", None)
        ]
        key = "written_by" if direction == "up" else "read_by"
        if depth <= 0 or not candidates:
            node[key] = []
            if candidates:
                node["more_runs"] = len(candidates)
            return node
        chosen = _rank(candidates, came_from)[:limit]
        node[key] = []
        for run in chosen:
            step = run.summary()
            if run.run_id in seen:
                node[key].append({**step, "repeated": True})
                continue
            seen.add(run.run_id)
            nexts = run.inputs if direction == "up" else run.outputs
            step["inputs" if direction == "up" else "outputs"] = [
                self._walk(d, direction, depth - 1, limit, seen, run)
                for d in sorted(nexts)
                if d != dataset
            ]
            node[key].append(step)
        if len(candidates) > len(chosen):
            node["more_runs"] = len(candidates) - len(chosen)
        return node


def _rank(candidates: Sequence[RunNode], came_from: RunNode | None) -> list[RunNode]:
    """Runs that share a dataset with the run the walk came from first, then newest first."""
    near = (came_from.inputs | came_from.outputs) if came_from is not None else set()

    def order(run: RunNode) -> tuple[bool, str]:
        shared = bool(near & (run.inputs | run.outputs) - _topics(near))
        return (shared, run.started)

    return sorted(candidates, key=order, reverse=True)


def _topics(datasets: set[Dataset]) -> set[Dataset]:
    """Queue topics are shared by every stream run; sharing one says nothing."""
    return {d for d in datasets if d.namespace.startswith("queue://")}


def _datasets(raw: Any) -> list[Dataset]:
    return [Dataset(str(d.get("namespace", "")), str(d.get("name", ""))) for d in raw or []]


def lineage_of(
    events: Iterable[dict[str, Any]], query: str, *, depth: int = 6, limit: int = 5
) -> dict[str, Any]:
    """What ``tradelake lineage QUERY`` shows: a run (by id) with its inputs' upstream and its
    outputs' downstream, or each matching dataset with its upstream and downstream."""
    graph = LineageGraph(events)
    run = graph.find_run(query)
    if run is not None:
        return {"run": graph.run_tree(run, depth=depth, limit=limit)}
    found = graph.find_datasets(query)
    if not found:
        raise LineageError(
            f"no run or dataset {query!r} in the lineage events; name a table (trades_raw, "
            "daily_pnl), an alert or landing id, or a run id from `tradelake lineage --runs`"
        )
    return {
        "datasets": [
            {
                **d.to_dict(),
                "upstream": graph.upstream(d, depth=depth, limit=limit)["written_by"],
                "downstream": graph.downstream(d, depth=depth, limit=limit)["read_by"],
            }
            for d in found
        ]
    }


def recent_runs(events: Iterable[dict[str, Any]], last: int) -> list[dict[str, Any]]:
    """The newest ``last`` runs (one row each), newest first."""
    graph = LineageGraph(events)
    runs = sorted(graph.runs.values(), key=lambda r: r.started, reverse=True)[:last]
    return [{**r.summary(), "inputs": len(r.inputs), "outputs": len(r.outputs)} for r in runs]


def tree_lines(result: dict[str, Any]) -> list[str]:
    """The human form of :func:`lineage_of`: one indented line per run and dataset."""
    lines: list[str] = []
    if "run" in result:
        run = result["run"]
        lines.append(_run_line(run))
        for dataset in run["inputs"]:
            lines += _dataset_lines(dataset, "written_by", "inputs", 1, "<- ")
        for dataset in run["outputs"]:
            lines += _dataset_lines(dataset, "read_by", "outputs", 1, "-> ")
        return lines
    for dataset in result["datasets"]:
        lines.append(f"{dataset['namespace']}  {dataset['name']}")
        lines.append("  upstream:")
        for step in dataset["upstream"]:
            lines += _run_lines(step, "inputs", "written_by", 2, "<- ")
        lines.append("  downstream:")
        for step in dataset["downstream"]:
            lines += _run_lines(step, "outputs", "read_by", 2, "-> ")
    return lines


def _run_line(run: dict[str, Any]) -> str:
    error = f"  ({run['error']})" if run.get("error") else ""
    return f"{run['job']} [{run['state']}] run {run['run_id']} at {run['started']}{error}"


def _run_lines(run: dict[str, Any], nexts: str, key: str, level: int, arrow: str) -> list[str]:
    repeated = " (shown above)" if run.get("repeated") else ""
    lines = ["  " * level + arrow + _run_line(run) + repeated]
    for dataset in run.get(nexts, []):
        lines += _dataset_lines(dataset, key, nexts, level + 1, arrow)
    return lines


def _dataset_lines(
    dataset: dict[str, Any], key: str, nexts: str, level: int, arrow: str
) -> list[str]:
    lines = ["  " * level + f"{arrow}{dataset['name']}  ({dataset['namespace']})"]
    for run in dataset.get(key, []):
        lines += _run_lines(run, nexts, key, level + 1, arrow)
    if dataset.get("more_runs"):
        lines.append("  " * (level + 1) + f"... {dataset['more_runs']} more run(s)")
    return lines
