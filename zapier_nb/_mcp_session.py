"""`MCPSession`: Zapier MCP from a notebook, through the official MCP SDK.

The SDK's async client runs on a private event loop thread (`_mcp_loop`), so the sync
methods work in a Jupyter kernel, whose own loop is running, and the async ones from any
loop. The SDK is imported at the first call, not at `import zapier_nb`. The connection
token is held as a `Secret`, sent only in the `Authorization` header, and written nowhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal

from ._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    TokenCacheSetting,
    token_cache_choice,
)
from ._errors import ConfigurationError, LoginError, LoginRequiredError
from ._interactive import interactive_login
from ._listeners import Listeners
from ._logging import install_log_redaction, quiet_mcp_sdk_logs
from ._login import LoginAnswer, LoginAttempt
from ._mcp_config import (
    DEFAULT_MCP_REDIRECT_URI,
    DEFAULT_MCP_TIMEOUT,
    DEFAULT_MCP_URL,
    mcp_env,
    normalize_mcp_url,
)
from ._mcp_errors import tool_error
from ._mcp_loop import LoopThread
from ._mcp_results import ToolInfo, ToolList, ToolResult, ToolRunResult
from ._mcp_run_many import RunEngine, adrive, check_concurrency, drive, jobs_from, new_bar
from ._mcp_sdk import require_sdk
from ._mcp_transport import TokenAuth
from ._oauth import token_info
from ._redact import Secret, scrubbed_errors

if TYPE_CHECKING:
    from ._http import httpx
    from ._mcp_connection import Connection
    from ._mcp_oauth import MCPLogin
    from ._models import TokenInfo
    from ._store import TokenStore

__all__ = ["MCPSession"]

MCPAuthMethod = Literal["token", "oauth"]


def _arguments(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None:
        return {}
    if not isinstance(arguments, Mapping):
        raise ConfigurationError(
            f"A tool's arguments are a mapping of names to values (a dict), not a "
            f"{type(arguments).__name__}."
        )
    return {str(key): value for key, value in arguments.items()}


def _tool_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(
            "Name the tool to call: a tool name from list_tools(), like 'gmail_send_email'."
        )
    return name.strip()


class MCPSession:
    """A Zapier MCP session: list the tools, call them, call one for many rows.

    `token` is a connection token (mcp.zapier.com: your MCP server, client "Other",
    Generate token). `url` is the server's endpoint, by default Zapier's; plain http is
    refused except on loopback (the sandbox). A tool call is never sent twice once the
    server may have acted on it.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        url: str | None = None,
        timeout: float = DEFAULT_MCP_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        redirect_uri: str | None = None,
        token_cache: TokenCacheSetting = None,
        token_cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Without `token`, the session logs in by OAuth at its first call (the MCP
        authorization flow): `pending_login_url` is the consent page, and
        `complete_login(pasted)` takes what it returns. The login widget picks the
        `redirect_uri` the answer can come back to by itself (this Jupyter server's callback
        page, or the kernel's loopback listener) unless one is given here."""
        self._token = _secret(token)
        del token  # from here on, only the masked wrapper: no traceback shows the value
        self._url = ""
        install_log_redaction()
        require_sdk()
        quiet_mcp_sdk_logs()
        self._url = normalize_mcp_url(url or DEFAULT_MCP_URL)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds, got {timeout!r}."
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, got {max_retries!r}.")
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._auth: httpx.Auth | None = None if self._token is None else TokenAuth(self._token)
        self._redirect_uri = redirect_uri or DEFAULT_MCP_REDIRECT_URI
        self._redirect_fixed = redirect_uri is not None  # given: the widget keeps to it
        self._login: MCPLogin | None = None
        self._setup_lock = threading.RLock()
        self._opening: concurrent.futures.Future[None] | None = None
        self._login_begun = False  # begin_login() was called: calls may connect by OAuth
        self._token_cache = token_cache
        self._token_cache_dir = token_cache_dir
        self._cache_choice: tuple[TokenStore | None, bool] | None = None
        self._listeners = Listeners()
        self._loop = LoopThread("zapier-nb-mcp")
        self._connection: Connection | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> MCPSession:
        """`ZAPIER_MCP_URL` and `ZAPIER_MCP_TOKEN`; keyword arguments that are not None win."""
        url, token = mcp_env()
        given = {k: v for k, v in overrides.items() if v is not None}
        secret = _secret(given.pop("token", None)) or _secret(token)
        del token
        return cls(token=secret, url=given.pop("url", None) or url, **given)  # type: ignore[arg-type]

    # -- what the session is ------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._url

    @property
    def auth_method(self) -> MCPAuthMethod | None:
        """`"token"` with a connection token, `"oauth"` once logged in by OAuth, else None."""
        if self._token is not None:
            return "token"
        return None if self.token_info is None else "oauth"

    # -- OAuth (the `_login.LoginTarget` protocol, so the login channels serve it too) -----

    @property
    def base_url(self) -> str:
        """The MCP server's URL (the name the login channels know it by)."""
        return self._url

    @property
    def client_id(self) -> str | None:
        """The OAuth client id the server registered for this session, once it has."""
        return None if self._login is None else self._login.client_id

    @property
    def redirect_uri(self) -> str:
        return self._redirect_uri

    @property
    def login_attempt(self) -> LoginAttempt | None:
        return None if self._login is None else self._login.flow.current

    @property
    def pending_login_url(self) -> str | None:
        """The consent page of the OAuth login waiting for its answer, if one is."""
        return None if self._login is None else self._login.pending_login_url

    @property
    def token_info(self) -> TokenInfo | None:
        """Scopes and expiry of the OAuth login; None with a connection token or before it."""
        login = self._login or self._saved_login()
        token = None if login is None else login.storage.current()
        return None if token is None else token_info(token)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` when a login begins or ends; returns the unsubscribe function."""
        return self._listeners.add(callback)

    def begin_login(self, *, redirect_uri: str | None = None, timeout: float = 30.0) -> str:
        """Begin the OAuth login: connect, and return the consent page to open.
        `submit_answer` (or `complete_login`) then takes what the page returns."""
        if self._token is not None:
            raise LoginError(
                "This MCP session uses a connection token: there is no OAuth login to begin."
            )
        if redirect_uri is not None and redirect_uri != self._redirect_uri:
            self._forget_registration()  # the server registered the other one: register anew
            self._redirect_uri = redirect_uri
        login = self._ensure_login()
        with self._setup_lock:
            if self._opening is None or self._opening.done():
                self._drop_connection()
                self._login_begun = True
                login.expect()
                self._opening = self._loop.submit(self._open_connection())
            opening = self._opening
        url = login.wait_for_login_url(timeout, until=opening.done)
        if url is None and opening.done():
            opening.result()  # a failure to connect is raised here
            raise LoginError("The MCP server let this session in without a login.")
        if url is None:
            raise LoginError(
                f"The MCP server did not ask for a login within {timeout:g} s. Check the URL, "
                "then try again."
            )
        return url

    def submit_answer(self, answer: LoginAnswer, *, timeout: float = 60.0) -> TokenInfo:
        """Finish the OAuth login with the consent page's answer; returns once the server
        accepted it. The state is checked (`LoginFlow.take`) before the code is used."""
        opening = self._opening
        if self._login is None or opening is None:
            raise LoginRequiredError(
                "No MCP login is waiting. Begin one with begin_login() (or mcp.login())."
            )
        with self._scrubbing():
            try:
                attempt = self._login.take(answer)
            except LoginError:
                with self._setup_lock:
                    if self._login.pending_login_url is None and self._opening is opening:
                        # That attempt is over, and the connection waiting for it ends with
                        # its error: the next begin_login opens a new one at once.
                        self._opening = None
                raise
            del answer
            try:
                opening.result(timeout)
            except BaseException as exc:
                self._login.flow.finish(attempt, exc)
                raise
            self._login.flow.finish(attempt)
        self._listeners.notify()
        info = self.token_info
        assert info is not None
        return info

    def complete_login(self, pasted: str) -> TokenInfo:
        """`submit_answer` with what was pasted: the code, or the whole address landed on."""
        return self.submit_answer(LoginAnswer.from_paste(pasted))

    def login(self, *, wait: bool = False) -> TokenInfo | None:
        """Log in by OAuth at a prompt: the consent URL is printed, the answer read back."""
        interactive_login(self, wait=wait)
        return self.token_info

    def use_token(self, token: str | Secret) -> None:
        """Use a connection token from now on (the login widget's token field calls this);
        an OAuth login in progress is dropped."""
        secret = _secret(token)
        del token
        if secret is None:
            raise ConfigurationError(
                "The connection token is empty. Paste the token your MCP server generated."
            )
        with self._setup_lock:
            self._token = secret
            self._forget_registration()  # the auth is the token's from here on
        self._listeners.notify()

    def _forget_registration(self) -> None:
        """Drop the OAuth login (its client registration and any attempt) and the connection."""
        with self._setup_lock:
            login, self._login = self._login, None
            if login is not None:
                login.cancel()
            self._auth = None if self._token is None else TokenAuth(self._token)
            self._opening = None
            self._login_begun = False
            self._drop_connection()

    def _store(self) -> tuple[TokenStore | None, bool]:
        """The token cache (None when off), and whether a login saved there may be used
        before this session logs in itself (not with `"reauth"`). Opened (and its folder
        vetted) once: `auth_method` asks at every redraw of a widget."""
        if self._cache_choice is None:
            self._cache_choice = self._open_store()
        return self._cache_choice

    def _open_store(self) -> tuple[TokenStore | None, bool]:
        cache = token_cache_choice(
            self._token_cache, base_url=self._url, directory=self._token_cache_dir
        )
        if cache.mode == "none":
            return None, False
        from ._mcp_oauth import MCP_CLIENT_KEY
        from ._store import open_store

        store = open_store(
            cache.directory,
            base_url=self._url,
            client_id=MCP_CLIENT_KEY,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )
        return store, cache.mode == "read_write"

    def _saved_login(self) -> MCPLogin | None:
        """With no connection token, the OAuth login held: this session's, or one another
        session or kernel saved in the token cache, taken up with no consent."""
        if self._token is not None:
            return None
        if self._login is None:
            store, take_up = self._store()
            if store is None or not take_up or store.load() is None:
                return None
        login = self._ensure_login()
        return login if login.holds_login() else None

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._loop.submit(connection.aclose())

    async def _open_connection(self) -> None:
        await self._open().open()

    def _ensure_login(self) -> MCPLogin:
        with self._setup_lock:
            if self._login is None:
                require_sdk()
                from ._mcp_oauth import MCPLogin

                store, take_up = self._store()
                self._login = MCPLogin(
                    self._url,
                    redirect_uri=self._redirect_uri,
                    store=store,
                    take_up=take_up,
                    on_change=self._listeners.notify,
                )
                self._auth = self._login.provider()
            return self._login

    def __repr__(self) -> str:
        return f"MCPSession(auth={self.auth_method!r}, url={self._url!r})"

    # -- the connection ------------------------------------------------------------------

    def _open(self) -> Connection:
        if self._connection is None:
            ready = self._token is not None or self._login_begun or self._saved_login() is not None
            if self._auth is None or not ready:
                raise LoginRequiredError(
                    "This MCP session is not logged in. Pass a connection token "
                    "(MCPSession(token=...) or ZAPIER_MCP_TOKEN), or log in by OAuth: "
                    "begin_login(), open the page, then complete_login(...) with what it returns."
                )
            require_sdk()
            from ._mcp_connection import Connection

            self._connection = Connection(
                self._url, self._auth, timeout=self._timeout, max_retries=self._max_retries
            )
        return self._connection

    def _scrubbing(self) -> AbstractContextManager[None]:
        return scrubbed_errors(self._secrets)

    def _secrets(self) -> Iterable[str | None]:
        login = [] if self._login is None else self._login.storage.secrets()
        return [None if self._token is None else self._token.reveal(), *login]

    async def _alist(self) -> ToolList:
        tools = await self._open().list_tools()
        return ToolList((ToolInfo.from_sdk(tool) for tool in tools), server=self._url)

    async def _acall(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        answer = await self._open().call_tool(name, arguments)
        result = ToolResult.from_sdk(name, answer)
        if answer.is_error:
            raise tool_error(name, result.text)
        return result

    # -- tools -------------------------------------------------------------------------------

    def list_tools(self) -> ToolList:
        """The tools the server offers: a table of name, title, description, required arguments."""
        with self._scrubbing():
            return self._loop.run(self._alist())

    async def alist_tools(self) -> ToolList:
        """`list_tools`, awaited."""
        with self._scrubbing():
            return await self._loop.arun(self._alist())

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """Call one tool; a tool that reports an error raises `ToolError` with its text."""
        tool, values = _tool_name(name), _arguments(arguments)
        with self._scrubbing():
            return self._loop.run(self._acall(tool, values))

    async def acall_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """`call_tool`, awaited."""
        tool, values = _tool_name(name), _arguments(arguments)
        with self._scrubbing():
            return await self._loop.arun(self._acall(tool, values))

    def _engine(
        self,
        name: str,
        rows: Any,
        concurrency: int,
        arguments: Mapping[str, Any] | None,
        max_rate_limit_waits: int,
    ) -> RunEngine:
        tool = _tool_name(name)
        limit = check_concurrency(concurrency)
        jobs = jobs_from(rows, _arguments(arguments))

        def call(values: dict[str, Any]) -> Any:
            return self._acall(tool, values)

        return RunEngine(call, tool, jobs, concurrency=limit, max_waits=max_rate_limit_waits)

    def run_many(
        self,
        name: str,
        rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        arguments: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        max_rate_limit_waits: int = 5,
    ) -> ToolRunResult:
        """Call `name` once per row (a list of argument dicts, or a DataFrame), `concurrency`
        at a time, with a progress bar; one result row per input, failures included.
        `arguments` apply to every row, under the row's own. Ctrl+C (or the stop button)
        stops new calls and waits for those sent; a second stops waiting."""
        engine = self._engine(name, rows, concurrency, arguments, max_rate_limit_waits)
        self._open()
        bar = new_bar(len(engine._jobs), show=progress, tool=engine._tool)
        with self._scrubbing():
            return drive(self._loop, engine, bar)

    async def arun_many(
        self,
        name: str,
        rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        arguments: Mapping[str, Any] | None = None,
        progress: bool | None = None,
        max_rate_limit_waits: int = 5,
    ) -> ToolRunResult:
        """`run_many`, awaited; cancelling stops new calls, a second cancel stops waiting."""
        engine = self._engine(name, rows, concurrency, arguments, max_rate_limit_waits)
        self._open()
        bar = new_bar(len(engine._jobs), show=progress, tool=engine._tool)
        with self._scrubbing():
            return await adrive(self._loop, engine, bar)

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """End the connection and its thread; a later call opens them again."""
        connection, self._connection = self._connection, None
        self._loop.close(None if connection is None else connection.aclose())

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> MCPSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> MCPSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _secret(value: str | Secret | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ConfigurationError(f"token must be a string, not a {type(value).__name__}.")
    stripped = value.strip()
    return Secret(stripped) if stripped else None
