"""The sandbox's AI Actions world: each user's stored actions, execution logs, sent emails.

Every user starts with the built-in demo actions (their ids are the same after every
reset). Everything is guarded by one lock, so tests may read it from any thread.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._demo_actions import CATALOG, DEMO_KEYS, Outcome, echo, no_guess, resolve

__all__ = [
    "ActionRunner",
    "ActionsState",
    "ExecutionLog",
    "SentEmail",
    "StoredAction",
    "new_id",
]

ActionRunner = Callable[[dict[str, Any], str], Any]


def _base32_id(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")[:26]


def new_id() -> str:
    """A 26-character upper-case id, time first, like the API's ULIDs."""
    stamp = int(time.time() * 1000).to_bytes(6, "big")
    return _base32_id(stamp + secrets.token_bytes(11))


def _fixed_id(seed: str) -> str:
    return _base32_id(hashlib.sha256(seed.encode()).digest())


@dataclass
class StoredAction:
    """One stored AI Action, as `AiActionResponse` fields plus what the sandbox needs."""

    id: str
    owner: int
    app: str
    action: str
    action_type: str
    description: str
    params: dict[str, Any]
    meta: dict[str, Any]
    needs: list[dict[str, Any]]
    account_id: int | None = None
    authentication_id: int | None = None
    runner: ActionRunner | None = field(default=None, repr=False)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "account_id": self.account_id,
            "authentication_id": self.authentication_id,
            "app": self.app,
            "action": self.action,
            "action_type": self.action_type,
            "params": dict(self.params),
            "meta": dict(self.meta),
            "needs": [dict(n) for n in self.needs],
        }


@dataclass
class ExecutionLog:
    """One execute or preview request that was answered, and its rating."""

    execution_log_id: str
    owner: int
    action_id: str
    instructions: str
    preview: bool
    response: dict[str, Any]
    started_at: float
    finished_at: float
    rating: int | None = None
    feedback: str | None = None

    @property
    def status(self) -> str:
        return str(self.response.get("status"))


@dataclass(frozen=True)
class SentEmail:
    """A message the sandbox's "Gmail: Send Email" action sent (it goes nowhere)."""

    id: str
    sender: str
    to: str
    subject: str
    body: str
    execution_log_id: str


class ActionsState:
    """Stored actions per user, execution logs, sent emails, and the per-call latency."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._actions: dict[str, StoredAction] = {}
            self._seeded: set[int] = set()
            self._logs: dict[str, ExecutionLog] = {}
            self._emails: list[SentEmail] = []
            self._executions: Counter[str] = Counter()
            self._latency = 0.0

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError("latency must be a number of seconds >= 0")
        self._latency = float(seconds)

    # -- stored actions ---------------------------------------------------------------------

    def _seed(self, owner: int) -> None:
        if owner in self._seeded:
            return
        self._seeded.add(owner)
        for key in DEMO_KEYS:
            spec = CATALOG[key]
            action = self._build(
                owner, spec.app, spec.action, spec.action_type, {}, None,
                action_id=_fixed_id(f"{owner}:{spec.app}:{spec.action}"),
            )  # fmt: skip
            self._actions[action.id] = action

    def _build(
        self,
        owner: int,
        app: str,
        action: str,
        action_type: str,
        params: dict[str, Any],
        meta: dict[str, Any] | None,
        *,
        action_id: str | None = None,
        description: str | None = None,
        needs: Sequence[Mapping[str, Any]] | None = None,
        runner: ActionRunner | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> StoredAction:
        spec = CATALOG.get((app, action))
        meta = dict(meta or {})
        meta.setdefault("params", {k: {"label": _label(v)} for k, v in params.items()})
        meta.setdefault("app_label", spec.app_label if spec else app)
        meta.setdefault("action_label", spec.action_label if spec else action)
        meta.setdefault("authentication_label", None)
        meta.setdefault("app_needs_auth", False)
        if needs is None:
            needs = spec.needs if spec else [_plain_need(k) for k in params]
        default_description = f"{meta['app_label']}: {meta['action_label']}"
        return StoredAction(
            id=action_id or new_id(),
            owner=owner,
            app=app,
            action=action,
            action_type=action_type,
            description=description or (spec.description if spec else default_description),
            params=dict(params),
            meta=meta,
            needs=[dict(n) for n in needs],
            account_id=account_id,
            authentication_id=authentication_id,
            runner=runner,
        )

    def owned(self, owner: int) -> list[StoredAction]:
        with self._lock:
            self._seed(owner)
            return [a for a in self._actions.values() if a.owner == owner]

    def get(self, owner: int, action_id: str) -> StoredAction | None:
        with self._lock:
            self._seed(owner)
            action = self._actions.get(action_id)
            return action if action is not None and action.owner == owner else None

    def add(self, owner: int, **settings: Any) -> StoredAction:
        with self._lock:
            self._seed(owner)
            action = self._build(owner, **settings)
            self._actions[action.id] = action
            return action

    def replace(self, owner: int, action_id: str, **settings: Any) -> StoredAction | None:
        with self._lock:
            current = self.get(owner, action_id)
            if current is None:
                return None
            same = (settings["app"], settings["action"]) == (current.app, current.action)
            rebuilt = self._build(
                owner,
                action_id=action_id,
                runner=current.runner if same else None,
                needs=current.needs if same else None,
                **settings,
            )
            self._actions[action_id] = rebuilt
            return rebuilt

    def delete(self, owner: int, action_id: str) -> bool:
        with self._lock:
            if self.get(owner, action_id) is None:
                return False
            del self._actions[action_id]
            return True

    # -- running ------------------------------------------------------------------------------

    def execute(
        self,
        action: StoredAction,
        *,
        instructions: str,
        constraints: dict[str, dict[str, Any]],
        preview: bool,
        sender_email: str,
        sender_name: str,
        started_at: float,
    ) -> ExecutionLog:
        spec = CATALOG.get((action.app, action.action))
        resolved = resolve(
            needs=action.needs,
            stored=action.params,
            constraints=constraints,
            instructions=instructions,
            guess=spec.guess if spec and action.runner is None else no_guess,
            sender=sender_name,
        )
        log_id = new_id()
        response: dict[str, Any] = {
            "execution_log_id": log_id,
            "action_used": action.description,
            "input_params": {k: dict(v) for k, v in constraints.items()},
            "resolved_params": resolved,
        }
        if preview:
            outcome = Outcome("preview")
        else:
            missing = [
                str(n["key"])
                for n in action.needs
                if n.get("required") and n["key"] not in resolved
            ]
            if missing:
                outcome = Outcome(
                    "error",
                    error=f"Missing required input {', '.join(repr(m) for m in missing)}: say it "
                    "in the instructions, or give it in params.",
                )
            else:
                outcome = self._run(action, spec, resolved, instructions)
        with self._lock:
            results = outcome.results
            if outcome.email is not None and not preview:
                message = SentEmail(
                    id=f"msg-{len(self._emails) + 1:04d}",
                    sender=sender_email,
                    execution_log_id=log_id,
                    **outcome.email,
                )
                self._emails.append(message)
                results = [{"id": message.id, **r} for r in results]
            if not preview:
                self._executions[action.id] += 1
            response.update(
                results=results,
                full_results=[dict(r) for r in results],
                result_field_labels=outcome.labels or None,
                status=outcome.status,
                error=outcome.error,
            )
            log = ExecutionLog(
                log_id, action.owner, action.id, instructions, preview, response, started_at,
                time.monotonic(),
            )  # fmt: skip
            self._logs[log_id] = log
            return log

    @staticmethod
    def _run(
        action: StoredAction, spec: Any, resolved: dict[str, Any], instructions: str
    ) -> Outcome:
        if action.runner is not None:
            try:
                records = action.runner(dict(resolved), instructions)
            except Exception as exc:
                return Outcome("error", error=str(exc) or type(exc).__name__)
            rows = [dict(r) for r in records or []]
            return Outcome("success" if rows else "empty", rows)
        run = spec.run if spec is not None else echo
        outcome: Outcome = run(resolved, instructions)
        return outcome

    def rate(
        self, owner: int, log_id: str, rating: int, feedback: str | None
    ) -> ExecutionLog | None:
        with self._lock:
            log = self._logs.get(log_id)
            if log is None or log.owner != owner:
                return None
            log.rating = rating
            if feedback is not None:
                log.feedback = feedback
            return log

    # -- reading --------------------------------------------------------------------------------

    def execution_count(self, action_id: str | None = None) -> int:
        with self._lock:
            if action_id is None:
                return sum(self._executions.values())
            return self._executions[action_id]

    def logs(self) -> list[ExecutionLog]:
        with self._lock:
            return [replace(log) for log in self._logs.values()]

    def sent_emails(self) -> list[SentEmail]:
        with self._lock:
            return list(self._emails)


def _label(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _plain_need(key: str, required: bool = False) -> dict[str, Any]:
    return {
        "key": key,
        "type": "unicode",
        "label": key.replace("_", " ").capitalize(),
        "required": required,
        "prefill": None,
        "custom_field": False,
        "depends_on": [],
        "choices": None,
        "help_text": None,
    }


def needs_from(spec: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Needs given as keys (required inputs) or as need mappings with at least `key`."""
    out = []
    for item in spec:
        if isinstance(item, str):
            out.append(_plain_need(item, required=True))
        else:
            need = _plain_need(str(item["key"]), required=bool(item.get("required", True)))
            need.update(item)
            out.append(need)
    return out
