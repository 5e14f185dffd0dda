"""A hostile or broken AI Actions server, against the sandbox over real sockets: echoed
secrets (in errors, successful answers and verbose tracebacks), ids that would change the
endpoint, Retry-After values that are not numbers, answers too large to read, links with
other schemes, and text with terminal escape sequences."""

from __future__ import annotations

import asyncio
import gzip
import json
import traceback
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from zapier_nb import (
    ActionResult,
    ConfigurationError,
    RateLimitError,
    ResponseValidationError,
    Session,
    ZapierError,
)
from zapier_nb._run_many import run_many as run_many_with
from zapier_nb.sandbox import Sandbox

ODD_KEY = "zk+test/key=with space&more"  # a key whose URL and form spellings differ
LOG_ID = "01J06T8Q6TM4EVE9F3NYW1Z292"


def verbose(exc: BaseException) -> str:
    """The traceback as `%xmode Verbose` or an error tracker shows it: with every local."""
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def failure(call: Callable[[], object]) -> ZapierError:
    """The error `call` raises; this frame holds nothing but the call."""
    try:
        call()
    except ZapierError as exc:
        return exc
    raise AssertionError("no error was raised")


def spellings(secret: str) -> list[str]:
    """A secret as written, URL-encoded, form-encoded, and with every byte encoded."""
    every_byte = "".join(f"%{b:02x}" for b in secret.encode())
    return [secret, quote(secret, safe=""), quote_plus(secret), every_byte]


def answer(**fields: Any) -> str:
    body = {"execution_log_id": LOG_ID, "action_used": "Sandbox: Echo", "status": "success"}
    return json.dumps({**body, **fields})


def shown(result: ActionResult) -> list[str]:
    frame = result.to_pandas()
    return [repr(result), result._repr_html_(), frame.to_string(), result.model_dump_json()]


@pytest.fixture
def odd_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=ODD_KEY) as sandbox:
        yield sandbox


@pytest.fixture
def odd_session(odd_sandbox: Sandbox) -> Iterator[Session]:
    with Session(api_key=ODD_KEY, base_url=odd_sandbox.base_url) as session:
        yield session


# -- echoed secrets ---------------------------------------------------------------------------


def test_a_successful_answer_that_echoes_the_key_in_any_spelling_keeps_none(
    odd_sandbox: Sandbox, odd_session: Session
) -> None:
    echoes = spellings(ODD_KEY)
    body = answer(
        results=[{"note": f"sent with {echo}", echo: "as a key"} for echo in echoes],
        resolved_params={"header": f"x-api-key: {echoes[1]}"},
        error=f"none, key={echoes[2]}",
    )
    odd_sandbox.fail_next("execute", status=200, body=body, times=-1)
    action = odd_session.find_action("lookup row")
    result = odd_session.run_action(action, "Find ada@example.com")
    assert result.records[0]["note"] == "sent with ***"
    many = odd_session.run_many(action, ["Find ada", "Find grace"], progress=False)
    assert [row.status for row in many] == ["success", "success"]
    texts = [*shown(result), repr(many), many._repr_html_(), many.to_pandas().to_string()]
    texts += [many.to_pandas(records=True).to_string(), *(repr(row) for row in many)]
    for text in texts:
        for echo in echoes:
            assert echo.lower() not in text.lower(), text


def test_an_error_that_echoes_the_key_encoded_keeps_none(
    odd_sandbox: Sandbox, odd_session: Session
) -> None:
    echo = json.dumps({"error": f"bad key {quote_plus(ODD_KEY)} or {quote(ODD_KEY, safe='')}"})
    odd_sandbox.fail_next("execute", status=422, body=echo)
    error = failure(lambda: odd_session.run_action("lookup row", "Find ada"))
    text = " ".join([error.message, repr(error), str(getattr(error, "body", "")), verbose(error)])
    assert "bad key ***" in error.message
    for spelling in spellings(ODD_KEY):
        assert spelling.lower() not in text.lower()


def test_tokens_echoed_in_a_successful_answer_are_masked(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    oauth_session.complete_login(sandbox.approve(oauth_session.begin_login()))
    # the access, refresh and id tokens the session holds: the newest of each kind
    issued = sandbox.issued_secrets()
    tokens = [
        [s for s in issued if s.startswith(kind)][-1] for kind in ("sbx_at_", "sbx_rt_", "eyJ")
    ]
    assert len(tokens) == 3
    sandbox.fail_next("execute", status=200, body=answer(results=[{"t": t} for t in tokens]))
    result = oauth_session.run_action("lookup row", "Find ada@example.com")
    assert [record["t"] for record in result.records] == ["***"] * 3
    for text in shown(result):
        assert not any(token in text for token in tokens)


def test_check_masks_an_echo_of_the_key(key_session: Session, sandbox: Sandbox) -> None:
    body = {"success": True, "email": "ada@example.com", "name": f"Ada {sandbox.api_key}"}
    sandbox.fail_next("check", status=200, body=json.dumps(body))
    assert key_session.check().name == "Ada ***"


@pytest.mark.parametrize(
    ("route", "status", "call"),
    [
        ("execute", 422, lambda s: s.run_action("lookup row", "Find ada")),
        ("execute", 401, lambda s: s.run_action("lookup row", "Find ada")),
        ("execute", 200, lambda s: s.run_action("lookup row", "Find ada")),
        ("list_actions", 403, lambda s: s.list_actions()),
        ("list_actions", 200, lambda s: s.list_actions()),
        ("rate", 200, lambda s: s.rate_execution(LOG_ID, 1)),
        ("check", 200, lambda s: s.check()),
        ("check", 401, lambda s: asyncio.run(s.acheck())),
    ],
)
def test_a_verbose_traceback_holds_no_echoed_secret(
    key_session: Session, sandbox: Sandbox, route: str, status: int, call: Any
) -> None:
    """Every frame's local variables, as `%xmode Verbose` shows them."""
    if route == "execute":
        key_session.find_action("lookup row")  # looked up before the fault is queued
    # A 200 that does not match the API, or an error, each echoing the key.
    body = {"error": f"no {sandbox.api_key}", "detail": f"no {sandbox.api_key}"}
    sandbox.fail_next(route, status=status, body=json.dumps(body))
    error = failure(lambda: call(key_session))
    text = verbose(error)
    assert "Traceback" in text
    assert "send" in text
    assert sandbox.api_key not in text


# -- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["#", "..", ".", "%2e%2e", "a\r\nb", "01J06T8Q6TM4EVE9F3NYW1Z29\n", "../ai-actions", ""]
)
def test_an_id_that_is_not_the_apis_shape_is_refused_before_any_request(
    key_session: Session, sandbox: Sandbox, bad: str
) -> None:
    good = key_session.find_action("lookup row")
    sent: list[str] = []
    key_session.client.event_hooks["request"].append(lambda r: sent.append(str(r.url)))
    before = sandbox.counts()
    calls: list[Callable[[], object]] = [
        lambda: key_session.delete_action(bad),
        lambda: key_session.get_action(bad),
        lambda: key_session.update_action(bad, params={"a": "b"}),
        lambda: key_session.rate_execution(bad, 1),
        lambda: key_session.run_action(good.model_copy(update={"id": bad}), "Find ada"),
        lambda: asyncio.run(key_session.adelete_action(bad)),
    ]
    for call in calls:
        error = failure(call)
        assert isinstance(error, ConfigurationError)
        assert "26 capital letters and digits" in error.message
        assert "Nothing was sent" in error.message
    assert sent == []
    assert sandbox.counts() == before
    assert key_session.run_action(good, "Find ada@example.com").status == "success"


def test_ids_of_the_apis_shape_still_work(key_session: Session, sandbox: Sandbox) -> None:
    action_id = key_session.find_action("lookup row").id
    assert key_session.get_action(f" {action_id} ").id == action_id
    ran = key_session.run_action(action_id, "Find ada@example.com")
    assert key_session.rate_execution(ran.execution_log_id, 1).execution_log_id


# -- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "nan", "soon", "", "-Infinity", "1e999x", "Mon, 99 Foo"])
@pytest.mark.parametrize("flow", ["sync", "async"])
def test_run_many_ends_every_row_whatever_retry_after_says(
    key_session: Session, sandbox: Sandbox, value: str, flow: str
) -> None:
    action = key_session.find_action("lookup row")
    sandbox.fail_next("execute", status=429, headers={"Retry-After": value}, times=-1)
    kwargs: dict[str, Any] = {"max_rate_limit_waits": 0, "progress": False}
    if flow == "sync":
        result = run_many_with(key_session, action, ["Find ada@example.com"], **kwargs)
    else:
        result = asyncio.run(_arun_many(key_session, action, ["Find ada@example.com"], **kwargs))
    assert [row.status for row in result] == ["error"]
    assert "rate limited" in (result[0].error or "")


async def _arun_many(session: Session, *args: Any, **kwargs: Any) -> Any:
    from zapier_nb._run_many import arun_many

    try:
        return await arun_many(session, *args, **kwargs)
    finally:
        await session.aclose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nan", None),
        ("inf", 86_400.0),
        ("1e999", 86_400.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 86_400.0),
        ("garbage", None),
    ],
)
def test_a_rate_limit_error_carries_a_usable_wait(
    key_session: Session, sandbox: Sandbox, value: str, expected: float | None
) -> None:
    action = key_session.find_action("lookup row")
    sandbox.fail_next("execute", status=429, headers={"Retry-After": value}, times=-1)
    error = failure(lambda: key_session.run_action(action, "Find ada@example.com"))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == expected
    assert sandbox.execution_count() == 0


def test_a_get_rate_limited_with_nan_is_retried_then_answers(
    key_session: Session, sandbox: Sandbox
) -> None:
    sandbox.fail_next("list_actions", status=429, headers={"Retry-After": "NaN"})
    assert len(key_session.list_actions()) == 3
    assert sandbox.count("list_actions") == 2


# -- answers too large ---------------------------------------------------------------------------


def _bomb(megabytes: int) -> bytes:
    """A gzip body of `megabytes` MiB of JSON string, a few hundred kB on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"a" * (1024 * 1024)
    parts = [packer.compress(b'{"error": "')]
    parts += [packer.compress(chunk) for _ in range(megabytes)]
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_a_compressed_answer_is_decompressed_only_up_to_the_cap(
    key_session: Session, sandbox: Sandbox, flow: str
) -> None:
    import tracemalloc

    body = _bomb(200)
    assert len(body) < 1024 * 1024
    sandbox.fail_next("list_actions", status=200, body=body, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        if flow == "sync":
            error = failure(key_session.list_actions)
        else:
            error = failure(lambda: asyncio.run(key_session.alist_actions()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, ResponseValidationError)
    assert "larger than 10 MiB" in error.message
    assert peak < 64 * 1024 * 1024
    assert len(key_session.list_actions()) == 3  # the session goes on


def test_a_plain_answer_past_the_cap_is_refused_and_run_many_notes_it(
    key_session: Session, sandbox: Sandbox
) -> None:
    action = key_session.find_action("lookup row")
    big = answer(results=[{"x": "a" * (11 * 1024 * 1024)}])
    sandbox.fail_next("execute", status=200, body=big)
    result = key_session.run_many(action, ["Find ada@example.com", "Find grace"], concurrency=1)
    assert sorted(row.status for row in result) == ["error", "success"]
    assert any("larger than 10 MiB" in (row.error or "") for row in result)


def test_a_small_compressed_answer_reads_as_usual(key_session: Session, sandbox: Sandbox) -> None:
    listed = {"results": sandbox.actions(), "configuration_link": "https://x.test/"}
    body = gzip.compress(json.dumps(listed).encode())
    sandbox.fail_next("list_actions", status=200, body=body, headers={"Content-Encoding": "gzip"})
    assert len(key_session.list_actions()) == 3


def test_an_answer_that_cannot_be_decompressed_says_so(
    key_session: Session, sandbox: Sandbox
) -> None:
    sandbox.fail_next(
        "list_actions", status=200, body=b"not gzip", headers={"Content-Encoding": "gzip"}
    )
    error = failure(key_session.list_actions)
    assert isinstance(error, ResponseValidationError)
    assert "could not be decompressed" in error.message


# -- links and terminal text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("javascript:alert(document.domain)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("http://evil.example/config", False),
        ("https://actions.zapier.com/providers/\x1b]8;;http://evil.example\x07", False),
        ("https://actions.zapier.com/providers/", True),
        ("http://127.0.0.1:9/sandbox/actions/", True),
    ],
)
def test_the_configuration_link_is_shown_only_when_safe(
    key_session: Session, sandbox: Sandbox, link: str, shown: bool
) -> None:
    listed = {"results": sandbox.actions(), "configuration_link": link}
    sandbox.fail_next("list_actions", status=200, body=json.dumps(listed))
    actions = key_session.list_actions()
    assert actions.configuration_link == link  # kept for inspection
    html, text = actions._repr_html_(), repr(actions)
    assert ("href=" in html) is shown
    assert ("Configure more actions" in text) is shown
    assert "javascript:" not in html
    assert "data:" not in html
    assert "\x1b" not in text


ESCAPES = "\x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07\r\x08\x00\u202egnp.exe"


def test_server_text_shown_as_text_has_no_control_characters(
    key_session: Session, sandbox: Sandbox
) -> None:
    action = key_session.find_action("lookup row")
    sandbox.fail_next("execute", status=422, body=json.dumps({"error": f"No {ESCAPES}"}))
    error = failure(lambda: key_session.run_action(action, "Find ada"))
    sandbox.fail_next("execute", status=500, body=json.dumps({"error": f"Down {ESCAPES}"}))
    server = failure(lambda: key_session.run_action(action, "Find ada"))
    odd = answer(action_used=f"Echo {ESCAPES}", results=[{f"k{ESCAPES}": f"v{ESCAPES}"}])
    sandbox.fail_next("execute", status=200, body=odd, times=2)
    result = key_session.run_action(action, "Find ada")
    many = key_session.run_many(action, ["Find ada"], progress=False)
    for text in [error.message, server.message, repr(result), str(result), repr(many)]:
        assert not any(ch in text for ch in "\x1b\x07\r\x08\x00\u202e"), repr(text)
    assert "red" in repr(result)
    assert "No red" in error.message
    assert result.records[0][f"k{ESCAPES}"] == f"v{ESCAPES}"  # the data itself is kept


# -- run_many's table -----------------------------------------------------------------------------


def test_the_input_column_shows_the_inputs(key_session: Session, sandbox: Sandbox) -> None:
    pandas = pytest.importorskip("pandas")
    rows = pandas.DataFrame(
        {
            "instructions": ["Send the monthly report"] * 2,
            "to": ["ada@example.com", "grace@example.org"],
        }
    )
    sent = key_session.run_many("send email", rows, params={"subject": "Report"})
    table = sent.to_pandas()
    assert list(table["input"]) == ["to: ada@example.com", "to: grace@example.org"]
    assert "to: grace@example.org" in repr(sent)
    assert "to: ada@example.com" in sent._repr_html_()
    plain = key_session.run_many("lookup row", ["Find ada@example.com"])
    assert list(plain.to_pandas()["input"]) == ["Find ada@example.com"]


class _Flaky(Session):
    """A session whose run fails unexpectedly (not with a ZapierError) for one input."""

    def run_action(self, action: Any, instructions: str, **kwargs: Any) -> ActionResult:
        if instructions == "boom":
            raise RuntimeError("not a ZapierError")
        return super().run_action(action, instructions, **kwargs)

    async def arun_action(self, action: Any, instructions: str, **kwargs: Any) -> ActionResult:
        if instructions == "boom":
            raise RuntimeError("not a ZapierError")
        return await super().arun_action(action, instructions, **kwargs)


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_an_unexpected_failure_ends_its_row_and_not_the_run(sandbox: Sandbox, flow: str) -> None:
    with _Flaky(api_key=sandbox.api_key, base_url=sandbox.base_url) as session:
        inputs = ["Find ada@example.com", "boom", "Find grace@example.org"]
        if flow == "sync":
            result = session.run_many("lookup row", inputs, concurrency=2, progress=False)
        else:
            result = asyncio.run(_arun_many(session, "lookup row", inputs, progress=False))
    assert [row.status for row in result] == ["success", "unknown", "success"]
    assert "RuntimeError" in (result[1].error or "")
    assert "check before running it again" in (result[1].error or "")


def test_requests_carry_the_session_headers_and_timeout(
    key_session: Session, sandbox: Sandbox
) -> None:
    seen: list[Any] = []
    key_session.client.event_hooks["response"].append(lambda r: seen.append(r.request))
    key_session.run_action("lookup row", "Find ada@example.com")
    assert len(seen) == 2  # the lookup, then the run
    for request in seen:
        assert request.headers["user-agent"].startswith("zapier_nb/")
        assert request.extensions["timeout"] == key_session.client.timeout.as_dict()


def test_a_key_echoed_with_json_escapes_is_masked(key_session: Session, sandbox: Sandbox) -> None:
    key = sandbox.api_key
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in key)  # the same string, once decoded
    body = answer().replace('"status"', f'"results": [{{"k": "{escaped}"}}], "status"')
    sandbox.fail_next("execute", status=200, body=body)
    result = key_session.run_action(key_session.find_action("lookup row"), "Find ada")
    assert result.records == [{"k": "***"}]
