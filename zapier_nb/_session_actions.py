"""The AI Actions methods of `Session`: thin delegations, sync and async twins.

Requests are built and read in `_actions`, results in `_results`, `run_many` in
`_run_many`. An action is named by its id, an `AiAction`, or (looked up with one list
request) its `app/action` key or words of its description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._config import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ._action_models import ActionType, AiAction, AiActionMeta
    from ._http import httpx
    from ._results import ActionList, ActionResult, RunManyResult

__all__ = ["ActionMethods"]


class ActionMethods:
    """Mixed into `Session`, which gives the clients; `_actions` scrubs every error it
    builds of the session's secrets."""

    if TYPE_CHECKING:

        @property
        def client(self) -> httpx.Client: ...

        @property
        def async_client(self) -> httpx.AsyncClient: ...

        @property
        def base_url(self) -> str: ...

        def _scrubbing(self) -> AbstractContextManager[None]: ...

    def list_actions(self) -> ActionList:
        """`GET /api/v2/ai-actions/`: the stored actions (a list) and `configuration_link`."""
        from . import _actions

        return _actions.list_actions(self)

    async def alist_actions(self) -> ActionList:
        """The asynchronous `list_actions()`."""
        from . import _actions

        return await _actions.alist_actions(self)

    def find_action(self, query: str) -> AiAction:
        """The one stored action whose id, `app/action` key or description matches `query`."""
        from . import _actions

        return _actions.lookup_action(self, query)

    async def afind_action(self, query: str) -> AiAction:
        """The asynchronous `find_action()`."""
        from . import _actions

        return await _actions.alookup_action(self, query)

    def get_action(self, action_id: str) -> AiAction:
        """`GET /api/v2/ai-actions/{id}/`."""
        from . import _actions

        return _actions.get_action(self, action_id)

    async def aget_action(self, action_id: str) -> AiAction:
        """The asynchronous `get_action()`."""
        from . import _actions

        return await _actions.aget_action(self, action_id)

    def create_action(
        self,
        app: str,
        action: str,
        *,
        action_type: ActionType = "write",
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """`POST /api/v2/ai-actions/`: store an action of `app`'s `action`.

        In `params` a string is a hint guessed from at run time and a list a set of ids to
        choose from; inputs left out are guessed from the instructions. `meta` defaults to
        labels that repeat the params' values.
        """
        from . import _actions

        return _actions.create_action(
            self, app=app, action=action, action_type=action_type, params=params,
            meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip

    async def acreate_action(
        self,
        app: str,
        action: str,
        *,
        action_type: ActionType = "write",
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """The asynchronous `create_action()`."""
        from . import _actions

        return await _actions.acreate_action(
            self, app=app, action=action, action_type=action_type, params=params,
            meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip

    def update_action(
        self,
        action: str | AiAction,
        *,
        app: str | None = None,
        action_key: str | None = None,
        action_type: ActionType | None = None,
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """`PUT /api/v2/ai-actions/{id}/`: replace the stored action.

        Settings not given are kept from the action as it is now (given as an `AiAction`,
        or fetched first by id). New `params` without `meta` get fresh labels.
        """
        from . import _actions

        return _actions.update_action(
            self, action, app=app, action=action_key, action_type=action_type,
            params=params, meta=meta, account_id=account_id,
            authentication_id=authentication_id,
        )  # fmt: skip

    async def aupdate_action(
        self,
        action: str | AiAction,
        *,
        app: str | None = None,
        action_key: str | None = None,
        action_type: ActionType | None = None,
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """The asynchronous `update_action()`."""
        from . import _actions

        return await _actions.aupdate_action(
            self, action, app=app, action=action_key, action_type=action_type,
            params=params, meta=meta, account_id=account_id,
            authentication_id=authentication_id,
        )  # fmt: skip

    def delete_action(self, action: str | AiAction) -> bool:
        """`DELETE /api/v2/ai-actions/{id}/`: True if deleted, False if no action had the id."""
        from . import _actions

        return _actions.delete_action(self, action)

    async def adelete_action(self, action: str | AiAction) -> bool:
        """The asynchronous `delete_action()`."""
        from . import _actions

        return await _actions.adelete_action(self, action)

    def run_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult:
        """`POST /api/v2/ai-actions/{id}/execute/`: run the action, or only preview it.

        `params` maps input keys to plain values (used as given: `locked`) or to
        constraints (`ParamConstraint.guess("...")`, or `{"mode": ..., "value": ...}`).
        With `preview=True` the server only says what it would do; nothing runs. The
        request is sent once: it is never repeated after it may have reached the server.
        """
        from . import _actions

        target = _actions.resolve_action(self, action)
        return _actions.run_action(self, _actions.id_of(target), instructions, params, preview)

    async def arun_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult:
        """The asynchronous `run_action()`."""
        from . import _actions

        target = await _actions.aresolve_action(self, action)
        return await _actions.arun_action(
            self, _actions.id_of(target), instructions, params, preview
        )

    def rate_execution(
        self, execution_log_id: str, rating: int, feedback: str | None = None
    ) -> ActionResult:
        """`POST /api/v2/execute/log/{id}/rate/`: rate a run -1, 0 or 1, with optional feedback."""
        from . import _actions

        return _actions.rate_execution(self, execution_log_id, rating, feedback)

    async def arate_execution(
        self, execution_log_id: str, rating: int, feedback: str | None = None
    ) -> ActionResult:
        """The asynchronous `rate_execution()`."""
        from . import _actions

        return await _actions.arate_execution(self, execution_log_id, rating, feedback)

    def run_many(
        self,
        action: str | AiAction,
        instructions_or_rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        preview: bool = False,
        params: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> RunManyResult:
        """Run the action once per input, `concurrency` at a time; one row per input back.

        Inputs are instructions (strings) or rows (mappings, or a pandas or polars
        DataFrame) with an `instructions` column, other columns being params. A 429 is
        waited out and retried (the action did not run); other failures are noted in
        their row. Ctrl+C or the notebook's stop button stops new requests and returns
        what finished. `progress`: a bar in notebooks, a line at a terminal (None: when
        one is there; False: never).
        """
        from . import _run_many

        return _run_many.run_many(
            self, action, instructions_or_rows, concurrency=concurrency,
            preview=preview, params=params, progress=progress,
        )  # fmt: skip

    async def arun_many(
        self,
        action: str | AiAction,
        instructions_or_rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        preview: bool = False,
        params: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> RunManyResult:
        """The asynchronous `run_many()`; cancelling it ends it like an interrupt."""
        from . import _run_many

        return await _run_many.arun_many(
            self, action, instructions_or_rows, concurrency=concurrency,
            preview=preview, params=params, progress=progress,
        )  # fmt: skip
