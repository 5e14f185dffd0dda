from __future__ import annotations

import ast
import graphlib
import inspect
import subprocess
import sys
import traceback
from pathlib import Path

import zapier_nb

EXPECTED_PUBLIC_NAMES = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionList",
    "ActionLookupError",
    "ActionRequestError",
    "ActionResult",
    "AiAction",
    "AuthenticationError",
    "AuthorizationError",
    "CheckAuthResponse",
    "ConfigurationError",
    "ConsentDeniedError",
    "InvalidCodeError",
    "LoginError",
    "LoginLinkResponse",
    "LoginRequiredError",
    "MCPSession",
    "OAuthError",
    "ParamConstraint",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectAdvice",
    "ResponseValidationError",
    "RunManyResult",
    "RunRow",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenCacheError",
    "TokenInfo",
    "TokenResponse",
    "ToolError",
    "ToolInfo",
    "ToolList",
    "ToolResult",
    "ToolRunResult",
    "ToolRunRow",
    "ZapierError",
    "get_session",
    "login",
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


def test_session_has_the_ai_actions_methods_and_their_async_twins() -> None:
    for name in (
        "list_actions", "find_action", "get_action", "create_action", "update_action",
        "delete_action", "run_action", "rate_execution", "run_many",
    ):  # fmt: skip
        assert inspect.isfunction(getattr(zapier_nb.Session, name)), name
        assert inspect.iscoroutinefunction(getattr(zapier_nb.Session, f"a{name}")), name


def test_mcp_session_has_the_documented_methods_and_their_async_twins() -> None:
    session = zapier_nb.MCPSession
    assert inspect.ismethod(session.from_env)
    for name in ("list_tools", "call_tool", "run_many", "close"):
        assert inspect.isfunction(getattr(session, name)), name
        assert inspect.iscoroutinefunction(getattr(session, f"a{name}")), name
    for name in ("__enter__", "__exit__", "__aenter__", "__aexit__"):
        assert hasattr(session, name), name


def test_the_runner_widget_is_exported_from_widgets() -> None:
    from zapier_nb.widgets import ActionRunner

    assert ActionRunner.__module__ == "zapier_nb._action_runner"


def test_import_does_not_pull_in_notebook_or_server_libraries() -> None:
    code = (
        "import sys, zapier_nb; "
        "bad = [m for m in ('IPython', 'ipywidgets', 'starlette', 'uvicorn', 'httpx', 'mcp') "
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


def _module_imports(path: Path) -> set[str]:
    """The package modules a module imports when it is loaded: top level, outside
    `if TYPE_CHECKING:` (imports inside functions run later, on purpose)."""
    imported: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                imported.add(node.module.split(".")[0])
            else:
                imported.update(alias.name for alias in node.names)
    return imported


def test_no_module_of_the_package_imports_itself_back_when_loaded() -> None:
    package = Path(zapier_nb.__file__).parent
    graph = {path.stem: _module_imports(path) for path in package.glob("*.py")}
    graph.pop("__init__")
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises on a cycle
    assert "_errors" in order


def test_the_core_loads_no_notebook_layer() -> None:
    package = Path(zapier_nb.__file__).parent
    ui = {"_display", "widgets", "magics", "_login_ui", "_terminal", "_secret_field", "tutorial"}
    ui |= {"_mcp_magics", "_mcp_widget"}
    core = {path.stem for path in package.glob("_*.py")} - ui - {"__init__"}
    for name in sorted(core):
        assert not _module_imports(package / f"{name}.py") & ui, name


# The notebook and terminal layer; everything else in the package is the core below it.
NOTEBOOK_LAYER = frozenset(
    {
        "_action_runner",
        "_display",
        "_login_button",
        "_login_ui",
        "_mcp_widget",
        "_progress",
        "_secret_field",
        "_server_extension",
        "_terminal",
        "magics",
        "tutorial",
        "widgets",
    }
)


def _every_import(path: Path) -> set[str]:
    """The package modules a module names in any import statement: at the top, inside
    functions, and under `if TYPE_CHECKING:` alike."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                imported.add(node.module.split(".")[0])
            else:
                imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zapier_nb."):
            imported.add((node.module or "").split(".")[1])
    return imported


def _module_graph() -> dict[str, set[str]]:
    package = Path(zapier_nb.__file__).parent
    modules = {path.stem for path in package.glob("*.py")} | {"sandbox"}
    graph = {path.stem: _every_import(path) & modules for path in package.glob("*.py")}
    graph.pop("__init__")
    return {name: imports - {"__init__", name} for name, imports in graph.items()}


def test_the_module_graph_of_every_import_statement_has_no_cycle() -> None:
    graph = _module_graph()
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
    assert "_login" in order


def test_the_core_never_imports_the_notebook_layer_not_even_lazily() -> None:
    graph = _module_graph()
    for name in sorted(set(graph) - NOTEBOOK_LAYER):
        assert not graph[name] & NOTEBOOK_LAYER, (name, graph[name] & NOTEBOOK_LAYER)


def test_session_login_imports_no_ui() -> None:
    """`Session.login()` reaches the widget through the hand-over the package sets up."""
    source = (Path(zapier_nb.__file__).parent / "_session.py").read_text()
    assert "widgets" not in source
    assert "_login_ui" not in source


def test_the_notebook_layer_names_session_only_for_type_hints() -> None:
    """`Session.login()` imports the notebook layer; it must not import the session back."""
    package = Path(zapier_nb.__file__).parent
    for name in ("_display", "widgets", "_login_ui", "_terminal", "magics"):
        assert "_session" not in _module_imports(package / f"{name}.py"), name


def test_errors_show_where_users_import_them_from() -> None:
    error = zapier_nb.SessionExpiredError("Log in again.", status_code=400, error="invalid_grant")
    line = "".join(traceback.format_exception_only(error))
    assert line.startswith("zapier_nb.SessionExpiredError: Log in again.")
    assert all(
        getattr(zapier_nb, name).__module__ == "zapier_nb"
        for name in zapier_nb.__all__
        if name.endswith("Error")
    )


def test_every_documented_submodule_is_an_attribute_after_a_plain_import() -> None:
    code = (
        "import sys, zapier_nb\n"
        "loaded = [m for m in ('zapier_nb.widgets', 'zapier_nb.magics', 'zapier_nb.sandbox', "
        "'zapier_nb.tutorial', 'IPython') if m in sys.modules]\n"
        "print(loaded)\n"
        "print(zapier_nb.widgets.ActionRunner.__name__, zapier_nb.widgets.LoginWidget.__name__)\n"
        "print(zapier_nb.sandbox.Sandbox.__name__, zapier_nb.tutorial.setup.__name__)\n"
        "print(zapier_nb.magics.ZapierMagics.__name__)\n"
        "print(sorted({'widgets', 'magics', 'sandbox', 'tutorial'} - set(dir(zapier_nb))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]",
        "ActionRunner LoginWidget",
        "Sandbox setup",
        "ZapierMagics",
        "[]",
    ]
