"""What the AI Actions calls return: the API's fields as attributes, tables as views on top.

Every value shown in HTML is escaped. Long tables are capped, in a scroll area, with a
line saying how many rows are shown; the objects themselves keep every row.
"""

from __future__ import annotations

import html
import importlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, overload

from ._action_models import AiAction, ExecuteResponse
from ._config import checked_link
from ._errors import ActionLookupError, ConfigurationError, ZapierError
from ._redact import printable
from ._tables import cell_text, html_grid, pairs_html, pairs_text, text_grid

__all__ = [
    "ActionList",
    "ActionResult",
    "RunManyResult",
    "RunRow",
    "RunStatus",
    "find_action",
]

RunStatus = Literal["success", "error", "empty", "preview", "unknown", "not_run"]


# -- data frames ----------------------------------------------------------------------------


def _frame_library(name: Literal["pandas", "polars"], method: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ZapierError(
            f"{method}() needs {name}, which is not installed here. Install it with "
            f"pip install 'zapier_nb[{name}]' (or pip install {name}), restart the kernel, "
            "and call it again."
        ) from None


def to_frame(
    library: Literal["pandas", "polars"], records: list[dict[str, Any]], columns: list[str]
) -> Any:
    module = _frame_library(library, f"to_{library}")
    if library == "pandas":
        return module.DataFrame.from_records(records, columns=columns)
    data = {column: [record.get(column) for record in records] for column in columns}
    return module.DataFrame(data, strict=False)


def record_columns(records: Iterable[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record))


# -- the list of actions --------------------------------------------------------------------


def _action_cells(action: AiAction) -> list[str]:
    meta = action.meta
    return [
        action.id,
        meta.app_label or action.app or "",
        meta.action_label or action.action or "",
        action.action_type or "",
        action.description,
        ", ".join(action.required_inputs),
    ]


_ACTION_HEADERS = ("id", "app", "action", "type", "description", "required inputs")


class ActionList(list[AiAction]):
    """`GET /api/v2/ai-actions/`: the stored actions (a list) and `configuration_link`."""

    def __init__(self, results: Iterable[AiAction], configuration_link: str) -> None:
        super().__init__(results)
        self.configuration_link = configuration_link

    @property
    def results(self) -> list[AiAction]:
        """The actions, as the API's field name has them."""
        return list(self)

    def find(self, query: str) -> AiAction:
        """The one action whose id, `app/action` or description matches `query`."""
        return find_action(self, query)

    def _caption(self) -> str:
        return f"Zapier AI Actions: {len(self)} action{'s' if len(self) != 1 else ''}"

    def _link(self) -> str | None:
        """`configuration_link` if it is safe to show: https, or http on loopback."""
        link = self.configuration_link
        if printable(link) != link:
            return None
        try:
            return checked_link(link, "")
        except ConfigurationError:
            return None

    def _repr_html_(self) -> str:
        rows = [_action_cells(a) for a in self]
        table = html_grid(_ACTION_HEADERS, rows, caption=self._caption(), noun="actions")
        link = self._link()
        if link is None:
            return table
        href = html.escape(link, quote=True)
        return table + (
            f'<p>Configure more actions: <a href="{href}" target="_blank" '
            f'rel="noopener noreferrer">{href}</a></p>'
        )

    def __repr__(self) -> str:
        rows = [_action_cells(a) for a in self]
        table = text_grid(_ACTION_HEADERS, rows, caption=self._caption(), noun="actions")
        link = self._link()
        return table if link is None else f"{table}\nConfigure more actions: {link}"

    __str__ = __repr__

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(_ACTION_HEADERS, _action_cells(a), strict=True)) for a in self]

    def to_pandas(self) -> Any:
        """A pandas DataFrame with the table's columns."""
        return to_frame("pandas", self.records(), list(_ACTION_HEADERS))

    def to_polars(self) -> Any:
        """A polars DataFrame with the table's columns."""
        return to_frame("polars", self.records(), list(_ACTION_HEADERS))


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def find_action(actions: Sequence[AiAction], query: str) -> AiAction:
    """Match, in this order: the id, `app/action`, the whole description, words of it.

    Each step that finds exactly one action wins; a step that finds several is ambiguous.
    """
    wanted = _norm(query)
    if not wanted:
        raise ActionLookupError(
            "No action was named. Give an action id, an app/action key, or words of its "
            "description.",
            query=query,
            candidates=[],
        )
    steps = (
        lambda a: a.id == query.strip(),
        lambda a: _norm(a.key) == wanted,
        lambda a: _norm(a.description) == wanted,
        lambda a: all(word in _norm(f"{a.description} {a.key}") for word in wanted.split()),
    )
    for matches in steps:
        found = [a for a in actions if matches(a)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"{a.id} ({a.description})" for a in found[:10])
            more = f" and {len(found) - 10} more" if len(found) > 10 else ""
            raise ActionLookupError(
                f"{query!r} matches {len(found)} actions: {listed}{more}. Use the id, or more "
                "words of the description.",
                query=query,
                candidates=[(a.id, a.description) for a in found],
            )
    raise ActionLookupError(
        f"No AI Action matches {query!r}. List them with list_actions() or %zapier_actions; "
        "add more on the configuration page.",
        query=query,
        candidates=[],
    )


# -- one run ------------------------------------------------------------------------------


class ActionResult(ExecuteResponse):
    """An execute, preview or rate answer; `results` are the records the action returned."""

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self.results or [])

    @property
    def columns(self) -> list[str]:
        """The result keys, in the order they first appear."""
        return record_columns(self.records)

    def labels(self) -> dict[str, str]:
        """Column titles: `result_field_labels` where given, else the key."""
        given = self.result_field_labels or {}
        return {key: given.get(key) or key for key in self.columns}

    def _summary(self) -> list[tuple[str, str]]:
        pairs = [
            ("status", self.status),
            ("action_used", self.action_used),
            ("resolved_params", cell_text(self.resolved_params) or "none"),
        ]
        if self.error:
            pairs.append(("error", self.error))
        pairs.append(("execution_log_id", self.execution_log_id))
        return pairs

    def _caption(self) -> str:
        what = {
            "success": "ran",
            "preview": "preview (nothing was run)",
            "empty": "nothing found",
            "error": "FAILED",
        }.get(self.status, self.status)
        return f"Zapier AI Actions: {self.action_used}: {what}"

    def _grid(self) -> tuple[list[str], list[list[str]]]:
        labels = self.labels()
        return list(labels.values()), [
            [cell_text(record.get(key)) for key in labels] for record in self.records
        ]

    def _repr_html_(self) -> str:
        color = "#b00020" if self.status == "error" else "inherit"
        parts = [f'<div class="zapier-nb-result" style="color:{color}">']
        parts.append(pairs_html(self._caption(), self._summary()))
        parts.append("</div>")
        if self.records:
            headers, rows = self._grid()
            parts.append(html_grid(headers, rows, caption="results", noun="records"))
        return "".join(parts)

    def __repr__(self) -> str:
        text = pairs_text(self._caption(), self._summary())
        if self.records:
            headers, rows = self._grid()
            text += "\n\n" + text_grid(headers, rows, caption="results", noun="records")
        return text

    __str__ = __repr__

    def to_pandas(self, *, labels: bool = False) -> Any:
        """The records as a pandas DataFrame; `labels=True` titles the columns with the labels."""
        return to_frame("pandas", *self._frame_data(labels))

    def to_polars(self, *, labels: bool = False) -> Any:
        """The records as a polars DataFrame; `labels=True` titles the columns with the labels."""
        return to_frame("polars", *self._frame_data(labels))

    def _frame_data(self, labels: bool) -> tuple[list[dict[str, Any]], list[str]]:
        if not labels:
            return self.records, self.columns
        names = self.labels()
        renamed = [{names[k]: v for k, v in record.items()} for record in self.records]
        return renamed, list(dict.fromkeys(names.values()))


# -- many runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One input of `run_many` and what became of it.

    `status` is the API's (`success`, `error`, `empty`, `preview`), or `unknown` when the
    answer was lost after the request was sent (the action may have run), or `not_run`.
    `given` is the input as the table shows it: a row's own values, or the instructions.
    """

    index: int
    instructions: str
    status: RunStatus
    error: str | None = None
    result: ActionResult | None = None
    given: str | None = None

    @property
    def input(self) -> str:
        """The input as given: a row's own values, or the instructions."""
        return self.instructions if self.given is None else self.given

    @property
    def results(self) -> list[dict[str, Any]]:
        return self.result.records if self.result is not None else []

    @property
    def execution_log_id(self) -> str | None:
        return self.result.execution_log_id if self.result is not None else None


_RUN_HEADERS = ("input", "instructions", "status", "error", "results", "execution_log_id")


def _results_cell(row: RunRow) -> str:
    records = row.results
    if not records:
        return ""
    first = cell_text(records[0])
    return first if len(records) == 1 else f"{len(records)} records: {first}, …"


class _Row(Protocol):
    @property
    def status(self) -> str: ...


R = TypeVar("R", bound=_Row)


class RunOutcome(Sequence[R]):
    """What a `run_many` gives: one row per input, in input order, and how the run ended.

    A kind of run gives its headers, caption, grid and frame columns; the summary, the
    tables and the DataFrames are drawn here for every kind alike.
    """

    _headers: tuple[str, ...] = ()

    def __init__(
        self,
        rows: Sequence[R],
        *,
        interrupted: bool = False,
        stopped_by: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.rows = list(rows)
        self.interrupted = interrupted
        self.stopped_by = stopped_by
        self.seconds = seconds

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> list[R]: ...
    def __getitem__(self, index: int | slice) -> R | list[R]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[R]:
        return iter(self.rows)

    @property
    def counts(self) -> Counter[str]:
        """How many rows ended in each status."""
        return Counter(row.status for row in self.rows)

    @property
    def not_run(self) -> int:
        return self.counts["not_run"]

    def summary(self) -> str:
        counts = self.counts
        parts = [f"{n} {status}" for status, n in sorted(counts.items()) if status != "not_run"]
        text = f"{len(self.rows)} inputs in {self.seconds:.1f} s: {', '.join(parts) or 'none ran'}."
        if self.interrupted:
            text += f" Interrupted: {self.not_run} did not run."
        elif self.stopped_by:
            text += f" Stopped: {self.stopped_by} {self.not_run} did not run."
        return text

    def _grid(self) -> list[list[str]]:
        raise NotImplementedError

    def _caption(self) -> str:
        raise NotImplementedError

    def _frame_data(self, records: bool) -> tuple[list[dict[str, Any]], list[str]]:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        color = "#b00020" if self.interrupted or self.stopped_by else "inherit"
        note = f'<p style="color:{color}">{html.escape(self.summary())}</p>'
        return note + html_grid(self._headers, self._grid(), caption=self._caption(), noun="inputs")

    def __repr__(self) -> str:
        table = text_grid(self._headers, self._grid(), caption=self._caption(), noun="inputs")
        return f"{printable(self.summary())}\n{table}"

    __str__ = __repr__

    def to_pandas(self, *, records: bool = False) -> Any:
        """One row per input; `records=True`: one row per returned record, with its `input`."""
        return to_frame("pandas", *self._frame_data(records))

    def to_polars(self, *, records: bool = False) -> Any:
        """One row per input; `records=True`: one row per returned record, with its `input`."""
        return to_frame("polars", *self._frame_data(records))


class RunManyResult(RunOutcome[RunRow]):
    """One row per input of AI Actions' `run_many`, in input order."""

    _headers = _RUN_HEADERS

    def __init__(
        self,
        rows: Sequence[RunRow],
        *,
        action: str,
        interrupted: bool = False,
        stopped_by: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        super().__init__(rows, interrupted=interrupted, stopped_by=stopped_by, seconds=seconds)
        self.action = action

    def _grid(self) -> list[list[str]]:
        return [
            [
                row.input,
                row.instructions,
                row.status,
                row.error or "",
                _results_cell(row),
                row.execution_log_id or "",
            ]
            for row in self.rows
        ]

    def _caption(self) -> str:
        return f"Zapier AI Actions: {self.action}, run {len(self.rows)} times"

    def _frame_data(self, records: bool) -> tuple[list[dict[str, Any]], list[str]]:
        if records:
            rows = [{"input": r.index, **record} for r in self.rows for record in r.results]
            return rows, ["input", *[c for c in record_columns(rows) if c != "input"]]
        rows = [
            {
                "input": r.input,
                "instructions": r.instructions,
                "status": r.status,
                "error": r.error,
                "results": r.results,
                "execution_log_id": r.execution_log_id,
            }
            for r in self.rows
        ]
        return rows, list(_RUN_HEADERS)
