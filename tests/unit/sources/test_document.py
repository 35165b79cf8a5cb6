"""`bridge rules explain`'s reading of a document: a captured delivery is read like its body."""

from __future__ import annotations

import pytest

from bridge.sources.document import alerts_in
from tests.support.payloads import FIXTURES, all_captured, captured


@pytest.mark.parametrize("path", all_captured("alertmanager") + all_captured("zabbix"))
def test_a_captured_delivery_file_gives_the_alerts_of_its_body(path: str) -> None:
    capture = captured(path)
    from_file = alerts_in((FIXTURES / path).read_text(), capture.received_at)
    assert from_file == capture.alerts()
    assert len(from_file) >= 1
