"""Result objects and their tables: pure code, no server."""

from __future__ import annotations

import sys
import time

import pytest

from zapier_nb import (
    ActionList,
    ActionLookupError,
    ActionResult,
    AiAction,
    ConfigurationError,
    ZapierError,
)
from zapier_nb._action_models import ParamConstraint, constraints_from
from zapier_nb._results import RunManyResult, RunRow


def result(**fields: object) -> ActionResult:
    base = {"execution_log_id": "LOG1", "action_used": "Demo: Act", "status": "success"}
    return ActionResult.model_validate({**base, **fields})


def test_column_titles_come_from_the_labels_and_values_are_escaped() -> None:
    r = result(
        results=[{"name": "<script>alert(1)</script>", "n": 2, "tags": ["a", "b"]}],
        result_field_labels={"name": "Full name"},
    )
    html = r._repr_html_()
    assert ">Full name</th>" in html
    assert ">n</th>" in html  # no label: the key
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert '["a", "b"]' in repr(r)
    assert r.labels() == {"name": "Full name", "n": "n", "tags": "tags"}


def test_the_api_fields_are_attributes() -> None:
    r = result(results=[{"a": 1}], resolved_params={"x": "y"}, error=None, future_field=3)
    assert (r.status, r.execution_log_id, r.action_used) == ("success", "LOG1", "Demo: Act")
    assert r.results == [{"a": 1}]
    assert r.resolved_params == {"x": "y"}
    assert r.model_extra == {"future_field": 3}


def test_long_tables_are_capped_and_say_so() -> None:
    r = result(results=[{"i": i} for i in range(1000)])
    html = r._repr_html_()
    records_table = html.split(">results</caption>")[1]
    assert records_table.count("<tr>") == 200 + 1  # capped rows, plus the header
    assert "Showing 200 of 1000 records" in html
    assert "overflow:auto" in html
    assert "Showing 30 of 1000 records" in repr(r)
    assert len(r.results or []) == 1000


def test_data_frames_with_and_without_labels() -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    r = result(results=[{"a": 1, "b": "x"}, {"a": 2}], result_field_labels={"a": "Alpha"})
    assert list(r.to_pandas().columns) == ["a", "b"]
    assert list(r.to_pandas(labels=True).columns) == ["Alpha", "b"]
    assert r.to_polars()["a"].to_list() == [1, 2]
    assert result(results=[]).to_pandas().empty


def test_a_missing_library_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ZapierError, match=r"pip install 'zapier_nb\[polars\]'"):
        result(results=[{"a": 1}]).to_polars()


def action(i: str, description: str, app: str = "App", key: str = "act") -> AiAction:
    return AiAction(id=i, description=description, app=app, action=key)


def test_find_prefers_exact_matches_then_words() -> None:
    actions = ActionList(
        [
            action("A" * 26, "Slack: Send Message", "SlackAPI", "send"),
            action("B" * 26, "Slack: Send Message Later", "SlackAPI", "later"),
        ],
        "https://example.com/config",
    )
    assert actions.find("slack: send message").id == "A" * 26  # whole description
    assert actions.find("slackapi/later").id == "B" * 26
    with pytest.raises(ActionLookupError) as info:
        actions.find("send message")
    assert len(info.value.candidates) == 2
    with pytest.raises(ActionLookupError, match="No action was named"):
        actions.find("  ")


def test_plain_params_are_locked_and_constraints_are_checked() -> None:
    got = constraints_from(
        {
            "a": "x",
            "b": 3,
            "c": True,
            "d": ["1", 2],
            "e": {"k": "v"},
            "f": ParamConstraint.ignored(),
        }
    )
    assert got is not None
    assert {k: (v.mode, v.value) for k, v in got.items()} == {
        "a": ("locked", "x"),
        "b": ("locked", "3"),
        "c": ("locked", "true"),
        "d": ("locked", ["1", "2"]),
        "e": ("locked", {"k": "v"}),
        "f": ("ignored", None),
    }
    with pytest.raises(ConfigurationError):
        constraints_from({"a": {"mode": "guess", "value": "x", "extra": 1}})
    with pytest.raises(ConfigurationError):
        constraints_from({"a": object()})


def test_run_many_result_table_and_summary() -> None:
    rows = [
        RunRow(0, "first", "success", None, result(results=[{"a": 1}, {"a": 2}])),
        RunRow(1, "second", "error", "it broke"),
        RunRow(2, "third", "not_run", "interrupted before it was sent"),
    ]
    many = RunManyResult(rows, action="Demo: Act", interrupted=True, seconds=1.25)
    assert many.summary() == "3 inputs in 1.2 s: 1 error, 1 success. Interrupted: 1 did not run."
    assert "2 records:" in repr(many)
    assert "it broke" in many._repr_html_()
    assert many.not_run == 1
    assert [r.index for r in many[1:]] == [1, 2]


def test_retry_after_in_seconds_or_as_a_date() -> None:
    from email.utils import formatdate

    from zapier_nb._http import retry_after_seconds

    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.25") == 0.25
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = retry_after_seconds(formatdate(time.time() + 120, usegmt=True))
    assert later is not None
    assert 100 < later <= 120
