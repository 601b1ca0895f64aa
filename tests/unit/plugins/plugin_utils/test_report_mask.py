from __future__ import annotations

import pytest

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError
from ansible_collections.azlin.fleet.plugins.plugin_utils.report_mask import MASK, build_masker

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJDRA==\n-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("password=hunter2", f"password={MASK}", id="password-equals"),
        pytest.param("DB_PASSWORD: 'hunter2' ok", f"DB_PASSWORD: '{MASK}' ok", id="password-colon-quoted"),
        pytest.param("url?token=abc123&x=1", f"url?token={MASK}&x=1", id="token-in-query"),
        pytest.param("secret = s3cr3t next", f"secret = {MASK} next", id="secret-spaces"),
        pytest.param("api_key=AKIA123, other", f"api_key={MASK}, other", id="api-key-comma"),
        pytest.param("Authorization: Bearer eyJhbGciOi.J9.x-y_z", f"Authorization: Bearer {MASK}", id="bearer"),
        pytest.param(
            f"before\n{PRIVATE_KEY}\nafter",
            f"before\n-----BEGIN OPENSSH PRIVATE KEY-----{MASK}-----END OPENSSH PRIVATE KEY-----\nafter",
            id="private-key-block",
        ),
        pytest.param("AWS_SECRET_ACCESS_KEY=wJalr/K7", f"AWS_SECRET_ACCESS_KEY={MASK}", id="key-inside-longer-name"),
        pytest.param("tokens are fine; a password is needed", "tokens are fine; a password is needed", id="no-value"),
    ],
)
def test_default_patterns_hide_values_and_keep_keys(text: str, expected: str) -> None:
    assert build_masker().mask(text) == expected


def test_user_pattern_masks_whole_match_or_secret_group() -> None:
    masker = build_masker([r"sig=(?P<secret>\w+)", r"ghp_[A-Za-z0-9]{8}"])
    assert masker.mask("sig=abc ghp_ABCDEFGH") == f"sig={MASK} {MASK}"


def test_defaults_can_be_left_out() -> None:
    assert build_masker(["x+"], use_defaults=False).mask("password=1 xx") == f"password=1 {MASK}"


def test_bad_user_pattern_is_named() -> None:
    with pytest.raises(FleetConfigError, match=r"Mask pattern '\(unclosed'.*not a valid regular expression"):
        build_masker(["(unclosed"])


# --- the shapes of issue 12 and linear time ---

import time  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        pytest.param('{"password": "hunter 2 x"}', "hunter 2 x", '"password": ', id="json-password"),
        pytest.param('{"client_secret":"cs-123"}', "cs-123", '"client_secret":', id="json-client-secret"),
        pytest.param('{"accessToken" : "at.456"}', "at.456", '"accessToken" : ', id="json-access-token"),
        pytest.param("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Authorization: Basic ", id="basic"),
        pytest.param("key id AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "key id ", id="aws-key-id"),
        pytest.param(
            "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=AbC%2Bdef%3D123",
            "AbC%2Bdef%3D123",
            "sig=",
            id="sas-sig",
        ),
        pytest.param(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFy+/==;EndpointSuffix=core",
            "Zm9vYmFy+/==",
            "AccountName=acct;AccountKey=",
            id="account-key",
        ),
        pytest.param(f"got {JWT} back", JWT, "got ", id="bare-jwt"),
        pytest.param("postgres://app:s3cr3t@db.local:5432/x", "s3cr3t", "postgres://app:", id="url-credentials"),
        pytest.param("mysql --user root --password p4ss -e x", "p4ss", "--password ", id="cli-password"),
        pytest.param("az login --client-secret 'abc'", "abc", "--client-secret ", id="cli-client-secret"),
        pytest.param(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAKCAQEA\n",
            "MIIEow\nAKCAQEA",
            "-----BEGIN RSA PRIVATE KEY-----",
            id="pem-without-end",
        ),
    ],
)
def test_issue_shapes_are_masked(text: str, secret: str, kept: str) -> None:
    masked = build_masker().mask(text)
    assert secret not in masked and MASK in masked
    assert kept in masked


SHAPES = [
    ('"password": "{}"', "json"),
    ("client_secret={}", "kv"),
    ("Authorization: Bearer {}", "bearer"),
    ("Authorization: Basic {}", "basic"),
    ("https://u:{}@host/x", "url"),
    ("--password {}", "cli"),
    ("AccountKey={};", "account-key"),
    ("?sig={}&x", "sig"),
]
SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=6, max_size=40)
NOISE = st.text(alphabet=" \n\tabc=:;,\"'-./@", max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SHAPES), SECRET, NOISE, NOISE)
def test_every_shape_is_masked_in_any_context(shape: tuple[str, str], secret: str, before: str, after: str) -> None:
    text = before + " " + shape[0].format(secret) + " " + after
    assert secret not in build_masker().mask(text)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["AKIA", "ASIA"]), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16)
)
def test_aws_key_ids_are_masked(prefix: str, body: str) -> None:
    assert prefix + body not in build_masker().mask(f"id={prefix}{body}\n{prefix}{body} ")


ADVERSARIAL = [
    "token",
    "password",
    "passwordpassword=",
    '"password":',
    "--token",
    "--password ",
    "Authorization: ",
    "AKIA",
    "sig=",
    "AccountKey=",
    "eyJ",
    "eyJabcdefgh.eyJ",
    "a://",
    "a://b:",
    "-----BEGIN RSA PRIVATE KEY-----",
    "PRIVATE KEY-----",
]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_masking_is_linear_on_adversarial_input(unit: str) -> None:
    masker = build_masker()
    small = unit * (1_000_000 // len(unit))
    big = unit * (4_000_000 // len(unit))
    # The best of three runs each, so a busy machine does not decide the outcome. Both sizes are beyond the CPU
    # caches, so the ratio measures the algorithm.
    small_seconds = min(_timed(masker.mask, small) for _ in range(3))
    assert small_seconds < 1.0, f"{unit!r}: 1 MB took {small_seconds:.2f} s"
    big_seconds = min(_timed(masker.mask, big) for _ in range(3))
    # Four times the input, about four times the time (quadratic would be sixteen).
    assert big_seconds < 8 * small_seconds + 0.05, (unit, small_seconds, big_seconds)


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(ADVERSARIAL + ["x", " ", "=", "\n", ".", "@", ":"]), min_size=1, max_size=30))
def test_masking_mixed_adversarial_megabyte_is_fast(units: list[str]) -> None:
    chunk = "".join(units)
    text = chunk * (1_000_000 // len(chunk) + 1)
    masker = build_masker()
    # Best of two, so a busy machine does not decide; quadratic behaviour on 1 MB would take minutes.
    assert min(_timed(masker.mask, text) for _ in range(2)) < 2.0
