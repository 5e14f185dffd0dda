"""The state check cannot fail open: no paste carrying a wrong, missing or second state logs in.

A property-based search generates pastes in every shape people (or attackers) produce:
with and without a scheme, the fields in the query or the fragment, in any order, glued
by `#` or `;`, with the right state beside a wrong one. None may pass the check, which
runs before any request. The same shapes carrying only the right state must pass.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
from helpers import code_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zapier_nb import LoginError, Session, StateMismatchError
from zapier_nb._login import MAX_ANSWER_LENGTH, LoginAnswer
from zapier_nb.sandbox import Sandbox

RIGHT = "Rk3-right_state.value~9"
PREFIXES = [
    "",
    "https://example.com/cb",
    "example.com/cb",
    "/cb/",
    "http://127.0.0.1:8765/sandbox/callback/",
]
codes = st.from_regex(r"[A-Za-z0-9_\-]{6,40}", fullmatch=True)
wrong_states = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from([RIGHT + "x", RIGHT[:-1], RIGHT.upper(), " " + RIGHT + "x"]),
).filter(lambda value: value.strip() != RIGHT)


@st.composite
def pastes_with_a_wrong_state(draw: st.DrawFn) -> str:
    code = draw(codes)
    wrong = quote(draw(wrong_states), safe="")
    variant = draw(
        st.sampled_from(["wrong", "missing", "empty", "wrong_and_right", "glued", "blank_value"])
    )
    fields = [f"code={code}"]
    if variant == "wrong":
        fields.append(f"state={wrong}")
    elif variant == "empty":
        fields.append("state=")
    elif variant == "blank_value":
        fields.append(f"state={quote(' ')}")
    elif variant == "wrong_and_right":
        fields += [f"state={RIGHT}", f"state={wrong}"]
    elif variant == "glued":
        glue = draw(st.sampled_from(["#", ";"]))
        fields = [f"code={code}{glue}state={wrong}"]
        if draw(st.booleans()):
            fields.append(f"state={RIGHT}")
    ordered = draw(st.permutations(fields))
    joiner = draw(st.sampled_from(["&", "#"]))
    separator = draw(st.sampled_from(["?", "#", "?x=1&", "?x=1#"]))
    prefix = draw(st.sampled_from(PREFIXES))
    text = prefix + (separator if prefix else draw(st.sampled_from(["", "?", "#"])))
    text += joiner.join(ordered)
    return draw(st.sampled_from(["{}", " {}\n", '"{}"', "<{}>"])).format(text)


@st.composite
def pastes_with_the_right_state(draw: st.DrawFn) -> tuple[str, str]:
    code = draw(codes)
    fields = draw(st.permutations([f"code={code}", f"state={RIGHT}"]))
    prefix = draw(st.sampled_from(PREFIXES))
    separator = draw(st.sampled_from(["?", "#", "?x=1&"])) if prefix else ""
    return prefix + separator + "&".join(fields), code


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pastes_with_a_wrong_state())
def test_no_paste_with_a_wrong_missing_or_second_state_passes(text: str) -> None:
    with pytest.raises(LoginError):
        code_for(LoginAnswer.from_paste(text), RIGHT)


@settings(max_examples=150, deadline=None)
@given(pastes_with_the_right_state())
def test_every_shape_with_the_right_state_passes(case: tuple[str, str]) -> None:
    text, code = case
    assert code_for(LoginAnswer.from_paste(text), RIGHT) == code


@pytest.mark.parametrize(
    "shape",
    [
        "{url_without_state}",
        "{url_without_state}&state=",
        "example.com/cb?state=WRONG&code={code}",
        "code={code}#state=EVIL",
        "code={code};state=EVIL",
        "code={code}",
        "{url}&state=EVIL",
        "{url}#state=EVIL",
    ],
)
def test_the_reported_pastes_are_refused_before_any_request(
    oauth_session: Session, sandbox: Sandbox, shape: str
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirected).query).items()}
    url_without_state = redirected.split("?")[0] + f"?code={query['code']}"
    pasted = shape.format(url=redirected, url_without_state=url_without_state, code=query["code"])
    with pytest.raises(LoginError):
        oauth_session.complete_login(pasted)
    assert sandbox.count("token") == 0
    oauth_session.complete_login(redirected)
    assert oauth_session.check().email == "ada@example.com"


def test_a_missing_state_says_why_it_matters() -> None:
    with pytest.raises(StateMismatchError, match="carries no state"):
        code_for(LoginAnswer.from_paste("https://x.test/cb?code=abcdef"), RIGHT)


def test_a_bare_code_needs_no_state() -> None:
    assert code_for(LoginAnswer.from_paste("  abc-DEF_123 \n"), RIGHT) == "abc-DEF_123"


def test_an_address_pasted_twice_is_named_as_such() -> None:
    url = f"https://x.test/cb?code=abcdef&state={RIGHT}"
    for doubled in (url + url, f"{url} {url}", f"{url}\n{url}"):
        with pytest.raises(LoginError, match="pasted twice"):
            LoginAnswer.from_paste(doubled)


def test_a_state_with_another_address_glued_on_is_named_as_such() -> None:
    with pytest.raises(LoginError, match="Another address is glued"):
        LoginAnswer.from_paste(f"?code=abcdef&state={RIGHT}https%3A%2F%2Fx.test")


def test_two_different_states_are_refused() -> None:
    with pytest.raises(LoginError, match="two different answers"):
        LoginAnswer.from_paste(f"?code=abcdef&state={RIGHT}&state=other")


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("x" * (MAX_ANSWER_LENGTH + 1), "characters long"),
        (b"code=abc", "Paste text, not bytes"),
        (None, "Paste text, not NoneType"),
        ("code=abc\udc80&state=s", "characters no address has"),
        ("code=abc\x00&state=s", "characters no address has"),
    ],
)
def test_input_that_is_not_an_answer_is_a_login_error(pasted: object, message: str) -> None:
    with pytest.raises(LoginError, match=message):
        LoginAnswer.from_paste(pasted)


@pytest.mark.parametrize("state", ["ab-HtTp-cd", "http", "xxhttpsyy"])
def test_a_state_that_happens_to_spell_http_is_accepted(state: str) -> None:
    """`secrets.token_urlsafe` can spell it; only a real address glued on is refused."""
    pasted = f"https://x.test/cb?code=abcdef&state={state}"
    assert code_for(LoginAnswer.from_paste(pasted), state) == "abcdef"
