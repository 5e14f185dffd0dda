from __future__ import annotations

import inspect
import subprocess
import sys

import zapier_nb

EXPECTED_PUBLIC_NAMES = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "AuthorizationError",
    "CheckAuthResponse",
    "ConfigurationError",
    "ConsentDeniedError",
    "InvalidCodeError",
    "LoginError",
    "LoginLinkResponse",
    "LoginRequiredError",
    "OAuthError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectAdvice",
    "ResponseValidationError",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenInfo",
    "TokenResponse",
    "ZapierError",
    "get_session",
    "redirect_uri",
]


def test_public_surface_is_locked_and_sorted() -> None:
    assert zapier_nb.__all__ == EXPECTED_PUBLIC_NAMES
    assert sorted(zapier_nb.__all__) == zapier_nb.__all__
    assert all(hasattr(zapier_nb, name) for name in zapier_nb.__all__)


def test_every_error_derives_from_zapier_error() -> None:
    errors = [
        obj
        for name in zapier_nb.__all__
        if inspect.isclass(obj := getattr(zapier_nb, name)) and issubclass(obj, Exception)
    ]
    assert len(errors) >= 15
    assert all(issubclass(error, zapier_nb.ZapierError) for error in errors)


def test_session_has_the_documented_methods() -> None:
    for name in (
        "from_env", "begin_login", "complete_login", "check", "acheck", "refresh", "logout",
        "login_link", "client", "async_client",
    ):  # fmt: skip
        assert hasattr(zapier_nb.Session, name), name


def test_import_does_not_pull_in_notebook_or_server_libraries() -> None:
    code = (
        "import sys, zapier_nb; "
        "bad = [m for m in ('IPython', 'ipywidgets', 'starlette', 'uvicorn', 'httpx') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_one_module_imports_the_http_library() -> None:
    from pathlib import Path

    package = Path(zapier_nb.__file__).parent
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "sandbox" not in path.parts
        and any(
            line.startswith(("import httpx2", "from httpx2"))
            for line in path.read_text().splitlines()
        )
    )
    assert importers == ["_http.py"]
