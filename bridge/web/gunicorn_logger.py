"""gunicorn's access log without the signed links of notification mails: the path of a
``/mail-link/<token>`` request is the token, a credential that acts as a person until it is used
or expires, so the log shows ``/mail-link/***`` instead."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

MAIL_LINK = re.compile(r"(/mail-link/)[^\s/?#]+")
"""A mail link's path (bridge.web.console.mail_links)."""
HIDDEN = r"\1***"


def hide_link_tokens(text: str) -> str:
    """`text` with the token of every mail link in it masked."""
    return MAIL_LINK.sub(HIDDEN, text)


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the request line and path masked in access log entries."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = hide_link_tokens(atoms[key])
        return atoms
