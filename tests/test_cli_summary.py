"""Reading a token without verifying it, for `aad-guard token inspect`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aad_guard.cli import main
from aad_guard.cli._summary import UnreadableTokenError, relative_time, summarize
from aad_guard.testing import LocalIssuer
from tests.helpers import segment


def token_of(header: object, claims: object) -> str:
    return f"{segment(header)}.{segment(claims)}.sig"


@given(st.text())
def test_any_text_is_read_or_refused_with_a_reason(text: str) -> None:
    try:
        summary = summarize(text)
    except UnreadableTokenError:
        return
    assert isinstance(summary.header, dict)
    assert isinstance(summary.claims, dict)
    summary.to_dict(now=0)


CLAIM_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.just(10**400),
    st.text(max_size=5), st.lists(st.text(max_size=3)),
)  # fmt: skip
CLAIM_NAMES = st.sampled_from(["ver", "iss", "aud", "exp", "scp", "roles", "tid"])


@given(st.dictionaries(CLAIM_NAMES, CLAIM_VALUES))
def test_claims_of_any_type_never_break_the_summary(claims: dict[str, object]) -> None:
    summarize(token_of({"alg": "RS256"}, claims)).to_dict(now=1_800_000_000)


@pytest.mark.parametrize("exp", [10**400, 1e20, -1e20])
def test_times_beyond_the_calendar_are_shown_not_fatal(
    exp: float, capsys: pytest.CaptureFixture[str]
) -> None:
    token = token_of({"alg": "RS256"}, {"exp": exp, "iat": 0})
    assert main(["token", "inspect", token]) == 0
    out = capsys.readouterr().out
    assert "Issued" in out
    assert ("not a date" in out) is (exp != 10**400)


def test_version_comes_from_ver_or_the_issuer_form() -> None:
    def version(claims: dict[str, object]) -> str | None:
        return summarize(token_of({}, claims)).version

    assert version({"ver": "1.0", "iss": "x/v2.0"}) == "1.0"
    assert version({"iss": "https://login.microsoftonline.com/t/v2.0"}) == "2.0"
    assert version({"iss": "https://sts.windows.net/t/"}) == "1.0"
    assert version({"iss": "https://example.com/"}) is None


def test_kinds_and_accounts() -> None:
    issuer = LocalIssuer()
    assert summarize(issuer.token()).kind == "access token"
    assert summarize(issuer.token(app_only=True, roles=["R"])).account == "app"
    assert summarize(issuer.token(personal=True)).account == "personal"
    id_token = summarize(issuer.token(remove=["azp", "scp"]))
    assert (id_token.kind, id_token.account) == ("ID token", "work or school")
    nothing = summarize(token_of({}, {}))
    assert (nothing.kind, nothing.account, nothing.user) == ("unknown", "unknown", None)


def test_audience_list_of_one_and_graph_header() -> None:
    summary = summarize(token_of({"nonce": "n"}, {"aud": ["https://graph.microsoft.com"]}))
    assert summary.audience == "https://graph.microsoft.com"
    assert summary.audience_name == "Microsoft Graph"
    assert summary.is_graph_token


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.b", "three dot-separated segments, not 2"),
        ("a.b.c.d.e", "encrypted token (JWE"),
        (f"{segment([1])}.{segment({})}.s", "header is not a JSON object"),
        (f"{segment({})}.bm90IGpzb24.s", "payload is not base64url-encoded JSON"),
    ],
)
def test_unreadable_tokens_say_why(text: str, message: str) -> None:
    with pytest.raises(UnreadableTokenError, match=message.replace("(", r"\(")):
        summarize(text)


def test_relative_time_rounds_to_the_largest_unit() -> None:
    assert relative_time(100, 100) == "in 0 seconds"
    assert relative_time(101, 100) == "in 1 second"
    assert relative_time(100 + 7200, 100) == "in 2 hours"
    assert relative_time(100 - 86400 * 3 - 5, 100) == "3 days ago"
    assert relative_time(40, 100) == "1 minute ago"
