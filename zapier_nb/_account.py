"""The API's own auth endpoints: who the credentials belong to, and the sign-up link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._config import checked_link
from ._errors import error_for_status
from ._http import httpx, json_or_none, read_json
from ._paths import CHECK_PATH, LOGIN_LINK_PATH

if TYPE_CHECKING:
    from ._models import CheckAuthResponse

__all__ = ["check_result", "login_link_request", "login_link_result"]

_HINTS_401 = {
    "api_key": "Copy the key again from https://actions.zapier.com/credentials/ (or from the "
    "sandbox's printout) and log in again.",
    "oauth": "The access token was not accepted even after a refresh. Log in again.",
}


def check_result(response: httpx.Response, auth_method: str | None) -> CheckAuthResponse:
    """`GET /api/v2/auth/check/`'s answer, or the error that says what to do."""
    from . import _models

    if response.status_code == 200:
        body = read_json(response, what="the auth check")
        return _models.parse_response(_models.CheckAuthResponse, body, what="the auth check")
    raise error_for_status(
        response.status_code,
        body=json_or_none(response),
        method="GET",
        path=CHECK_PATH,
        hint=_HINTS_401.get(auth_method or "", "") if response.status_code == 401 else "",
    )


def login_link_request(
    client: httpx.Client, landing_url: str | None, *, first_name: str, last_name: str, email: str
) -> httpx.Request:
    """`GET /api/v2/auth/login-link/` for a new user who should land on `landing_url`."""
    from . import _models

    params = _models.LoginLinkParams.landing_on(
        landing_url, first_name=first_name.strip(), last_name=last_name.strip(), email=email.strip()
    )
    return client.build_request("GET", LOGIN_LINK_PATH, params=params.form())


def login_link_result(response: httpx.Response, base_url: str) -> str:
    """The sign-up link the server answered, once it is known to be safe to show."""
    from . import _models

    if response.status_code != 200:
        raise error_for_status(
            response.status_code,
            body=json_or_none(response),
            method="GET",
            path=LOGIN_LINK_PATH,
            hint="Check the name, the email and the OAuth client id.",
        )
    body = read_json(response, what="the login-link request")
    link = _models.parse_response(_models.LoginLinkResponse, body, what="the login-link request")
    return checked_link(link.login_link, base_url)
