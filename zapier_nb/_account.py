"""The API's own auth endpoints: who the credentials belong to, and the sign-up link.

Requests are built and answers read here, with no I/O; the session sends them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._config import checked_link
from ._errors import error_for_status
from ._http import Call, SecretSource, httpx, json_or_none, scrubbed_json
from ._paths import CHECK_PATH, LOGIN_LINK_PATH

if TYPE_CHECKING:
    from ._models import CheckAuthResponse

__all__ = ["check_call", "check_result", "login_link_call"]

_HINTS_401 = {
    "api_key": "Copy the key again from https://actions.zapier.com/credentials/ (or from the "
    "sandbox's printout) and log in again.",
    "oauth": "The access token was not accepted even after a refresh. Log in again.",
}


def check_call(base_url: str, auth_method: str | None) -> Call[CheckAuthResponse]:
    """`GET /api/v2/auth/check/`."""
    return Call(
        httpx.Request("GET", base_url + CHECK_PATH),
        lambda response, secrets: check_result(response, auth_method, secrets),
    )


def check_result(
    response: httpx.Response, auth_method: str | None, secrets: SecretSource = tuple
) -> CheckAuthResponse:
    """`GET /api/v2/auth/check/`'s answer, or the error that says what to do."""
    from . import _models

    what = "the auth check"
    if response.status_code == 200:
        return _models.parse_response(
            _models.CheckAuthResponse, scrubbed_json(response, secrets, what=what), what=what
        )
    raise error_for_status(
        response.status_code,
        body=json_or_none(response),
        method="GET",
        path=CHECK_PATH,
        hint=_HINTS_401.get(auth_method or "", "") if response.status_code == 401 else "",
    )


def login_link_call(
    base_url: str, landing_url: str | None, *, first_name: str, last_name: str, email: str
) -> Call[str]:
    """`GET /api/v2/auth/login-link/` for a new user who should land on `landing_url`.

    The answer is the sign-up link, once it is known to be safe to show.
    """
    from . import _models

    params = _models.LoginLinkParams.landing_on(
        landing_url, first_name=first_name.strip(), last_name=last_name.strip(), email=email.strip()
    )

    def read(response: httpx.Response, secrets: SecretSource) -> str:
        what = "the login-link request"
        if response.status_code != 200:
            raise error_for_status(
                response.status_code,
                body=json_or_none(response),
                method="GET",
                path=LOGIN_LINK_PATH,
                hint="Check the name, the email and the OAuth client id.",
            )
        answer = _models.parse_response(
            _models.LoginLinkResponse, scrubbed_json(response, secrets, what=what), what=what
        )
        return checked_link(answer.login_link, base_url)

    return Call(httpx.Request("GET", base_url + LOGIN_LINK_PATH, params=params.form()), read)
