"""A local fake of Zapier's AI Actions authentication API, for tests and tutorial notebooks.

Needs the ``sandbox`` extra (Starlette and uvicorn). Run ``python -m zapier_nb.sandbox``, or::

    from zapier_nb.sandbox import Sandbox

    with Sandbox() as sb:
        sb.base_url, sb.api_key, sb.client_id, sb.redirect_uri
"""

from __future__ import annotations

from ._models import SandboxClient, SandboxUser
from ._server import Sandbox

__all__ = ["Sandbox", "SandboxClient", "SandboxUser"]
