"""The access layer's identity and RBAC rules: JWT (HS256/RS256), trusted proxies, route-down or refuse."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from sirp.config.access import AccessConfig
from sirp.config.schema import RouterConfig
from sirp.errors import AuthenticationError, ConfigError, PermissionDeniedError
from sirp.server.access import AccessControl, Admission, Identity

jwt = pytest.importorskip("jwt", reason="JWT verification needs the sirp[server] extra")

SECRET = "s3cret-for-tests-only-0123456789abcdef"  # HS256 wants at least 32 bytes


def router_config(access: dict[str, Any], **server: Any) -> RouterConfig:
    return RouterConfig.from_dict(
        {
            "tiers": [
                {"name": "slm", "model": "small", "reference_model": "r1"},
                {"name": "llm", "model": "large", "reference_model": "r2"},
                {"name": "lrm", "model": "huge", "reference_model": "r3"},
            ],
            "models": [
                {"name": "small", "tier": "slm", "base_url": "http://127.0.0.1:9/v1"},
                {"name": "small-2", "tier": "slm", "base_url": "http://127.0.0.1:9/v1"},
                {"name": "large", "tier": "llm", "base_url": "http://127.0.0.1:9/v1"},
                {"name": "huge", "tier": "lrm", "base_url": "http://127.0.0.1:9/v1"},
            ],
            "server": {"access": access, **server},
        }
    )


def control(access: dict[str, Any], **server: Any) -> AccessControl:
    return AccessControl.from_config(router_config(access, **server))


def admit(ac: AccessControl, headers: dict[str, str] | None = None, peer: str | None = "203.0.113.9", **kw: Any):
    kw.setdefault("model", "auto")
    kw.setdefault("estimated_tokens", 10)
    return asyncio.run(ac.admit(headers or {}, peer, **kw))


def hs256(claims: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256", headers=headers or None)


@pytest.fixture
def hs_env(monkeypatch) -> dict[str, Any]:
    monkeypatch.setenv("SIRP_TEST_JWT_SECRET", SECRET)
    return {"jwt": {"algorithm": "HS256", "secret_env": "SIRP_TEST_JWT_SECRET", "audience": ["sirp"], "issuer": "idp"}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- JWT ---------------------------------------------------------------------------------------


def test_a_good_hs256_token_gives_a_verified_identity(hs_env) -> None:
    ac = control(hs_env)
    token = hs256({"sub": "alice", "groups": ["eng", "ml"], "tenant_id": "acme", "aud": "sirp", "iss": "idp"})
    a = admit(ac, bearer(token))
    assert a.identity == Identity(user="alice", groups=("eng", "ml"), tenant="acme", verified=True)
    assert a.upstream_headers == {
        "x-authz-user-id": "alice",
        "x-authz-user-groups": "eng,ml",
        "x-authz-tenant-id": "acme",
    }
    assert a.allowed_models is None and a.headers == {} and a.reroute is False


@pytest.mark.parametrize(
    ("claims", "secret", "message"),
    [
        ({"exp": int(time.time()) - 3600}, SECRET, "the token has expired"),
        ({}, "another-secret-of-the-right-length-123456", "signature does not verify"),
        ({"aud": "someone-else"}, SECRET, "not meant for this server"),
        ({"iss": "evil"}, SECRET, "was not issued by 'idp'"),
        ({"nbf": int(time.time()) + 3600}, SECRET, "not valid yet"),
    ],
    ids=["expired", "bad-signature", "wrong-audience", "wrong-issuer", "not-yet-valid"],
)
def test_bad_tokens_are_401(hs_env, claims: dict[str, Any], secret: str, message: str) -> None:
    ac = control(hs_env)
    token = hs256({"sub": "alice", "aud": "sirp", "iss": "idp", **claims}, secret)
    with pytest.raises(AuthenticationError, match=message) as e:
        admit(ac, bearer(token))
    assert e.value.status_code == 401


def test_a_token_without_expiry_is_refused_unless_allowed(hs_env) -> None:
    token = jwt.encode({"sub": "alice", "aud": "sirp", "iss": "idp"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError, match="lacks the 'exp' claim"):
        admit(control(hs_env), bearer(token))
    hs_env["jwt"]["require_exp"] = False
    assert admit(control(hs_env), bearer(token)).identity.user == "alice"


def test_the_algorithm_is_the_servers_not_the_tokens(hs_env) -> None:
    ac = control(hs_env)
    none_token = jwt.encode({"sub": "mallory", "aud": "sirp", "iss": "idp"}, None, algorithm="none")
    with pytest.raises(AuthenticationError):
        admit(ac, bearer(none_token + "x"))  # 'alg: none' (made JWT-shaped) is never accepted
    hs512 = jwt.encode({"sub": "m", "aud": "sirp", "iss": "idp", "exp": time.time() + 60}, SECRET, algorithm="HS512")
    with pytest.raises(AuthenticationError, match="not signed with HS256"):
        admit(ac, bearer(hs512))


def test_without_a_token_the_caller_is_anonymous_unless_one_is_required(hs_env) -> None:
    # the openai client always sends its api key as a bearer token: a key that is no JWT is no token
    assert admit(control(hs_env), bearer("sk-not-a-jwt")).identity == Identity()
    hs_env["jwt"]["required"] = True
    with pytest.raises(AuthenticationError, match=r"needs a JWT in the authorization header \('Bearer <token>'\)"):
        admit(control(hs_env), bearer("sk-not-a-jwt"))
    with pytest.raises(AuthenticationError, match="needs a JWT"):
        admit(control(hs_env), {})
    with pytest.raises(AuthenticationError, match="not a valid JWT"):
        admit(control(hs_env), bearer("abc.def.ghi"))  # JWT-shaped but garbage: always 401


def test_a_custom_token_header_and_claims(monkeypatch) -> None:
    monkeypatch.setenv("SIRP_TEST_JWT_SECRET", SECRET)
    ac = control(
        {
            "jwt": {
                "secret_env": "SIRP_TEST_JWT_SECRET",
                "header": "X-JWT-Assertion",
                "user_claim": "email",
                "groups_claim": "roles",
                "tenant_claim": "org",
            }
        }
    )
    token = hs256({"email": "bob@example.com", "roles": "admin, ops", "org": 42})
    a = admit(ac, {"x-jwt-assertion": token})
    assert a.identity == Identity(user="bob@example.com", groups=("admin", "ops"), tenant="42", verified=True)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_rs256_with_a_public_key_file(rsa_keys, tmp_path: Path) -> None:
    private, public = rsa_keys
    (tmp_path / "idp.pem").write_bytes(public)
    ac = control({"jwt": {"algorithm": "RS256", "public_key_file": str(tmp_path / "idp.pem")}})
    token = jwt.encode({"sub": "carol", "exp": int(time.time()) + 60}, private, algorithm="RS256")
    assert admit(ac, bearer(token)).identity == Identity(user="carol", verified=True)
    # an HS256 token signed with the public key as the secret (the classic key confusion) fails
    confused = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError, match="not signed with RS256"):
        admit(ac, bearer(confused))


def test_rs256_inline_pem_and_a_token_from_another_key(rsa_keys) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, public = rsa_keys
    ac = control({"jwt": {"algorithm": "RS256", "public_key": public.decode()}})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    token = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 60}, other, algorithm="RS256")
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        admit(ac, bearer(token))


def test_jwt_set_up_errors_are_config_errors(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIRP_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match="SIRP_TEST_UNSET is not set"):
        control({"jwt": {"secret_env": "SIRP_TEST_UNSET"}})
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM public key"):
        control({"jwt": {"algorithm": "RS256", "public_key_file": str(tmp_path / "bad.pem")}})
    with pytest.raises(ConfigError, match=r"server\.access\.jwt\.public_key_file: RS256 needs the issuer's public"):
        router_config({"jwt": {"algorithm": "RS256"}})
    with pytest.raises(ConfigError, match=r"server\.access\.jwt\.secret_env: HS256 needs"):
        router_config({"jwt": {}})


# -- identity headers and trusted proxies ------------------------------------------------------

ID_HEADERS = {"X-Authz-User-Id": "dave", "X-Authz-User-Groups": "admin,eng", "X-Authz-Tenant-Id": "acme"}


def test_identity_headers_from_an_untrusted_peer_are_stripped() -> None:
    ac = control({"trusted_proxies": ["10.0.0.0/8"]})
    a = admit(ac, ID_HEADERS, peer="203.0.113.9")
    assert a.identity == Identity()
    assert a.upstream_headers == {}  # never forwarded either
    for peer in (None, "not-an-address", "testclient"):
        assert admit(ac, ID_HEADERS, peer=peer).identity == Identity()


def test_identity_headers_from_a_trusted_proxy_are_believed() -> None:
    ac = control({"trusted_proxies": ["10.0.0.0/8", "::1"]})
    for peer in ("10.1.2.3", "::1"):
        a = admit(ac, ID_HEADERS, peer=peer)
        assert a.identity == Identity(user="dave", groups=("admin", "eng"), tenant="acme", verified=False)
        assert a.upstream_headers == {
            "x-authz-user-id": "dave",
            "x-authz-user-groups": "admin,eng",
            "x-authz-tenant-id": "acme",
        }


def test_a_verified_jwt_wins_over_proxy_headers(hs_env) -> None:
    ac = control({**hs_env, "trusted_proxies": ["127.0.0.1"]})
    token = hs256({"sub": "alice", "aud": "sirp", "iss": "idp"})
    a = admit(ac, {**ID_HEADERS, **bearer(token)}, peer="127.0.0.1")
    assert a.identity.user == "alice" and a.identity.verified
    assert a.upstream_headers == {"x-authz-user-id": "alice"}


def test_renamed_headers_no_forwarding_and_required_identity() -> None:
    ac = control(
        {
            "trusted_proxies": ["127.0.0.1"],
            "user_header": "X-User",
            "groups_header": "X-Groups",
            "tenant_header": "X-Org",
            "forward_identity": False,
            "require_identity": True,
        }
    )
    a = admit(ac, {"x-user": "erin", "x-groups": "a", "x-org": "o"}, peer="127.0.0.1")
    assert a.identity == Identity(user="erin", groups=("a",), tenant="o")
    assert a.upstream_headers == {}
    with pytest.raises(AuthenticationError, match="call through the trusted proxy that sets x-user"):
        admit(ac, {"x-user": "erin"}, peer="198.51.100.1")


def test_bad_proxy_addresses_fail_at_load() -> None:
    with pytest.raises(ConfigError, match=r"server\.access\.trusted_proxies: Value error, 'intranet' is not an IP"):
        router_config({"trusted_proxies": ["intranet"]})


# -- RBAC --------------------------------------------------------------------------------------

RBAC = {
    "trusted_proxies": ["127.0.0.1"],
    "rbac": {
        "rules": [
            {"groups": ["*"], "tiers": ["slm"]},
            {"groups": ["pro"], "tiers": ["llm"]},
            {"groups": ["research"], "models": ["huge"]},
        ]
    },
}


def as_user(groups: str, on_exceed: str = "route_down", **kw: Any) -> Admission:
    ac = control({**RBAC, "rbac": {**RBAC["rbac"], "on_exceed": on_exceed}})
    return admit(ac, {"x-authz-user-id": "u", "x-authz-user-groups": groups}, peer="127.0.0.1", **kw)


def test_rights_are_the_union_of_the_rules_of_the_callers_groups() -> None:
    assert as_user("").allowed_models == {"small", "small-2"}  # '*' only
    assert as_user("pro").allowed_models == {"small", "small-2", "large"}
    assert as_user("pro,research").allowed_models == {"small", "small-2", "large", "huge"}
    anonymous = admit(control(RBAC), {})
    assert anonymous.allowed_models == {"small", "small-2"}


def test_a_pin_within_rights_passes_and_a_routed_request_is_restricted() -> None:
    a = as_user("pro", model="large")
    assert a.allowed_models == {"small", "small-2", "large"} and not a.reroute
    assert as_user("pro", model="llm").reroute is False  # a tier name pins its tier's model


def test_a_pin_above_rights_is_routed_down_by_default() -> None:
    a = as_user("pro", model="huge")
    assert a.reroute is True
    assert a.allowed_models == {"small", "small-2", "large"}  # at or below the pinned tier (lrm)
    low = as_user("", model="large")
    assert low.reroute is True and low.allowed_models == {"small", "small-2"}


def test_a_pin_above_rights_is_403_when_configured_to_refuse() -> None:
    with pytest.raises(PermissionDeniedError, match=r"user 'u' may not use the model 'huge'; it may use: large, small"):
        as_user("pro", model="huge", on_exceed="refuse")
    # routed requests are never refused for their rights: they stay within them
    assert as_user("pro", on_exceed="refuse").allowed_models == {"small", "small-2", "large"}


def test_route_down_finds_nothing_below_is_403() -> None:
    cfg = {"trusted_proxies": ["127.0.0.1"], "rbac": {"rules": [{"groups": ["x"], "tiers": ["lrm"]}]}}
    with pytest.raises(PermissionDeniedError, match=r"nor any model below it; it may use: huge"):
        admit(control(cfg), {"x-authz-user-groups": "x"}, peer="127.0.0.1", model="large")


def test_no_rights_at_all_is_403() -> None:
    cfg = {"rbac": {"rules": [{"groups": ["staff"], "models": ["small"]}]}}
    with pytest.raises(PermissionDeniedError, match="an anonymous caller may use no model") as e:
        admit(control(cfg), {})
    assert e.value.status_code == 403


def test_rbac_rules_are_checked_against_the_models() -> None:
    with pytest.raises(ConfigError, match=r"server\.access\.rbac\.rules\.0\.models\.1: 'gpt-9' is not a configured"):
        control({"rbac": {"rules": [{"groups": ["a"], "models": ["small", "gpt-9"]}]}})
    with pytest.raises(ConfigError, match=r"rules\.0\.tiers: resolving tiers needs the router config"):
        AccessControl(AccessConfig.model_validate({"rbac": {"rules": [{"groups": ["a"], "tiers": ["slm"]}]}}))
    with pytest.raises(ConfigError, match=r"rbac\.rules\.0\.tiers: a rule must grant some tiers or models"):
        router_config({"rbac": {"rules": [{"groups": ["a"]}]}})


def test_the_plain_constructor_works_with_model_rules_and_a_custom_auto_name() -> None:
    ac = AccessControl(AccessConfig.model_validate({"rbac": {"rules": [{"groups": ["*"], "models": ["small"]}]}}))
    assert asyncio.run(ac.admit({}, None, model="auto", estimated_tokens=0)).allowed_models == {"small"}
    with pytest.raises(PermissionDeniedError):  # without the catalogue, a pin cannot be routed down
        asyncio.run(ac.admit({}, None, model="large", estimated_tokens=0))
    named = control({"rbac": {"rules": [{"groups": ["*"], "models": ["small"]}]}}, auto_model="router")
    assert admit(named, model="router").reroute is False


def test_docs_describe_every_access_field() -> None:
    from sirp.config.access import JWTConfig, RateLimitConfig, RateLimitRule, RBACConfig

    docs = Path(__file__).resolve().parents[3] / "docs"
    # docs/server.md's "Access control" section links to docs/access.md, which has every field
    assert "(access.md)" in (docs / "server.md").read_text(encoding="utf-8")
    text = (docs / "access.md").read_text(encoding="utf-8")
    expected = [
        *(f"| `{f}` |" for f in AccessConfig.model_fields),
        *(f"| `jwt.{f}` |" for f in JWTConfig.model_fields),
        *(f"| `rbac.{f}` |" for f in RBACConfig.model_fields),
        *(f"| `rate_limits.{f}` |" for f in RateLimitConfig.model_fields),
        *(f"| `rules[].{f}` |" for f in RateLimitRule.model_fields),
        "`rules[].groups`",
        "`rules[].tiers`",
        "`rules[].models`",
    ]
    assert [e for e in expected if e not in text] == []
