"""Runs 30 slow inputs through run_many (or arun_many) and prints what came back, as JSON.

Used by tests/test_run_many.py, which presses Ctrl+C in the middle.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import zapier_nb

session = zapier_nb.Session(
    api_key=os.environ["ZAPIER_API_KEY"], base_url=os.environ["ZAPIER_BASE_URL"]
)
inputs = [f"Look up order SO-100{i % 5 + 1}" for i in range(30)]
if sys.argv[1] == "async":
    result = asyncio.run(session.arun_many("lookup row", inputs, concurrency=2, progress=True))
else:
    result = session.run_many("lookup row", inputs, concurrency=2)
print(
    "RESULT "
    + json.dumps(
        {
            "counts": dict(result.counts),
            "interrupted": result.interrupted,
            "summary": result.summary(),
        }
    ),
    flush=True,
)
