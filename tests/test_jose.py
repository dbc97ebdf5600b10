"""Strict compact-JWS parsing: base64url, JSON objects, the header (docs/design.md, rules 5-7)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aad_guard._jose import (
    MAX_JSON_DEPTH,
    CompactJWS,
    TokenReader,
    b64url_decode,
    check_header,
    loads_object,
)
from aad_guard.errors import (
    AADGuardError,
    CriticalHeaderError,
    GraphTokenError,
    MalformedTokenError,
    MissingKeyIdError,
    TokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)
from tests.helpers import b64, segment


@given(st.binary(max_size=300))
def test_base64url_round_trips(data: bytes) -> None:
    assert b64url_decode(b64(data)) == data


@given(st.binary(min_size=1, max_size=64))
def test_padded_base64url_is_refused(data: bytes) -> None:
    padded = base64.urlsafe_b64encode(data).decode()
    if padded.endswith("="):
        with pytest.raises(ValueError, match="not base64url"):
            b64url_decode(padded)


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=15))
def test_non_canonical_trailing_bits_are_refused(data: bytes, flip: int) -> None:
    text = b64(data)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_bits = {2: 4, 3: 2}.get(len(text) % 4)
    if spare_bits is None:
        return
    last = alphabet.index(text[-1])
    altered = text[:-1] + alphabet[last ^ (flip % (1 << spare_bits) or 1)]
    # The altered string decodes to the same bytes under a lenient decoder: a malleability.
    assert base64.urlsafe_b64decode(altered + "==") == data
    with pytest.raises(ValueError, match="non-canonical"):
        b64url_decode(altered)


@pytest.mark.parametrize("text", ["a+b/", "ab cd", "abc=", "abcde", "ab\ncd", "é"])
def test_standard_alphabet_whitespace_and_bad_lengths_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


@given(st.text(alphabet="ABYZabyz0189-_+/= \n.é", max_size=40))
def test_whatever_decodes_is_the_one_canonical_encoding_of_its_bytes(text: str) -> None:
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64(data) == text


@given(st.text(max_size=200))
def test_base64url_decode_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        b64url_decode(text)


def test_duplicate_member_names_are_refused_at_any_depth() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        loads_object(b'{"a": 1, "a": 2}')
    with pytest.raises(ValueError, match="duplicate"):
        loads_object(b'{"a": {"b": 1, "b": 1}}')


def _nested(depth: int) -> bytes:
    """An object whose member nests arrays so that the whole document is `depth` deep."""
    return ('{"x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()


def test_nesting_is_refused_past_the_same_depth_on_every_python() -> None:
    # Python's parser alone stops somewhere between 1,000 (3.11) and 10,000 (3.13) levels.
    assert loads_object(_nested(MAX_JSON_DEPTH))
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_object(_nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_object(_nested(5000))
    mixed = '{"x":' + '[{"a":' * 16 + "1" + "}]" * 16 + "}"  # 33 deep, arrays and objects
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_object(mixed.encode())


def test_many_brackets_that_do_not_nest_deep_are_accepted() -> None:
    wide = '{"x":[' + ",".join(["[]"] * 500) + '],"y":"' + "[" * 100 + '"}'
    assert len(loads_object(wide.encode())["x"]) == 500  # type: ignore[arg-type]


@pytest.mark.parametrize("document", [b"[]", b'"x"', b"1", b"null", b"true"])
def test_json_that_is_not_an_object_is_refused(document: bytes) -> None:
    with pytest.raises(ValueError, match="not an object"):
        loads_object(document)


@pytest.mark.parametrize("document", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_non_json_constants_are_refused(document: bytes) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        loads_object(document)


@pytest.mark.parametrize(
    "document",
    [b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b'{"a": "\xc3"}', b"[" * 100_000],
    ids=["bom", "utf16", "bad-utf8", "deep"],
)
def test_documents_that_are_not_strict_utf8_json_are_refused(document: bytes) -> None:
    with pytest.raises(ValueError):
        loads_object(document)


def read(token: str, *, max_length: int) -> CompactJWS:
    """The validator's own reader, fresh (no header remembered), for an RS256 token."""
    jws, _ = TokenReader(allowed_algorithms={"RS256"}, max_length=max_length).read(token)
    return jws


@given(st.text(max_size=500))
def test_reading_raises_only_token_errors(text: str) -> None:
    with contextlib.suppress(TokenError):
        read(text, max_length=400)


@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5),
    st.binary(min_size=1, max_size=32),
)
def test_reading_returns_what_was_encoded(
    header: dict[str, object], payload: dict[str, object], signature: bytes
) -> None:
    header = {**header, "alg": "RS256", "kid": "k"}
    for member in ("crit", "enc", "zip", "b64", "nonce", "x5t"):
        header.pop(member, None)
    token = f"{segment(header)}.{segment(payload)}.{b64(signature)}"
    jws = read(token, max_length=10_000)
    assert (jws.header, jws.payload, jws.signature) == (header, payload, signature)
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize("count", [1, 2, 4, 5])
def test_only_three_segments_make_a_compact_jws(count: int) -> None:
    token = ".".join([segment({"alg": "RS256"})] * count)
    with pytest.raises(MalformedTokenError, match="segments"):
        read(token, max_length=10_000)


def test_empty_signature_is_refused() -> None:
    with pytest.raises(MalformedTokenError, match="empty signature"):
        read(f"{segment({'alg': 'RS256'})}.{segment({})}.", max_length=10_000)


def test_length_is_checked_before_decoding() -> None:
    with pytest.raises(TokenTooLargeError):
        read("!" * 101, max_length=100)


def test_non_string_tokens_are_malformed() -> None:
    with pytest.raises(MalformedTokenError, match="bytes"):
        read(b"a.b.c", max_length=100)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "ES256", "RS1", "", None, 256])
def test_algorithms_outside_the_allow_list_are_refused(alg: object) -> None:
    with pytest.raises(UnsupportedAlgorithmError):
        check_header({"alg": alg, "kid": "k"}, {"RS256"})


def test_crit_is_refused() -> None:
    with pytest.raises(CriticalHeaderError):
        check_header({"alg": "RS256", "kid": "k", "crit": ["exp"]}, {"RS256"})


@pytest.mark.parametrize("member", ["enc", "zip", "b64"])
def test_jwe_and_unencoded_payload_members_are_refused(member: str) -> None:
    with pytest.raises(MalformedTokenError, match=member):
        check_header({"alg": "RS256", "kid": "k", member: False}, {"RS256"})


def test_graph_nonce_header_is_named() -> None:
    with pytest.raises(GraphTokenError) as caught:
        check_header({"alg": "RS256", "kid": "k", "nonce": "abc"}, {"RS256"})
    assert caught.value.reason == "graph_token"


def test_kid_wins_over_x5t() -> None:
    assert check_header({"alg": "RS256", "kid": "a", "x5t": "b"}, {"RS256"}).value == "a"


def test_x5t_alone_names_the_key() -> None:
    assert check_header({"alg": "RS256", "x5t": "b"}, {"RS256"}).value == "b"


def test_no_kid_and_no_x5t_is_refused() -> None:
    with pytest.raises(MissingKeyIdError):
        check_header({"alg": "RS256"}, {"RS256"})


@pytest.mark.parametrize("kid", [None, 1, "", ["a"], {"a": 1}, "k" * 257])
def test_key_ids_must_be_short_non_empty_strings(kid: object) -> None:
    with pytest.raises(MalformedTokenError, match="kid"):
        check_header({"alg": "RS256", "kid": kid}, {"RS256"})


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["RS256", "HS256", "none"]),
            st.sampled_from(["k1", "k2", "", None]),
            st.sampled_from([{}, {"a": 1}, {"exp": 1, "exp2": 2}]),
        ),
        max_size=60,
    )
)
def test_token_reader_agrees_with_a_fresh_reader(
    tokens: list[tuple[str, str | None, dict[str, object]]],
) -> None:
    """Remembering accepted headers never changes a verdict, whatever the order of tokens."""
    reader = TokenReader(allowed_algorithms={"RS256"}, max_length=10_000)
    for alg, kid, payload in tokens:
        header = {"alg": alg} if kid is None else {"alg": alg, "kid": kid}
        token = f"{segment(header)}.{segment(payload)}.{b64(b'sig')}"
        try:
            jws = read(token, max_length=10_000)
            expected: object = (jws, check_header(jws.header, {"RS256"}))
        except AADGuardError as error:
            expected = type(error)
        try:
            actual: object = reader.read(token)
        except AADGuardError as error:
            actual = type(error)
        assert actual == expected


def test_token_reader_memory_is_bounded() -> None:
    reader = TokenReader(allowed_algorithms={"RS256"}, max_length=10_000)
    for i in range(1000):
        reader.read(f"{segment({'alg': 'RS256', 'kid': str(i)})}.{segment({})}.{b64(b'sig')}")
    assert len(reader._accepted) <= TokenReader.MAX_REMEMBERED_HEADERS
