"""What a handle, a password and a profile may be (pure checks of the people service; fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import PayloadError
from bridge.services.people import HANDLE, MIN_PASSWORD, check_handle, check_password, check_profile
from bridge.ticketing.roles import Role


@pytest.mark.parametrize("handle", ["ivanov", "a.petrova", "ops-1", "x@corp", "A_B"])
def test_rota_like_handles_are_taken(handle: str) -> None:
    assert check_handle(handle) == handle


@pytest.mark.parametrize("handle", ["", " ivanov", "-x", "a b", "admin", "Admin", "bridge", "x" * 101, "ив"])
def test_other_handles_are_refused(handle: str) -> None:
    with pytest.raises(PayloadError) as refused:
        check_handle(handle)
    assert refused.value.field == "handle"


@given(st.text(max_size=120))
def test_a_handle_is_taken_only_as_the_pattern_says_and_fits_its_column(handle: str) -> None:
    try:
        check_handle(handle)
    except PayloadError:
        assert not HANDLE.fullmatch(handle) or handle.lower() in ("admin", "bridge")
    else:
        assert 1 <= len(handle) <= 100 and handle.isascii() and handle.isprintable() and " " not in handle


@given(st.text(max_size=40))
def test_a_password_is_taken_from_its_minimum_length(password: str) -> None:
    if len(password) >= MIN_PASSWORD:
        assert check_password(password) == password
    else:
        with pytest.raises(PayloadError):
            check_password(password)


def test_only_a_viewer_has_a_client_and_a_viewer_must() -> None:
    check_profile(Role.VIEWER, "retail", "ru")
    check_profile(Role.ADMIN, None, "en")
    for role, client, locale in [
        (Role.VIEWER, None, "en"),
        (Role.OPERATOR, "retail", "en"),
        (Role.ADMIN, None, "fr"),
    ]:
        with pytest.raises(PayloadError):
            check_profile(role, client, locale)
