"""What every answer tells a browser, and what the pages may link to.

Every response says: do not guess its type (`nosniff`), do not show it in a frame
(`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`), send no referrer when following a link
from it (an incident page's address would reach whatever an alert links to), and a
Content-Security-Policy that lets only bridge's own files load and run: scripts and styles from
bridge's /static (never inline script), a page's own inline style by a nonce drawn for each
response, requests and forms to bridge only, no base. Links from payload URLs
(Alertmanager's `generatorURL`, Zabbix's `url`) are links only when they are http(s) URLs
(`is web_link` in templates); anything else (``javascript:...``) shows as text.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, g

_WEB_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def is_web_link(url: object) -> bool:
    """`url` is an http or https URL as a browser will read it: no leading blank or control
    character and none inside (browsers drop tabs and newlines, so "java\\tscript:" is
    "javascript:")."""
    return isinstance(url, str) and _WEB_LINK.fullmatch(url) is not None


def csp_nonce() -> str:
    """The nonce of this response's inline style (drawn on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    nonce: str = g.csp_nonce
    return nonce


def content_security_policy() -> str:
    """Only bridge's own styles and images; forms submit to bridge only; a page's inline style
    comes in by its nonce. Scripts, and the requests they make, only on the pages that run
    bridge's own script files (`allow_own_scripts`); never an inline script."""
    return _policy(g.csp_nonce if "csp_nonce" in g else None, bool(g.get("own_scripts")))


def _policy(nonce: str | None, own_scripts: bool) -> str:
    style = f"'self' 'nonce-{nonce}'" if nonce is not None else "'self'"
    scripts = "script-src 'self'; connect-src 'self'; " if own_scripts else ""
    return (
        f"default-src 'none'; {scripts}style-src {style}; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


_FIXED = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

PLAIN_HEADERS = (("Content-Security-Policy", _policy(None, own_scripts=False)), *_FIXED)
"""The headers of an answer that is no page (no nonce, no scripts): what `_headers` adds to it."""


def allow_own_scripts() -> None:
    """This response's page runs bridge's own script files (from /static)."""
    g.own_scripts = True


def install(app: Flask) -> None:
    """The headers on every response of `app`, and `web_link` / `csp_nonce()` in its templates."""
    app.jinja_env.tests["web_link"] = is_web_link
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_headers)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy()
    for name, value in _FIXED:
        response.headers[name] = value
    return response
