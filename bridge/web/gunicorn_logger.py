"""gunicorn's access log without the signed links of notification mails: the path of a
``/mail-link/<token>`` request is the token, a credential that acts as a person until it is used
or expires, so the log shows ``/mail-link/***`` instead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from bridge.services.mail_links import hide_link_tokens


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the request line and path masked in access log entries."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = hide_link_tokens(atoms[key])
        return atoms
