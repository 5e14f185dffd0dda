"""Drive a real IPython kernel the way a Jupyter front end does, over its ZMQ channels."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

Answer = Callable[[str, bool, "Reply"], str | None]


@dataclass
class Reply:
    """The IOPub messages one execution (or one widget message) caused."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[tuple[str, bool]] = field(default_factory=list)

    def _of(self, *types: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] in types]

    def stream(self, name: str) -> str:
        return "".join(c["text"] for c in self._of("stream") if c["name"] == name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self._of("error")

    def data(self, mime: str) -> str:
        return "".join(c["data"].get(mime, "") for c in self._of("execute_result", "display_data"))


class KernelDriver:
    """A kernel, its client, and every widget model state it has announced."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager: KernelManager
        self.client: BlockingKernelClient
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env)
        self.widgets: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def run(self, code: str, *, answer: Answer | None = None, timeout: float = 60) -> Reply:
        msg_id = self.client.execute(code, allow_stdin=answer is not None)
        return self._collect(msg_id, answer, timeout)

    def send_custom(self, comm_id: str, content: dict[str, Any], timeout: float = 60) -> Reply:
        """Send what a widget's front end sends with `model.send(content)`."""
        data = {"method": "custom", "content": content}
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)
        return self._collect(msg["header"]["msg_id"], None, timeout)

    def send_update(self, comm_id: str, state: dict[str, Any], timeout: float = 60) -> Reply:
        """Send what a front end sends when the user edits a synced widget value."""
        data = {"method": "update", "state": state, "buffer_paths": []}
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)
        return self._collect(msg["header"]["msg_id"], None, timeout)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        """Read IOPub until `condition()` holds: for changes made on another kernel thread."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not get there within {timeout} s")
            try:
                self._track(self.client.get_iopub_msg(timeout=0.05))
            except queue.Empty:
                continue

    def find(self, css_class: str) -> str:
        """The comm id of the newest widget carrying this CSS class."""
        found = self.find_all(css_class)
        if not found:
            raise LookupError(f"no widget with class {css_class!r}")
        return found[-1]

    def find_all(self, css_class: str) -> list[str]:
        """The comm ids of every widget carrying this CSS class, oldest first."""
        return [cid for cid, s in self.widgets.items() if css_class in s.get("_dom_classes", [])]

    def value(self, css_class: str) -> Any:
        return self.widgets[self.find(css_class)].get("value")

    def state(self, css_class: str) -> dict[str, Any]:
        """The newest widget with this CSS class: its whole synced state."""
        return self.widgets[self.find(css_class)]

    def children_classes(self, css_class: str) -> list[list[str]]:
        """The CSS classes of each child of the newest container with this class."""
        children = self.state(css_class).get("children", [])
        ids = [child.removeprefix("IPY_MODEL_") for child in children]
        return [self.widgets.get(cid, {}).get("_dom_classes", []) for cid in ids]

    def transcript(self) -> str:
        """Every IOPub message seen, as text, for searching."""
        return "\n".join(json.dumps(m["content"], default=str) for m in self.log)

    def _collect(self, msg_id: str, answer: Answer | None, timeout: float) -> Reply:
        reply = Reply()
        pending: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answer is not None:
                self._answer_prompt(answer, reply, pending)
            try:
                msg = self.client.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            self._track(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return reply
            reply.messages.append(msg)
        raise TimeoutError(f"the kernel did not finish within {timeout} s")

    def _answer_prompt(self, answer: Answer, reply: Reply, pending: list[dict[str, Any]]) -> None:
        """Answer a pending input request once `answer` returns text (None: not yet)."""
        if not pending:
            try:
                pending.append(self.client.get_stdin_msg(timeout=0.01))
            except queue.Empty:
                return
        content = pending[0]["content"]
        text = answer(content["prompt"], content["password"], reply)
        if text is not None:
            pending.clear()
            reply.prompts.append((content["prompt"], content["password"]))
            self.client.input(text)

    def _track(self, msg: dict[str, Any]) -> None:
        self.log.append(msg)
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            self.widgets[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            self.widgets.setdefault(content["comm_id"], {}).update(content["data"]["state"])


def relay_answer(k: KernelDriver, redirected: str) -> Reply:
    """What the login button's page sends once the callback page relayed `redirected`."""
    answer = {name: values[0] for name, values in parse_qs(urlsplit(redirected).query).items()}
    return k.send_custom(k.find("zapier-nb-login-link"), {"event": "oauth-callback", **answer})
