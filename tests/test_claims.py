"""The claims value of a claims challenge: built and read by one pair, as Microsoft shows it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aad_guard._claims import (
    auth_context_claims,
    can_answer_claims_challenges,
    decode_claims,
    encode_claims,
    revocation_claims,
)

# JSON objects: what a claims request is.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_requests = st.dictionaries(st.text(max_size=12), _json, max_size=4)


@given(_requests)
def test_a_claims_value_decodes_to_the_request_it_was_built_from(
    request: dict[str, object],
) -> None:
    value = encode_claims(request)
    assert value.isascii() and '"' not in value and "\\" not in value  # a quoted-string as is
    assert decode_claims(value) == request


@given(_requests)
def test_a_value_without_its_padding_still_decodes(request: dict[str, object]) -> None:
    assert decode_claims(encode_claims(request).rstrip("=")) == request


def test_the_auth_context_value_is_microsofts_documented_one() -> None:
    # Microsoft's claims-challenge page: the challenge for authentication context `c1`.
    documented = "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"
    assert encode_claims(auth_context_claims("c1")) == documented
    assert decode_claims(documented) == auth_context_claims("c1")


def test_the_revocation_value_reads_as_caes_nbf_request() -> None:
    # The continuous access evaluation page's example challenge (note its space after ',').
    documented = (
        "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="
    )
    assert decode_claims(documented) == revocation_claims(1604106651)
    assert revocation_claims(1604106651.9) == {
        "access_token": {"nbf": {"essential": True, "value": "1604106651"}}
    }


@pytest.mark.parametrize(
    "value",
    ["not base64!", base64.b64encode(b"[1, 2]").decode(), base64.b64encode(b"\xff").decode()],
)
def test_what_is_not_a_claims_request_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="claims request"):
        decode_claims(value)


def test_only_cp1_in_any_case_answers_claims_challenges() -> None:
    assert can_answer_claims_challenges(frozenset({"cp1"}))
    assert can_answer_claims_challenges(frozenset({"CP1", "other"}))
    assert not can_answer_claims_challenges(frozenset({"cp2"}))
    assert not can_answer_claims_challenges(frozenset())


def test_the_value_is_standard_base64_of_compact_json() -> None:
    value = encode_claims(revocation_claims(5))
    assert json.loads(base64.b64decode(value)) == revocation_claims(5)
    assert b" " not in base64.b64decode(value)
