"""The roles table: what each role may do, as the issue lists it, and that each role holds every
right of the one below it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.priority import Priority
from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentStatus
from bridge.ticketing.roles import (
    ADMIN_PERSON,
    INCIDENT_ACTIONS,
    RIGHTS,
    Action,
    Person,
    Role,
    allows,
    incident_actions_for,
    needed_for,
)

ORDER = [Role.VIEWER, Role.OPERATOR, Role.ENGINEER, Role.ADMIN]

VIEWER = {
    Action.VIEW,
    Action.VIEW_REPORTS,
    Action.OWN_TOKENS,
    Action.COMMENT,
    Action.CHANGE_PRIORITY,
    Action.CANCEL,
    Action.CLOSE,
    Action.REJECT,
}
OPERATOR_ADDS = {
    Action.VIEW_OPERATIONS,
    Action.ACKNOWLEDGE,
    Action.RESOLVE,
    Action.REOPEN,
    Action.ESCALATE,
    Action.REASSIGN,
    Action.CHANGE_LINE,
    Action.CHANGE_TYPE,
    Action.OPEN_INCIDENT,
    Action.SILENCE,
}
ENGINEER_ADDS = {
    Action.RULES_RELOAD,
    Action.ROTA_RELOAD,
    Action.MANAGE_SILENCES,
    Action.MAINTENANCE,
    Action.OVERRIDE,
    Action.RETRY_INTAKE,
}
ADMIN_ADDS = {Action.MANAGE_USERS, Action.MANAGE_TOKENS}


def test_each_role_may_do_exactly_what_the_issue_lists() -> None:
    assert RIGHTS[Role.VIEWER] == VIEWER
    assert RIGHTS[Role.OPERATOR] == VIEWER | OPERATOR_ADDS
    assert RIGHTS[Role.ENGINEER] == VIEWER | OPERATOR_ADDS | ENGINEER_ADDS
    assert RIGHTS[Role.ADMIN] == VIEWER | OPERATOR_ADDS | ENGINEER_ADDS | ADMIN_ADDS == set(Action)


@given(st.sampled_from(Action), st.integers(0, 3), st.integers(0, 3))
def test_a_higher_role_may_do_whatever_a_lower_one_may(action: Action, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    if allows(ORDER[low], action):
        assert allows(ORDER[high], action)


@pytest.mark.parametrize(
    ("action", "viewer", "operator"),
    [
        (IncidentAction.ACK, False, True),
        (IncidentAction.RESOLVE, False, True),
        (IncidentAction.CLOSE, True, True),  # the client confirms closure
        (IncidentAction.REJECT, True, True),  # ... or sends it back to work
        (IncidentAction.REOPEN, False, True),
        (IncidentAction.ESCALATE, False, True),
        (IncidentAction.ASSIGN, False, True),
        (IncidentAction.PRIORITY, True, True),
        (IncidentAction.COMMENT, True, True),
        (IncidentAction.CANCEL, True, True),
    ],
)
def test_incident_actions_by_role(action: IncidentAction, viewer: bool, operator: bool) -> None:
    assert allows(Role.VIEWER, INCIDENT_ACTIONS[action]) is viewer
    assert allows(Role.OPERATOR, INCIDENT_ACTIONS[action]) is operator


def test_every_incident_action_needs_a_right() -> None:
    assert set(INCIDENT_ACTIONS) == set(IncidentAction)


def test_assign_needs_reassign_for_a_person_and_change_line_for_a_line() -> None:
    assert needed_for(IncidentAction.ASSIGN, Change("ivanov")) == {Action.REASSIGN}
    assert needed_for(IncidentAction.ASSIGN, Change(None, "L2")) == {Action.CHANGE_LINE}
    assert needed_for(IncidentAction.ASSIGN, Change("ivanov", "L2")) == {Action.REASSIGN, Action.CHANGE_LINE}
    assert needed_for(IncidentAction.PRIORITY, Change(priority=Priority.P1)) == {Action.CHANGE_PRIORITY}


def test_the_buttons_a_viewer_gets_on_a_resolved_incident() -> None:
    assert incident_actions_for(Role.VIEWER, IncidentStatus.RESOLVED) == [
        IncidentAction.CLOSE,
        IncidentAction.REJECT,
        IncidentAction.PRIORITY,
        IncidentAction.COMMENT,
    ]
    assert IncidentAction.REOPEN in incident_actions_for(Role.OPERATOR, IncidentStatus.RESOLVED)


@given(st.sampled_from(Role), st.sampled_from(IncidentStatus))
def test_the_buttons_are_what_the_status_and_the_role_both_allow(role: Role, status: IncidentStatus) -> None:
    for action in incident_actions_for(role, status):
        assert allows(role, INCIDENT_ACTIONS[action])


def test_a_viewer_sees_their_client_only_and_a_viewer_without_one_sees_nothing() -> None:
    assert Person("a", "A", Role.VIEWER, "retail", "en").client_scope == "retail"
    assert Person("a", "A", Role.VIEWER, None, "en").client_scope == ""
    assert Person("b", "B", Role.OPERATOR, None, "en").client_scope is None
    assert ADMIN_PERSON.client_scope is None and ADMIN_PERSON.handle == "admin"
