"""Ready-to-paste sender configuration, printed when bridge generates a token."""

from __future__ import annotations


def alertmanager_snippet(base_url: str, token: str) -> str:
    return f"""\
# alertmanager.yml: add this receiver and route alerts to it
receivers:
  - name: bridge
    webhook_configs:
      - url: {base_url}/webhooks/alertmanager
        send_resolved: true
        max_alerts: 0          # never truncate: bridge groups and deduplicates itself
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def zabbix_instructions(base_url: str, token: str) -> str:
    return f"""\
# Zabbix: import contrib/zabbix/ media type, then set these global macros
#   (Administration -> Macros, or the media type's parameters):
{{$BRIDGE.URL}}   = {base_url}/webhooks/zabbix
{{$BRIDGE.TOKEN}} = {token}      (mark the macro as Secret text)
"""
