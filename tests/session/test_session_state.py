"""SessionState and mask(): the file format users already have, and secrets kept out of text."""

from __future__ import annotations

import pytest

from cwo_scrapy.session import SESSION_COOKIE, TOKEN_COOKIE, SessionState, mask

TOKEN = "a1b2c3d4-0000-1111-2222-333344445555:BgoAYyQ5PRoBAAAA:" + "Zx" * 80
PHPSESSID = "q7r8s9t0u1v2w3x4y5z6a7b8c9"


def test_original_tools_two_key_file_loads_and_round_trips_unchanged() -> None:
    """A file written by the original tool keeps working, key for key."""
    original = {"aws_waf_token": TOKEN, "PHPSESSID": PHPSESSID}
    state = SessionState.from_json(original)
    assert state.aws_waf_token == TOKEN
    assert state.phpsessid == PHPSESSID
    assert state.generation == 0
    assert state.user_agent is None
    assert state.to_json() == original


def test_full_state_round_trips_through_json_keys() -> None:
    state = SessionState(
        aws_waf_token=TOKEN,
        phpsessid=PHPSESSID,
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        token_obtained_at=1_700_000_000.5,
        phpsessid_obtained_at=1_700_000_100.0,
        created_at=1_699_999_000.0,
        generation=7,
    )
    data = state.to_json()
    assert data["aws_waf_token"] == TOKEN
    assert data["PHPSESSID"] == PHPSESSID
    assert data["aws_waf_token_obtained_at"] == 1_700_000_000.5
    assert data["generation"] == 7
    assert SessionState.from_json(data) == state


def test_empty_state_is_an_empty_object_and_null_or_blank_values_mean_absent() -> None:
    assert SessionState().to_json() == {}
    loaded = SessionState.from_json({"aws_waf_token": "", "PHPSESSID": None, "extra": [1]})
    assert loaded == SessionState()
    assert loaded.empty


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"aws_waf_token": 123}, "aws_waf_token"),
        ({"PHPSESSID": ["x"]}, "PHPSESSID"),
        ({"generation": "3"}, "generation"),
        ({"generation": -1}, "generation"),
        ({"created_at": True}, "created_at"),
    ],
)
def test_wrongly_typed_values_are_rejected_naming_the_key_not_the_value(
    data: dict[str, object], key: str
) -> None:
    with pytest.raises(ValueError, match=key) as info:
        SessionState.from_json(data)
    assert "Zx" not in str(info.value)


def test_repr_and_str_never_show_token_values() -> None:
    """States get logged and put in exception messages: they must be masked there."""
    state = SessionState(aws_waf_token=TOKEN, phpsessid=PHPSESSID, user_agent="UA/1")
    for text in (repr(state), str(state), f"{state}", repr([state])):
        assert TOKEN not in text
        assert PHPSESSID not in text
        assert mask(TOKEN) in text
        assert "UA/1" in text


def test_cookies_use_the_sites_cookie_names() -> None:
    state = SessionState(aws_waf_token=TOKEN, phpsessid=PHPSESSID)
    assert state.cookies() == {TOKEN_COOKIE: TOKEN, SESSION_COOKIE: PHPSESSID}
    assert TOKEN_COOKIE == "aws-waf-token"
    assert SessionState(phpsessid=PHPSESSID).cookies() == {"PHPSESSID": PHPSESSID}


def test_masked_view_hides_secrets_and_keeps_metadata() -> None:
    state = SessionState(aws_waf_token=TOKEN, phpsessid=PHPSESSID, user_agent="UA/1", generation=2)
    masked = state.masked()
    assert masked == {
        "aws_waf_token": mask(TOKEN),
        "PHPSESSID": mask(PHPSESSID),
        "user_agent": "UA/1",
        "generation": 2,
    }


def test_age_counts_from_session_start_or_else_oldest_credential() -> None:
    assert SessionState().age(1000.0) is None
    assert SessionState(created_at=400.0, token_obtained_at=900.0).age(1000.0) == 600.0
    # A file without created_at (e.g. written by an older version) still ages.
    legacy = SessionState(token_obtained_at=700.0, phpsessid_obtained_at=500.0)
    assert legacy.age(1000.0) == 500.0


def test_replace_rejects_unknown_fields() -> None:
    with pytest.raises(TypeError, match="tokn"):
        SessionState().replace(tokn="x")


def test_mask_shows_four_characters_and_the_length() -> None:
    assert mask("abcdefghijkl") == "abcd…(12 chars)"
    assert mask(TOKEN) == f"a1b2…({len(TOKEN)} chars)"
    assert mask(None) == "<none>"
    assert mask("") == "<none>"


def test_mask_never_reveals_a_whole_short_value() -> None:
    for value in ("a", "ab", "abcd", "abcdefgh"):
        masked = mask(value)
        prefix, _, rest = masked.partition("…")
        assert len(prefix) <= len(value) // 2
        assert rest == f"({len(value)} chars)"
