"""Score what a set of rules made of a labelled week: which real outages became incidents in time,
late or never, how many noise episodes became incidents, how many incidents each storm opened.

Reads the labels `bench/estate.py` writes next to its trace and the JSON of
`bridge rules replay --input TRACE --json`, whose incidents list their member alerts.

- An incident belongs to the episode of its first member alert: the alert (by fingerprint)
  whose labelled firing covers the time it joined. An incident with no member alert (a lost
  heartbeat) belongs to the episode of that alert name around the time it opened.
- A real episode is detected when one of its alerts joins an incident while it fires; its delay
  runs from the episode's labelled start to the earliest such moment, and it is in time when the
  delay is at most its `max_delay_s`.
- A noise episode became an incident when it opened one (joining an incident something else
  opened, such as a CPU alert of a host that is down, pages nobody).
- Incidents per storm: the incidents any alert of a storm episode joined.

    python -m bench.score --labels week.labels.json --replay replay.json [--json]
    python -m bench.score --rules bench/rules/estate --seeds 10     # generate, replay, score each seed
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.estate import labelled_week
from bridge.dedup.loader import load_rules_dir
from bridge.replay.replayer import Replay
from bridge.ticketing.sla import middle, percentile

EARLY = timedelta(minutes=1)  # an alert may be received a little before the labelled start
LATE = timedelta(minutes=2)  # ... and its last delivery (a resolve) a little after the end
HEARTBEAT_SLACK = timedelta(hours=2)  # a lost heartbeat opens well after its gap began


@dataclass
class Episode:
    id: str
    kind: str
    category: str
    what: str
    start: datetime
    end: datetime
    max_delay: timedelta | None
    storm: bool
    names: frozenset[str]
    detected_at: datetime | None = None
    opened: list[int] = field(default_factory=list)  # incidents it opened
    joined: set[int] = field(default_factory=set)  # incidents any of its alerts joined

    @property
    def delay(self) -> timedelta | None:
        return None if self.detected_at is None else max(self.detected_at - self.start, timedelta(0))


@dataclass
class Score:
    episodes: list[Episode]
    incidents: int
    unlabelled: list[dict[str, Any]]  # incidents no labelled episode explains

    def of(self, kind: str) -> list[Episode]:
        return [e for e in self.episodes if e.kind == kind]

    def figures(self) -> dict[str, Any]:
        real, noise = self.of("real"), self.of("noise")
        in_time = [
            e for e in real if e.delay is not None and e.max_delay is not None and e.delay <= e.max_delay
        ]
        late = [e for e in real if e.delay is not None and e not in in_time]
        missed = [e for e in real if e.delay is None]
        noisy = [e for e in noise if e.opened]
        delays = [d.total_seconds() for e in real if (d := e.delay) is not None]
        storms = [e for e in self.episodes if e.storm]
        return {
            "real": len(real),
            "real_in_time": len(in_time),
            "real_late": len(late),
            "real_missed": len(missed),
            "noise": len(noise),
            "noise_incidents": len(noisy),
            "noise_incident_pct": round(100 * len(noisy) / len(noise), 1) if noise else 0.0,
            "incidents": self.incidents,
            "unlabelled_incidents": len(self.unlabelled),
            "incidents_per_storm": [len(e.joined) for e in storms],
            "delay_median_s": middle(delays),
            "delay_p90_s": percentile(delays, 0.9),
            "late": [_brief(e) for e in late],
            "missed": [_brief(e) for e in missed],
            "noise_by_category": _count(e.category for e in noisy),
        }


def _brief(e: Episode) -> dict[str, Any]:
    return {
        "id": e.id,
        "category": e.category,
        "what": e.what,
        "delay_s": None if e.delay is None else e.delay.total_seconds(),
        "max_delay_s": None if e.max_delay is None else e.max_delay.total_seconds(),
    }


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return dict(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))


def score(labels: dict[str, Any], replay: dict[str, Any]) -> Score:
    """Match the replay's incidents to the labelled episodes."""
    episodes: list[Episode] = []
    firings: dict[str, list[tuple[datetime, datetime, int]]] = {}  # fingerprint -> (start, end, episode)
    for raw in labels["episodes"]:
        number = len(episodes)
        max_delay = raw.get("max_delay_s")
        episodes.append(
            Episode(
                id=raw["id"],
                kind=raw["kind"],
                category=raw["category"],
                what=raw.get("what", ""),
                start=_at(raw["start"]),
                end=_at(raw["end"]),
                max_delay=None if max_delay is None else timedelta(seconds=max_delay),
                storm=bool(raw.get("storm")),
                names=frozenset(a["name"] for a in raw["alerts"]),
            )
        )
        for alert in raw["alerts"]:
            firings.setdefault(alert["fingerprint"], []).append(
                (_at(alert["start"]), _at(alert["end"]), number)
            )
    for spans in firings.values():
        spans.sort()
    unlabelled = []
    for incident in replay["incidents"]:
        number = incident["number"]
        opener: int | None = None
        for member in incident.get("members", []):
            at = _at(member["at"])
            owner = _owner(firings.get(member["fingerprint"], []), at)
            if owner is None:
                continue
            episode = episodes[owner]
            episode.joined.add(number)
            if at < episode.start - EARLY:  # it joined before the problem began (a maintenance overrun):
                if not _open_at(incident, episode.start):  # it counts only if still open then
                    continue
                at = episode.start
            if episode.detected_at is None or at < episode.detected_at:
                episode.detected_at = at
            if opener is None:
                opener = owner
        if not incident.get("members"):
            opener = _heartbeat_owner(episodes, incident)
            if opener is not None:
                episodes[opener].joined.add(number)
                opened_at = _at(incident["opened_at"])
                if episodes[opener].detected_at is None:
                    episodes[opener].detected_at = opened_at
        if opener is None:
            unlabelled.append(
                {"number": number, "title": incident["title"], "opened_at": incident["opened_at"]}
            )
        else:
            episodes[opener].opened.append(number)
    return Score(episodes, len(replay["incidents"]), unlabelled)


def _owner(spans: list[tuple[datetime, datetime, int]], at: datetime) -> int | None:
    """The episode whose firing of this alert covers `at` (the latest one started by then)."""
    index = bisect.bisect_right(spans, (at + EARLY, datetime.max.replace(tzinfo=at.tzinfo), 1 << 30))
    for start, end, episode in reversed(spans[:index]):
        if start - EARLY <= at <= end + LATE:
            return episode
    return None


def _open_at(incident: dict[str, Any], at: datetime) -> bool:
    resolved = incident.get("resolved_at")
    return resolved is None or _at(resolved) >= at


def _heartbeat_owner(episodes: list[Episode], incident: dict[str, Any]) -> int | None:
    opened = _at(incident["opened_at"])
    text = f"{incident.get('group_key', '')} {incident.get('title', '')}"
    for number, episode in enumerate(episodes):
        if any(name in text for name in episode.names) and (
            episode.start <= opened <= episode.end + HEARTBEAT_SLACK
        ):
            return number
    return None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def render(figures: dict[str, Any], title: str = "") -> str:
    """The figures for people."""

    def minutes(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds / 60:.1f} min"

    out = [title] if title else []
    out += [
        f"real outages        {figures['real']}: {figures['real_in_time']} in time, "
        f"{figures['real_late']} late, {figures['real_missed']} missed",
        f"noise episodes      {figures['noise']}: {figures['noise_incidents']} became incidents "
        f"({figures['noise_incident_pct']}%)",
        f"incidents           {figures['incidents']} ({figures['unlabelled_incidents']} no label explains)",
        f"incidents per storm {', '.join(map(str, figures['incidents_per_storm'])) or '-'}",
        f"delay               median {minutes(figures['delay_median_s'])}, "
        f"p90 {minutes(figures['delay_p90_s'])}",
    ]
    for word in ("late", "missed"):
        for e in figures[word]:
            out.append(f"  {word:<7} {e['id']} {e['category']}: {e['what']} (delay {minutes(e['delay_s'])})")
    if figures["noise_by_category"]:
        noisy = ", ".join(f"{k} {v}" for k, v in figures["noise_by_category"].items())
        out.append(f"  noise incidents by category: {noisy}")
    return "\n".join(out)


def replay_seed(rules_dir: Path, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The labels of seed `seed`'s week and what `bridge rules replay --input --json` prints of it
    with the rules of `rules_dir` (the same Replay, in this process)."""
    rules = load_rules_dir(rules_dir)
    week = labelled_week(seed)
    replay = Replay(rules, str(rules_dir), refuse_redeliveries=True)
    for recorded in week.deliveries:
        replay.feed(recorded)
    body = replay.finish().as_json()
    body["rules_version"] = rules.version
    return week.labels, body


def _seeds(rules_dir: Path, seeds: int, only_json: bool) -> None:
    lines = []
    for seed in range(1, seeds + 1):
        labels, replay = replay_seed(rules_dir, seed)
        figures = score(labels, replay).figures()
        lines.append(figures)
        print(json.dumps({"benchmark": "score", "rules": str(rules_dir), "seed": seed, **figures}))
        if not only_json:
            print(render(figures, f"{rules_dir}, seed {seed}"))
    real = sum(f["real"] for f in lines)
    noise = sum(f["noise"] for f in lines)
    total = {
        "benchmark": "score",
        "rules": str(rules_dir),
        "seeds": seeds,
        "real": real,
        "real_in_time": sum(f["real_in_time"] for f in lines),
        "real_late": sum(f["real_late"] for f in lines),
        "real_missed": sum(f["real_missed"] for f in lines),
        "noise": noise,
        "noise_incidents": sum(f["noise_incidents"] for f in lines),
        "noise_incident_pct": round(100 * sum(f["noise_incidents"] for f in lines) / noise, 1)
        if noise
        else 0.0,
        "incidents_per_storm_max": max((n for f in lines for n in f["incidents_per_storm"]), default=0),
    }
    print(json.dumps(total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", help="The labels bench/estate.py wrote next to the trace.")
    parser.add_argument("--replay", default="-", help="`bridge rules replay --json` output (default: stdin).")
    parser.add_argument("--rules", type=Path, help="Instead: replay generated weeks through these rules.")
    parser.add_argument("--seeds", type=int, default=10, help="With --rules: seeds 1..N (default 10).")
    parser.add_argument("--json", action="store_true", help="Print only the JSON lines.")
    args = parser.parse_args()
    if args.rules is not None:
        _seeds(args.rules, args.seeds, args.json)
        return
    if args.labels is None:
        parser.error("give --labels (with --replay) or --rules")
    with open(args.labels, encoding="utf-8") as stream:
        labels = json.load(stream)
    if args.replay == "-":
        replay = json.load(sys.stdin)
    else:
        with open(args.replay, encoding="utf-8") as stream:
            replay = json.load(stream)
    figures = score(labels, replay).figures()
    print(json.dumps({"benchmark": "score", "seed": labels.get("seed"), **figures}))
    if not args.json:
        print(render(figures, f"rules version {replay.get('rules_version', '?')}, seed {labels.get('seed')}"))


if __name__ == "__main__":
    main()
