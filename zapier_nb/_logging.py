"""Log hygiene: mask credentials in the records of the toolkit's logger and its HTTP stack.

The toolkit logs only paths, counts and reasons, never a value it was given; this
filter is the second line of defence. The HTTP library's transport logs every
response's headers at DEBUG (a `Set-Cookie` among them) and its client logs each
request's URL at INFO, so their loggers get the same filter.
"""

from __future__ import annotations

import functools
import logging
import re

from ._redact import MASK, SECRET_FIELDS, SECRET_HEADERS

__all__ = [
    "MCP_SDK_LOGGERS",
    "PROTECTED_LOGGERS",
    "RedactingFilter",
    "install_log_redaction",
    "quiet_mcp_sdk_logs",
    "redact_text",
]

PROTECTED_LOGGERS = (
    "zapier_nb",
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """The masking patterns, compiled at the first log record rather than at import."""
    header_names = "|".join(
        re.escape(name) for name in sorted(SECRET_HEADERS | {"proxy-authorization"})
    )
    field_names = "|".join(re.escape(name) for name in sorted(SECRET_FIELDS, key=len, reverse=True))
    return (
        # ("set-cookie", "...") and (b'authorization', b'...') as the transport logs headers.
        re.compile(rf"""(\(\s*b?(['"])(?:{header_names})\2\s*,\s*b?(['"]))(.*?)(\3\s*\))""", re.I),
        # Authorization: ... / x-api-key=... up to the end of the line.
        re.compile(rf"""(?<![\w-])((?:{header_names})\s*[:=]\s*)[^\r\n'"]+""", re.I),
        re.compile(r"(?<![\w-])(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I),
        # access_token=..., "refresh_token": "...", code_verifier='...'
        re.compile(
            rf"""(?<![\w-])(['"]?(?:{field_names})['"]?\s*[:=]\s*['"]?)[^\s'"&,;}})\]]+""",
            re.I,
        ),
    )


def redact_text(text: str) -> str:
    """Mask the values of credential headers, bearer tokens and secret fields in free text."""
    header_tuple, header_line, bearer, field = _patterns()
    text = header_tuple.sub(lambda m: f"{m.group(1)}{MASK}{m.group(5)}", text)
    text = header_line.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = bearer.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return field.sub(lambda m: f"{m.group(1)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message when it carries a credential; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# The MCP SDK's client loggers ("client" is its session's). A logger's filter does not
# reach its children's records, so each is named.
MCP_SDK_LOGGERS = (
    "client",
    "mcp.client.auth.oauth2",
    "mcp.client.client",
    "mcp.client.streamable_http",
    "mcp.shared.jsonrpc_dispatcher",
)


def install_log_redaction(names: tuple[str, ...] = PROTECTED_LOGGERS) -> None:
    """Put the filter on the toolkit's and the HTTP stack's loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())


def quiet_mcp_sdk_logs() -> None:
    """Redact the MCP SDK's log records, and keep them out of the cell's output unless
    logging is set up: a refused login is reported once, as this toolkit's error, not as
    the SDK's traceback on stderr."""
    install_log_redaction(MCP_SDK_LOGGERS)
    sdk = logging.getLogger("mcp")
    if not any(isinstance(handler, logging.NullHandler) for handler in sdk.handlers):
        sdk.addHandler(logging.NullHandler())
