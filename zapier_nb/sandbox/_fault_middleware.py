"""ASGI middleware that applies act-first faults after the route has done its work.

The route runs and answers as usual; its answer is held back and replaced by the fault:
a status and body, or a dropped connection, after the fault's delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._faults import Fault, close_deferral, open_deferral

__all__ = ["ActFirstFaults"]


class ActFirstFaults:
    def __init__(
        self,
        app: ASGIApp,
        *,
        respond: Callable[[str, Fault], Response],
        drop: Callable[[], Response],
        generation: Callable[[], int],
    ) -> None:
        self.app = app
        self._respond = respond
        self._drop = drop
        self._generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        box, token = open_deferral()

        async def hold_back(message: Message) -> None:
            if not box:
                await send(message)

        try:
            await self.app(scope, receive, hold_back)
        finally:
            close_deferral(token)
        if not box:
            return
        deferred = box[0]
        fault = deferred.fault
        response: Response
        if fault.delay > 0:
            generation = self._generation()
            await asyncio.sleep(fault.delay)
            if self._generation() != generation:
                await self._drop()(scope, receive, send)
                return
        response = self._drop() if fault.drop else self._respond(deferred.route, fault)
        await response(scope, receive, send)
