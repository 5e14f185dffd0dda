"""Settings: explicit arguments first, then the environment; URLs checked before any request."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ._errors import ConfigurationError

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_SCOPE",
    "ENV_VARS",
    "TOKEN_CACHE_ENV",
    "TOKEN_CACHE_MODES",
    "Settings",
    "TokenCacheChoice",
    "TokenCacheMode",
    "TokenCacheSetting",
    "check_redirect_uri",
    "checked_link",
    "is_loopback",
    "normalize_base_url",
    "token_cache_choice",
]

DEFAULT_BASE_URL = "https://actions.zapier.com"
DEFAULT_SCOPE = "openid nla:exposed_actions:execute"
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_REFRESH_LEEWAY = 60.0
DEFAULT_CONCURRENCY = 8  # AI Actions run at once by run_many

ENV_VARS = {
    "api_key": ("ZAPIER_API_KEY", "ZAPIER_NLA_API_KEY"),
    "client_id": ("ZAPIER_CLIENT_ID",),
    "redirect_uri": ("ZAPIER_REDIRECT_URI",),
    "base_url": ("ZAPIER_BASE_URL",),
}

TokenCacheMode = Literal["read_write", "reauth", "none"]
TokenCacheSetting = str | os.PathLike[str] | None
TOKEN_CACHE_MODES: tuple[TokenCacheMode, ...] = ("read_write", "reauth", "none")
TOKEN_CACHE_ENV = "ZAPIER_NB_TOKEN_CACHE"
CACHE_DIR_ENV = "ZAPIER_NB_CACHE_DIR"


@dataclass(frozen=True)
class Settings:
    """What a session needs to know before it sends anything."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    refresh_leeway: float = DEFAULT_REFRESH_LEEWAY

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.redirect_uri is not None:
            check_redirect_uri(self.redirect_uri)
        if self.timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, got {self.timeout}.")
        if self.max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, got {self.max_retries}.")
        if self.refresh_leeway < 0:
            raise ConfigurationError(
                f"refresh_leeway must be 0 or more, got {self.refresh_leeway}."
            )

    def __repr__(self) -> str:
        key = "set" if self.api_key else None
        return (
            f"Settings(base_url={self.base_url!r}, api_key={key!r}, client_id={self.client_id!r}, "
            f"redirect_uri={self.redirect_uri!r})"
        )

    def oauth_client(self) -> tuple[str, str]:
        """The client id and redirect URI an OAuth login needs; an error names what is missing."""
        if self.client_id and self.redirect_uri:
            return self.client_id, self.redirect_uri
        missing = " and ".join(
            name
            for name, value in (("client_id", self.client_id), ("redirect_uri", self.redirect_uri))
            if not value
        )
        raise ConfigurationError(
            f"OAuth login needs {missing}. Pass Session(client_id=..., redirect_uri=...) or "
            "set ZAPIER_CLIENT_ID and ZAPIER_REDIRECT_URI (the sandbox prints both)."
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read `ZAPIER_*` variables; keyword arguments that are not None win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, names in ENV_VARS.items():
            for name in names:
                if env.get(name, "").strip():
                    values[field] = env[name].strip()
                    break
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses, the only places plain http is allowed.

    Other names under `.localhost` are not trusted: nothing here resolves them.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Strip a trailing slash and refuse anything but https, except on loopback."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"The base URL {url!r} is not an http(s) URL. Use https://actions.zapier.com, "
            "or the URL the sandbox printed."
        )
    if "@" in parts.netloc:
        shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        raise ConfigurationError(
            f"The base URL {shown!r} carries a user name or password, which would be sent to "
            "the server and shown in messages. Remove it: the API key or the OAuth login "
            "are the credentials."
        )
    _check_authority(url, parts.netloc, parts.hostname)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"The base URL {url!r} uses plain http, which would send credentials unencrypted. "
            "Use an https URL (plain http is allowed only on localhost)."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"The base URL {url!r} must not have a query or fragment.")
    return url


def checked_link(link: str, base_url: str) -> str:
    """A link the server sent for a person to open: only https, or http on loopback."""
    parts = urlsplit(link)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return link
    raise ConfigurationError(
        f"The server at {base_url} answered a link that is not an https address "
        f"({parts.scheme or 'no scheme'}:), so it is not shown. Check the base URL."
    )


def _check_authority(url: str, netloc: str, hostname: str) -> None:
    """Refuse a host part that the URL parser reads differently from an HTTP client."""
    try:
        port = urlsplit(url).port
    except ValueError:
        port, valid = None, False
    else:
        host = f"[{hostname}]" if ":" in hostname else hostname
        valid = netloc.lower() in (host, f"{host}:{port}" if port is not None else host)
    if not valid:
        raise ConfigurationError(
            f"The base URL {url!r} has a malformed host or port ({netloc!r}). Write it as "
            "https://host or http://127.0.0.1:PORT."
        )


def check_redirect_uri(uri: str) -> None:
    """Refuse a redirect URI that is not an http(s) URL."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"The redirect URI {uri!r} is not an http(s) URL. Use the redirect URI registered "
            "for your OAuth app."
        )


@dataclass(frozen=True)
class TokenCacheChoice:
    """How a session uses the on-disk token cache, and where (None: the user's config dir)."""

    mode: TokenCacheMode
    directory: Path | None = None


def token_cache_choice(
    value: TokenCacheSetting,
    *,
    base_url: str,
    directory: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> TokenCacheChoice:
    """The cache mode and directory: the arguments, then the environment, then defaults.

    The mode is `value` (a mode name, or a directory meaning `read_write` there), else
    `ZAPIER_NB_TOKEN_CACHE`, else `read_write`, except for a loopback base URL (a local
    sandbox, whose tokens die with it): there nothing is written unless asked for. The
    directory is `directory`, else a path given as `value`, else `ZAPIER_NB_CACHE_DIR`.
    """
    env = os.environ if environ is None else environ
    chosen = Path(directory).expanduser() if directory is not None else None
    if value is None:
        value = env.get(TOKEN_CACHE_ENV, "").strip() or None
    mode: TokenCacheMode
    if value is None:
        mode = "none" if is_loopback(urlsplit(base_url).hostname or "") else "read_write"
    elif isinstance(value, str) and (named := _mode_name(value)) is not None:
        mode = named
    elif isinstance(value, str) and not _looks_like_path(value):
        raise ConfigurationError(
            f"token_cache={value!r} is not a cache mode. Use 'read_write', 'reauth' or "
            "'none', or give a directory (a pathlib.Path, or a path containing '/')."
        )
    else:
        if chosen is not None:
            raise ConfigurationError(
                "token_cache is a directory and token_cache_dir is given too. Give the "
                "directory once: token_cache='read_write' (or 'reauth') with token_cache_dir."
            )
        mode, chosen = "read_write", Path(value).expanduser()
    return TokenCacheChoice(mode, chosen or _env_directory(env))


def _mode_name(value: str) -> TokenCacheMode | None:
    named = value.strip().lower().replace("-", "_")
    return next((mode for mode in TOKEN_CACHE_MODES if mode == named), None)


def _env_directory(env: Mapping[str, str]) -> Path | None:
    directory = env.get(CACHE_DIR_ENV, "").strip()
    return Path(directory).expanduser() if directory else None


def _looks_like_path(value: str) -> bool:
    value = value.strip()
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return value.startswith(("~", ".")) or any(sep in value for sep in separators)
