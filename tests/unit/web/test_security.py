"""Which payload URLs the pages make links: http and https ones as a browser reads them, nothing
else (a browser drops tabs and newlines inside a URL and blanks and controls before it)."""

from __future__ import annotations

import pytest

from bridge.web.security import is_web_link


@pytest.mark.parametrize(
    "url",
    [
        "http://prometheus.example:9090/graph?g0.expr=up&g0.tab=1",
        "https://zabbix.example/tr_events.php?triggerid=1&eventid=2",
        "HTTPS://GRAFANA.EXAMPLE/d/x",
    ],
)
def test_http_and_https_urls_are_links(url: str) -> None:
    assert is_web_link(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " javascript:alert(1)",
        "\x01javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        " http://x.example/",
        "\x00http://x.example/",
        "http://x.example/\njavascript:alert(1)",
        "http://x.example/\u2028",
        "http:x.example",
        "//x.example/",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "",
        None,
        42,
    ],
)
def test_anything_else_is_not(url: object) -> None:
    assert not is_web_link(url)
