"""Log hygiene: mask credentials in the records of the toolkit's logger and its HTTP stack.

The toolkit logs only paths, counts and reasons, never a value it was given; this
filter is the second line of defence. The HTTP library's transport logs every
response's headers at DEBUG (a `Set-Cookie` among them) and its client logs each
request's URL at INFO, so their loggers get the same filter.
"""

from __future__ import annotations

import logging
import re

from ._redact import MASK, SECRET_FIELDS, SECRET_HEADERS

__all__ = ["PROTECTED_LOGGERS", "RedactingFilter", "install_log_redaction", "redact_text"]

PROTECTED_LOGGERS = (
    "zapier_nb",
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)

_HEADER_NAMES = "|".join(
    re.escape(name) for name in sorted(SECRET_HEADERS | {"proxy-authorization"})
)
_FIELD_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_FIELDS, key=len, reverse=True))

# ("set-cookie", "...") and (b'authorization', b'...') as the transport logs headers.
_HEADER_TUPLE = re.compile(
    rf"""(\(\s*b?(['"])(?:{_HEADER_NAMES})\2\s*,\s*b?(['"]))(.*?)(\3\s*\))""", re.IGNORECASE
)
# Authorization: ... / x-api-key=... up to the end of the line.
_HEADER_LINE = re.compile(rf"""(?<![\w-])((?:{_HEADER_NAMES})\s*[:=]\s*)[^\r\n'"]+""", re.I)
_BEARER = re.compile(r"(?<![\w-])(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
# access_token=..., "refresh_token": "...", code_verifier='...'
_FIELD = re.compile(
    rf"""(?<![\w-])(['"]?(?:{_FIELD_NAMES})['"]?\s*[:=]\s*['"]?)[^\s'"&,;}})\]]+""",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Mask the values of credential headers, bearer tokens and secret fields in free text."""
    text = _HEADER_TUPLE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(5)}", text)
    text = _HEADER_LINE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _FIELD.sub(lambda m: f"{m.group(1)}{MASK}", text)


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


def install_log_redaction() -> None:
    """Put the filter on the toolkit's and the HTTP stack's loggers (once each)."""
    for name in PROTECTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())
