"""The incident lifecycle transition table."""

from __future__ import annotations

import pytest

from bridge.errors import InvalidTransition, PayloadError
from bridge.ticketing.lifecycle import (
    Change,
    IncidentAction,
    IncidentStatus,
    allowed_actions,
    check_request,
    next_status,
)

S, A = IncidentStatus, IncidentAction

ALLOWED = {
    (S.OPEN, A.ACK): S.ACKNOWLEDGED,
    (S.STALE, A.ACK): S.ACKNOWLEDGED,
    (S.OPEN, A.RESOLVE): S.RESOLVED,
    (S.ACKNOWLEDGED, A.RESOLVE): S.RESOLVED,
    (S.STALE, A.RESOLVE): S.RESOLVED,
    (S.OPEN, A.CANCEL): S.CANCELLED,
    (S.ACKNOWLEDGED, A.CANCEL): S.CANCELLED,
    (S.STALE, A.CANCEL): S.CANCELLED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REJECT): S.OPEN,
    (S.RESOLVED, A.REOPEN): S.OPEN,
    (S.CLOSED, A.REOPEN): S.OPEN,
    (S.CANCELLED, A.REOPEN): S.OPEN,
}
WORKING = {S.OPEN, S.ACKNOWLEDGED, S.STALE}
IN_PLACE = {
    A.COMMENT: set(S),
    A.ESCALATE: WORKING,
    A.ASSIGN: WORKING | {S.RESOLVED},
    A.PRIORITY: WORKING | {S.RESOLVED},
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(A))
def test_transition_table(status: IncidentStatus, action: IncidentAction) -> None:
    if status in IN_PLACE.get(action, set()):
        assert next_status(7, status, action) is status
    elif (status, action) in ALLOWED:
        assert next_status(7, status, action) is ALLOWED[(status, action)]
    else:
        with pytest.raises(InvalidTransition) as raised:
            next_status(7, status, action)
        assert str(raised.value) == f"incident 7 is {status.value}: cannot {action.value} it"


def test_resolved_is_not_closed_closing_needs_a_resolved_incident() -> None:
    with pytest.raises(InvalidTransition):
        next_status(1, S.OPEN, A.CLOSE)


def test_allowed_actions_follow_the_table() -> None:
    assert allowed_actions(S.OPEN) == [
        A.ACK,
        A.RESOLVE,
        A.ESCALATE,
        A.ASSIGN,
        A.PRIORITY,
        A.COMMENT,
        A.CANCEL,
    ]
    assert allowed_actions(S.RESOLVED) == [A.CLOSE, A.REJECT, A.REOPEN, A.ASSIGN, A.PRIORITY, A.COMMENT]
    assert allowed_actions(S.CLOSED) == [A.REOPEN, A.COMMENT]


def test_stale_and_cancelled_are_statuses_of_their_own() -> None:
    assert S.STALE.active and not S.STALE.final
    assert S.CANCELLED.final and not S.CANCELLED.active


def test_a_comment_without_text_is_a_bad_request_not_a_conflict() -> None:
    with pytest.raises(PayloadError, match="comment: a comment needs text"):
        check_request(IncidentAction.COMMENT, "", Change())
    check_request(IncidentAction.COMMENT, "looking", Change())
