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
