"""The token endpoint's two grants: the code exchange and the refresh.

Requests are built from models whose secrets show only on the wire, and an answer is
read in one call: status, JSON, error mapping and model, into the session's `Token`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._errors import LoginError
from ._http import Call, httpx, json_or_none, read_json
from ._oauth import GrantType, token_error

if TYPE_CHECKING:
    from ._login import LoginAttempt
    from ._models import SecretStr, Token

__all__ = ["code_exchange_call", "read_token_answer", "refresh_request"]

_WHAT: dict[GrantType, str] = {
    "authorization_code": "the code exchange",
    "refresh_token": "the token refresh",
}


def code_exchange_call(token_url: str, attempt: LoginAttempt, code: SecretStr) -> Call[Token]:
    """`POST /oauth/token/` with `grant_type=authorization_code` and the attempt's verifier,
    and its answer read into the session's `Token`."""
    from . import _models

    if attempt.verifier is None:
        raise LoginError(
            "This login attempt's verifier is held elsewhere; it cannot be exchanged here."
        )
    form = _models.AuthorizationCodeTokenRequest(
        client_id=attempt.client_id,
        code_verifier=attempt.verifier,
        redirect_uri=attempt.redirect_uri,
        code=code,
    )
    return Call(
        httpx.Request("POST", token_url, data=form.form()),
        lambda response, _secrets: read_token_answer(
            response, grant_type="authorization_code", received_at=time.time()
        ),
    )


def refresh_request(
    token_url: str, client_id: str, refresh_token: SecretStr, timeout: dict[str, Any]
) -> httpx.Request:
    """`POST /oauth/token/` with `grant_type=refresh_token`."""
    from . import _models

    form = _models.RefreshTokenRequest(client_id=client_id, refresh_token=refresh_token)
    return httpx.Request("POST", token_url, data=form.form(), extensions={"timeout": timeout})


def read_token_answer(
    response: httpx.Response,
    *,
    grant_type: GrantType,
    received_at: float,
    previous: Token | None = None,
) -> Token:
    """The token a 200 answer carries; any other answer raises the error a user can act on.

    A refresh answer may omit `refresh_token` and `id_token`: the previous ones are kept.
    """
    from . import _models

    if response.status_code != 200:
        raise token_error(response.status_code, json_or_none(response), grant_type=grant_type)
    what = _WHAT[grant_type]
    # Read inline: no local variable of this frame may hold the raw token answer.
    answer = _models.parse_response(
        _models.TokenResponse, read_json(response, what=what), what=what
    )
    return answer.to_token(received_at, previous)
