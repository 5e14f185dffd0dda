"""The sandbox's built-in AI Actions, their bundled data, and the rules that stand in for the AI.

No model runs here: every input is resolved by a small, fixed rule, so a tutorial gets the
same answer every time.

How an input gets its value, in this order:

* a request param with mode ``locked``: the value as given;
* ``guess``: the value is a hint; among the input's choices, the one equal to it (case
  ignored), else the first that contains it or is contained in it; without choices (or
  no match) the hint itself;
* ``choose_from``: a list of choice ids; the first one the instructions mention, else the
  first of the list;
* ``ignored``: the input is left out;
* no request param: the stored action's own param (a string is a ``guess`` hint, a list a
  ``choose_from`` list), else the action's own rule below reads it from the instructions.

The rules of the built-in actions:

* **Google Sheets: Lookup Spreadsheet Row**: ``spreadsheet`` is the sheet the instructions
  name ("customer", "order"; default Customers); ``lookup_value`` the text in quotes, else
  an email address, else an order number (``SO-1001``), else the last word;
  ``lookup_column`` a column the instructions name, else the first column where the value
  occurs. A row matches when the cell equals the value or one of its words does (case
  ignored). No match answers ``status: "empty"``.
* **Gmail: Send Email**: ``to`` is every email address in the instructions; ``subject`` the
  text in double quotes, else "Message from <sender>"; ``body`` the instructions. No
  address answers ``status: "error"`` and sends nothing. Sent messages are kept and can be
  read with ``Sandbox.sent_emails()``.
* **Help Center: Search Articles**: ``query`` is the text in quotes, else the instructions
  without filler words. An article matches when each query word shares its first five
  letters with a word of the article. No match answers ``status: "empty"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ARTICLES",
    "CATALOG",
    "DEMO_KEYS",
    "SHEETS",
    "ActionSpec",
    "Outcome",
    "resolve",
]

Resolved = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What running an action produced."""

    status: str
    results: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    email: dict[str, str] | None = None  # a message to record as sent


Guess = Callable[[str, Resolved, str], Resolved]
Run = Callable[[Resolved, str], Outcome]


@dataclass(frozen=True)
class ActionSpec:
    """An app action the sandbox knows how to run."""

    app: str
    action: str
    action_type: str
    description: str
    app_label: str
    action_label: str
    needs: tuple[dict[str, Any], ...]
    guess: Guess
    run: Run


# -- bundled data ---------------------------------------------------------------------------

SHEETS: dict[str, list[dict[str, str]]] = {
    "Customers": [
        {"name": "Ada Lovelace", "email": "ada@example.com", "city": "London", "plan": "Pro"},
        {"name": "Grace Hopper", "email": "grace@example.org", "city": "Arlington", "plan": "Team"},
        {"name": "Alan Turing", "email": "alan@example.org", "city": "Manchester", "plan": "Free"},
        {"name": "Katherine Johnson", "email": "katherine@example.com", "city": "Hampton",
         "plan": "Pro"},
        {"name": "Edsger Dijkstra", "email": "edsger@example.nl", "city": "Eindhoven",
         "plan": "Free"},
        {"name": "Barbara Liskov", "email": "barbara@example.com", "city": "Boston",
         "plan": "Team"},
        {"name": "Donald Knuth", "email": "don@example.org", "city": "Stanford", "plan": "Pro"},
        {"name": "Margaret Hamilton", "email": "margaret@example.com", "city": "Boston",
         "plan": "Pro"},
    ],
    "Orders": [
        {"order_id": "SO-1001", "customer_email": "ada@example.com",
         "item": "Analytical Engine manual", "quantity": "1", "total": "42.00",
         "status": "shipped"},
        {"order_id": "SO-1002", "customer_email": "grace@example.org", "item": "Compiler handbook",
         "quantity": "2", "total": "58.00", "status": "processing"},
        {"order_id": "SO-1003", "customer_email": "ada@example.com", "item": "Punch cards (box)",
         "quantity": "3", "total": "27.00", "status": "delivered"},
        {"order_id": "SO-1004", "customer_email": "margaret@example.com",
         "item": "Apollo guidance poster", "quantity": "1", "total": "19.50",
         "status": "shipped"},
        {"order_id": "SO-1005", "customer_email": "barbara@example.com",
         "item": "Abstraction notebook", "quantity": "4", "total": "30.00",
         "status": "cancelled"},
    ],
}  # fmt: skip

SHEET_LABELS = {
    "name": "Name",
    "email": "Email",
    "city": "City",
    "plan": "Plan",
    "order_id": "Order",
    "customer_email": "Customer email",
    "item": "Item",
    "quantity": "Quantity",
    "total": "Total (USD)",
    "status": "Status",
}

ARTICLES: tuple[dict[str, str], ...] = (
    {"title": "Reset your password", "section": "Account",
     "body": "Use the forgot password link on the login page; a reset email follows."},
    {"title": "Export your data as CSV", "section": "Data",
     "body": "Open Settings, choose Export, and download every table as a CSV file."},
    {"title": "Connect Google Sheets", "section": "Integrations",
     "body": "Authorize your Google account, then pick the spreadsheet to sync."},
    {"title": "Invite teammates to your workspace", "section": "Account",
     "body": "Send invitations by email from the Members page; they join your plan."},
    {"title": "Set up two-factor authentication", "section": "Security",
     "body": "Scan the code with an authenticator app and keep the recovery codes safe."},
)  # fmt: skip

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”")
_ORDER_ID = re.compile(r"\bSO-\d+\b", re.IGNORECASE)
_WORD = re.compile(r"[\w@.+-]+")
_FILLER_WORDS = (
    "a an the for about on of to in with and or search find look up lookup help center "
    "article articles me my your please show get any some how do does i can is are what"
)
_FILLER = frozenset(_FILLER_WORDS.split())


def quoted(text: str) -> str | None:
    match = _QUOTED.search(text)
    if match is None:
        return None
    return next(group for group in match.groups() if group)


def emails(text: str) -> list[str]:
    return list(dict.fromkeys(_EMAIL.findall(text)))


def words(text: str) -> list[str]:
    return [w.strip(".,;:!?") for w in _WORD.findall(text) if w.strip(".,;:!?")]


# -- Google Sheets: lookup row ------------------------------------------------------------------


def _sheet_columns() -> list[str]:
    return list(dict.fromkeys(column for rows in SHEETS.values() for column in rows[0]))


def _row_matches(cell: str, value: str) -> bool:
    wanted = value.casefold().strip()
    return cell.casefold() == wanted or wanted in (w.casefold() for w in words(cell))


def _guess_lookup(instructions: str, resolved: Resolved, sender: str) -> Resolved:
    out: Resolved = {}
    lowered = instructions.casefold()
    if "spreadsheet" not in resolved:
        mentioned = [name for name in SHEETS if name.casefold().rstrip("s") in lowered]
        out["spreadsheet"] = mentioned[0] if mentioned else "Customers"
    sheet = str(resolved.get("spreadsheet", out.get("spreadsheet", "Customers")))
    if "lookup_value" not in resolved:
        found = emails(instructions)
        order = _ORDER_ID.search(instructions)
        value = quoted(instructions) or (found[0] if found else None)
        value = value or (order.group(0).upper() if order else None)
        tokens = words(instructions)
        out["lookup_value"] = value or (tokens[-1] if tokens else "")
    if "lookup_column" not in resolved:
        value = str(resolved.get("lookup_value", out.get("lookup_value", "")))
        rows = SHEETS.get(sheet, [])
        columns = list(rows[0]) if rows else []
        named = [c for c in columns if c.replace("_", " ") in lowered]
        occurring = [c for c in columns if any(_row_matches(row[c], value) for row in rows)]
        choice = (named or occurring or columns or [""])[0]
        out["lookup_column"] = choice
    return out


def _run_lookup(resolved: Resolved, instructions: str) -> Outcome:
    sheet = str(resolved.get("spreadsheet", ""))
    rows = SHEETS.get(sheet)
    if rows is None:
        return Outcome("error", error=f"No spreadsheet named {sheet!r}: try {', '.join(SHEETS)}.")
    column = str(resolved.get("lookup_column", ""))
    if column not in rows[0]:
        return Outcome(
            "error", error=f"The sheet {sheet} has no column {column!r}: {', '.join(rows[0])}."
        )
    value = str(resolved.get("lookup_value", ""))
    found = [dict(row) for row in rows if value and _row_matches(row[column], value)]
    labels = {key: SHEET_LABELS[key] for key in rows[0]}
    return Outcome("success" if found else "empty", found, labels)


# -- Gmail: send email ------------------------------------------------------------------------


def _guess_email(instructions: str, resolved: Resolved, sender: str) -> Resolved:
    out: Resolved = {}
    if "to" not in resolved:
        found = emails(instructions)
        if found:
            out["to"] = ", ".join(found)
    if "subject" not in resolved:
        out["subject"] = quoted(instructions) or f"Message from {sender}"
    if "body" not in resolved:
        out["body"] = instructions.strip()
    return out


def _run_email(resolved: Resolved, instructions: str) -> Outcome:
    to = str(resolved.get("to") or "").strip()
    if not to:
        return Outcome(
            "error",
            error="No recipient: put an email address in the instructions, or lock the 'to' param.",
        )
    bad = [a.strip() for a in to.split(",") if not _EMAIL.fullmatch(a.strip())]
    if bad:
        return Outcome("error", error=f"Not an email address: {bad[0]!r}.")
    subject = str(resolved.get("subject") or "")
    body = str(resolved.get("body") or "")
    message = {"to": to, "subject": subject, "body": body}
    labels = {"id": "Message ID", "to": "To", "subject": "Subject", "status": "Status"}
    return Outcome("success", [{"to": to, "subject": subject, "status": "sent"}], labels,
                   email=message)  # fmt: skip


# -- Help center: search ----------------------------------------------------------------------


def _guess_search(instructions: str, resolved: Resolved, sender: str) -> Resolved:
    if "query" in resolved:
        return {}
    text = quoted(instructions)
    if text is None:
        text = " ".join(w for w in words(instructions) if w.casefold() not in _FILLER)
    return {"query": text}


def _stem(word: str) -> str:
    return word.casefold()[:5]


def _run_search(resolved: Resolved, instructions: str) -> Outcome:
    query = [_stem(w) for w in words(str(resolved.get("query") or ""))]
    labels = {"title": "Title", "section": "Section", "url": "Link"}
    if not query:
        return Outcome("empty", [], labels)
    found = []
    for number, article in enumerate(ARTICLES, start=1):
        stems = {_stem(w) for w in words(f"{article['title']} {article['body']}")}
        if all(q in stems for q in query):
            slug = "-".join(words(article["title"].casefold()))
            found.append(
                {
                    "title": article["title"],
                    "section": article["section"],
                    "url": f"https://help.example.com/articles/{number}-{slug}",
                }
            )
    return Outcome("success" if found else "empty", found, labels)


# -- user-defined actions -------------------------------------------------------------------------


def echo(resolved: Resolved, instructions: str) -> Outcome:
    """What an action the sandbox has no rule for does: answer its resolved inputs."""
    return Outcome("success", [dict(resolved)])


def no_guess(instructions: str, resolved: Resolved, sender: str) -> Resolved:
    return {}


def _need(
    key: str,
    label: str,
    *,
    required: bool = True,
    choices: Sequence[str] | None = None,
    prefill: str | None = None,
    help_text: str | None = None,
    depends_on: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "key": key,
        "type": "unicode",
        "label": label,
        "required": required,
        "prefill": prefill,
        "custom_field": False,
        "depends_on": list(depends_on),
        "choices": [{"key": c, "label": c, "sample": c} for c in choices] if choices else None,
        "help_text": help_text,
    }


CATALOG: dict[tuple[str, str], ActionSpec] = {
    (spec.app, spec.action): spec
    for spec in (
        ActionSpec(
            app="GoogleSheetsV2API",
            action="lookup_row",
            action_type="search",
            description="Google Sheets: Lookup Spreadsheet Row",
            app_label="Google Sheets",
            action_label="Lookup Spreadsheet Row",
            needs=(
                _need(
                    "spreadsheet",
                    "Spreadsheet",
                    choices=list(SHEETS),
                    prefill="spreadsheet.id.title",
                ),
                _need(
                    "lookup_column",
                    "Lookup Column",
                    choices=_sheet_columns(),
                    depends_on=("spreadsheet",),
                ),
                _need(
                    "lookup_value",
                    "Lookup Value",
                    help_text="The value to find in the lookup column.",
                ),
            ),
            guess=_guess_lookup,
            run=_run_lookup,
        ),
        ActionSpec(
            app="GoogleMailV2CLIAPI",
            action="message",
            action_type="write",
            description="Gmail: Send Email",
            app_label="Gmail",
            action_label="Send Email",
            needs=(
                _need("to", "To", help_text="One or more addresses, separated by commas."),
                _need("subject", "Subject", required=False),
                _need("body", "Body", required=False),
            ),
            guess=_guess_email,
            run=_run_email,
        ),
        ActionSpec(
            app="ZendeskAPI",
            action="search_articles",
            action_type="search",
            description="Help Center: Search Articles",
            app_label="Help Center",
            action_label="Search Articles",
            needs=(_need("query", "Search Query"),),
            guess=_guess_search,
            run=_run_search,
        ),
    )
}

DEMO_KEYS: tuple[tuple[str, str], ...] = tuple(CATALOG)


def _choice_keys(need: Mapping[str, Any]) -> list[str]:
    choices = need.get("choices") or []
    keys = []
    for choice in choices:
        if isinstance(choice, Mapping):
            keys.append(str(choice.get("key") or choice.get("label") or ""))
        else:
            keys.append(str(choice))
    return [k for k in keys if k]


def _guess_choice(hint: str, choices: list[str]) -> str:
    wanted = hint.casefold().strip()
    for choice in choices:
        if choice.casefold() == wanted:
            return choice
    for choice in choices:
        if wanted and (wanted in choice.casefold() or choice.casefold() in wanted):
            return choice
    return hint


def _choose(options: list[str], instructions: str) -> str | None:
    lowered = instructions.casefold()
    mentioned = [o for o in options if o.casefold() in lowered]
    candidates = mentioned or options
    return candidates[0] if candidates else None


def resolve(
    *,
    needs: Sequence[Mapping[str, Any]],
    stored: Mapping[str, Any],
    constraints: Mapping[str, Mapping[str, Any]],
    instructions: str,
    guess: Guess,
    sender: str,
) -> Resolved:
    """Every input's value by the rules in this module's docstring (ignored ones left out)."""
    by_key = {str(need["key"]): need for need in needs}
    resolved: Resolved = {}
    ignored: set[str] = set()
    wanted: dict[str, tuple[str, Any]] = {
        key: ("choose_from" if isinstance(value, list) else "guess", value)
        for key, value in stored.items()
    }
    wanted.update({key: (c["mode"], c.get("value")) for key, c in constraints.items()})
    for key, (mode, value) in wanted.items():
        choices = _choice_keys(by_key.get(key, {}))
        if mode == "ignored":
            ignored.add(key)
        elif mode == "locked":
            resolved[key] = value
        elif mode == "guess":
            resolved[key] = _guess_choice(str(value or ""), choices) if choices else value
        elif mode == "choose_from":
            options = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            picked = _choose(options, instructions)
            if picked is not None:
                resolved[key] = picked
    guessed = guess(instructions, {**resolved, **dict.fromkeys(ignored)}, sender)
    for key, value in guessed.items():
        if key not in ignored and key not in resolved:
            resolved[key] = value
    order = [key for key in by_key if key in resolved]
    return {key: resolved[key] for key in [*order, *(k for k in resolved if k not in by_key)]}
