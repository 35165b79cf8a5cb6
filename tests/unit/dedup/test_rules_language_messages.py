"""Every validation message of the rules language beyond the core keys: flapping, inhibition,
heartbeats, routing, `continue`, `dedup_by` and maintenance windows, each at its file and line."""

from __future__ import annotations

import pytest

from bridge.dedup.loader import load_rules_texts
from bridge.errors import RulesError


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as raised:
        load_rules_texts({"rules.yaml": text})
    return [str(p) for p in raised.value.problems]


RULE = "rules:\n  - name: a\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # flapping
        (
            RULE + "    flapping: 5\n",
            "rules.yaml:3: flapping must be a mapping like {changes: 6, within: 30m}",
        ),
        (
            RULE + "    flapping: {within: 30m}\n",
            "rules.yaml:3: flapping needs `changes:` (how many fires and resolutions make it flapping)",
        ),
        (RULE + "    flapping: {changes: 6}\n", "rules.yaml:3: flapping needs `within:` (e.g. within: 30m)"),
        (
            RULE + "    flapping: {changes: 1, within: 30m}\n",
            "rules.yaml:3: flapping changes must be a whole number >= 2",
        ),
        (
            RULE + "    flapping: {changes: 6, within: 30m, below: 6}\n",
            "rules.yaml:3: `below` (6) must be less than `changes` (6)",
        ),
        (
            RULE + "    flapping: {changes: 6, within: 30m, above: 2}\n",
            "rules.yaml:3: unknown flapping key 'above' (allowed: changes, within, below)",
        ),
        (
            RULE + "    flapping: {changes: 6, within: 0m}\n",
            "rules.yaml:3: `within` must be longer than 0s",
        ),
        # inhibition
        (
            RULE + "    inhibits: [host]\n",
            'rules.yaml:3: inhibits must be a mapping like {match: {severity: "!=critical"}, equal: [host]}',
        ),
        (
            RULE + "    inhibits: {match: {severity: warning}}\n",
            "rules.yaml:3: inhibits needs `equal:` (the fields that must be equal, e.g. [host])",
        ),
        (
            RULE + "    inhibits: {equal: [host], matches: {}}\n",
            "rules.yaml:3: unknown inhibits key 'matches' (did you mean 'match'?)",
        ),
        (
            RULE + "    inhibits:\n      equal: [host]\n      match: {name: '=~(HostDown'}\n",
            "rules.yaml:5: bad regular expression '(HostDown': missing ), unterminated subpattern at position 0",
        ),
        # heartbeats
        (
            RULE + "    kind: heartbeat\n",
            "rules.yaml:2: a heartbeat rule needs `every:` (how often the heartbeat must come, e.g. 5m)",
        ),
        (
            RULE + "    kind: heartbeat\n",
            "rules.yaml:2: a heartbeat rule needs `match:` (which alert is the heartbeat)",
        ),
        (
            RULE + "    kind: heartbeat\n    match: {name: Watchdog}\n    every: 5m\n    for: 5m\n",
            "rules.yaml:6: `for` has no effect on a heartbeat rule",
        ),
        (RULE + "    kind: beacon\n", "rules.yaml:3: kind must be 'alert' or 'heartbeat', got 'beacon'"),
        (RULE + "    every: 5m\n", "rules.yaml:3: `every` is for heartbeat rules (kind: heartbeat)"),
        # routing and clients
        (
            RULE + "    client: [x]\n",
            'rules.yaml:3: client must be a name, {label: customer} or {host_group: "Clients/(.*)"}',
        ),
        (
            RULE + "    client: {lable: customer}\n",
            "rules.yaml:3: unknown client key 'lable' (did you mean 'label'?)",
        ),
        (RULE + "    client: {label: 'bad label'}\n", "rules.yaml:3: 'bad label' is not a label name"),
        (
            RULE + "    client: {host_group: 'Clients/(.*'}\n",
            "rules.yaml:3: bad regular expression 'Clients/(.*': missing ), unterminated subpattern at position 8",
        ),
        (RULE + "    route: [x]\n", "rules.yaml:3: route must be a non-empty text"),
        (
            RULE + "    action: drop\n    route: infra\n",
            "rules.yaml:4: `route` has no effect on a rule with action: drop",
        ),
        (
            RULE + "    action: drop\n    flapping: {changes: 4, within: 10m}\n",
            "rules.yaml:4: `flapping` has no effect on a rule with action: drop",
        ),
        # continue and dedup_by
        (RULE + "    continue: maybe\n", "rules.yaml:3: `continue` must be true or false, got 'maybe'"),
        (
            RULE + "    dedup_by: instance\n",
            "rules.yaml:3: dedup_by must be a list of field or label names, e.g. [source, host, name]",
        ),
        (
            RULE + "    dedup_by: [name, 'pod name']\n",
            "rules.yaml:3: cannot deduplicate by 'pod name': not a field nor a label name",
        ),
        (
            "rules:\n  - name: a\n    match: {name: x}\n    continue: true\n  - name: b\n  - name: c\n    match: {name: y}\n",
            "rules.yaml:6: rule 'c' can never match: rule 'b' (rules.yaml:5) matches every alert first",
        ),
        # maintenance windows
        (
            "maintenance: {a: 1}\n",
            "rules.yaml:1: maintenance must be a list of windows (each starting with `- name:`)",
        ),
        (
            "maintenance:\n  - every: 'sat 01:00-05:00'\n",
            "rules.yaml:2: maintenance needs a `name:` of letters, digits, '.', '_' and '-'",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 01:00-05:00'\n    timezone: Europe/Moskow\n",
            "rules.yaml:4: unknown time zone 'Europe/Moskow' (did you mean 'Europe/Moscow'?)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 01:00-05:00'\n    timezone: Nowhere\n",
            "rules.yaml:4: unknown time zone 'Nowhere' (an IANA name such as Europe/Moscow or UTC)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'caturday 01:00-05:00'\n",
            "rules.yaml:3: 'caturday 01:00-05:00': unknown day 'caturday' (mon, tue, wed, thu, fri, sat, sun)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 25:00-05:00'\n",
            "rules.yaml:3: 'sat 25:00-05:00': 25:00 is not a time of day (HH:MM, 00:00-24:00)",
        ),
        (
            "maintenance:\n  - name: m\n    every: ['sat 01:00-05:00', 'sun 1-5']\n",
            "rules.yaml:3: 'sun 1-5'",
        ),
        (
            "maintenance:\n  - name: m\n",
            'rules.yaml:2: maintenance needs `every:` (e.g. "sat 01:00-05:00") or `from:` and `until:`',
        ),
        (
            "maintenance:\n  - name: m\n    from: 2026-12-01T01:00:00\n",
            "rules.yaml:2: a one-off maintenance needs both `from:` and `until:`",
        ),
        (
            "maintenance:\n  - name: m\n    from: 2026-12-01T05:00:00\n    until: 2026-12-01T01:00:00\n",
            "rules.yaml:4: `until` must be after `from`",
        ),
        (
            "maintenance:\n  - name: m\n    from: tomorrow\n    until: 2026-12-01T01:00:00\n",
            "rules.yaml:3: 'tomorrow' is not a date and time (e.g. 2026-11-28 01:00 or 2026-11-28T01:00+03:00)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 01:00-05:00'\n  - name: m\n    every: 'sun 01:00-05:00'\n",
            "rules.yaml:4: duplicate maintenance name 'm' (first at rules.yaml:2)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 01:00-05:00'\n    window: x\n",
            "rules.yaml:4: unknown maintenance key 'window' (allowed: name, description, match, every, from, until, timezone)",
        ),
        (
            "maintenance:\n  - name: m\n    every: 'sat 01:00-05:00'\n    match: {'bad key': x}\n",
            "rules.yaml:4: cannot match on 'bad key'",
        ),
    ],
)
def test_every_language_mistake_is_reported_with_file_line_and_reason(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_valid_file_using_every_feature_loads() -> None:
    ruleset = load_rules_texts(
        {
            "rules.yaml": """
rules:
  - name: tag-client
    match: {source: zabbix}
    client: {host_group: "Clients/(.*)"}
    continue: true
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    route: infra
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: ping-noise
    match: {name: "=~ICMP.*"}
    threshold: {count: 3, within: 15m}
    flapping: {changes: 6, within: 30m, below: 2}
  - name: pods
    match: {name: KubePodCrashLooping}
    dedup_by: [name, namespace]
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 5m
maintenance:
  - name: db-nightly
    match: {host: db-03}
    every: ["sat 01:00-05:00", "mon-fri 23:00-01:00"]
    timezone: Europe/Moscow
  - name: migration
    from: 2026-12-05 22:00
    until: 2026-12-06 04:00
    timezone: Europe/Berlin
"""
        }
    )
    assert [r.name for r in ruleset.rules] == ["tag-client", "host-down", "ping-noise", "pods", "watchdog"]
    assert [m.name for m in ruleset.maintenance] == ["db-nightly", "migration"]
    assert ruleset.by_name["ping-noise"].flapping is not None
    assert ruleset.by_name["ping-noise"].flapping.below == 2
    assert ruleset.dedup
