"""Reports: the noise report and the proactive share, as JSON or (``?format=csv``) as a CSV
download; the SLA report lives with the incidents (`bridge.web.api.incidents`) and takes the same
``format``. Every report takes ``from`` and ``to`` (ISO 8601 with an offset; default: the 30 days
before now) and ``client``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.web import requests as args
from bridge.web.context import services
from bridge.web.report_format import noise_csv, noise_json, proactive_csv, proactive_json

blueprint = Blueprint("reports", __name__)

FORMATS = ("json", "csv")


def wants_csv() -> bool:
    """``?format=csv`` (or json, the default); PayloadError for anything else."""
    chosen = args.choices("format", FORMATS)
    return chosen[-1:] == ["csv"]


def csv_response(text: str, name: str) -> Response:
    """A CSV download named e.g. ``bridge-noise.csv``."""
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="bridge-{name}.csv"'},
    )


@blueprint.get("/reports/noise")
def noise_report() -> Response:
    """Alerts received by source, suppressed by reason and by rule, incidents opened per rule and
    priority, the 20 noisiest alert names and hosts, time to acknowledge per person, pages per
    person per night (see `bridge.services.noise`)."""
    as_csv = wants_csv()
    report = services().reports.noise(args.instant_arg("from"), args.instant_arg("to"), args.arg("client"))
    return csv_response(noise_csv(report), "noise") if as_csv else jsonify(noise_json(report))


@blueprint.get("/reports/proactive")
def proactive_report() -> Response:
    """Incidents monitoring opened against those people reported, and how many of monitoring's
    were resolved before anyone reported them (see `bridge.services.proactive`)."""
    as_csv = wants_csv()
    report = services().reports.proactive(
        args.instant_arg("from"), args.instant_arg("to"), args.arg("client")
    )
    return csv_response(proactive_csv(report), "proactive") if as_csv else jsonify(proactive_json(report))
