"""Client files of the local Azure endpoint (env.sh, inventory config) and its TLS material."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from azlin_fleet_sandbox.arm.files import env_sh, inventory_config
from azlin_fleet_sandbox.arm.tls import ensure_tls

ENDPOINT = {
    "base_url": "https://127.0.0.1:4443",
    "tenant_id": "tenant-1",
    "client_id": "client-1",
    "client_secret": "se'cr et$x",  # quoting must survive the shell
    "subscriptions": ["sub-1", "sub-2"],
    "ca_bundle": "/state dir/azure/ca.pem",
    "az_bin_dir": "/state dir/azure/bin",
}


def test_env_sh_exports_what_the_credentials_read(tmp_path: Path):
    script = tmp_path / "env.sh"
    script.write_text(env_sh(ENDPOINT))
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'. "{script}"; printf "%s\\n" "$AZURE_TENANT_ID" "$AZURE_CLIENT_ID" "$AZURE_CLIENT_SECRET" '
            '"$AZURE_AUTHORITY_HOST" "$REQUESTS_CA_BUNDLE" "$AZURE_SUBSCRIPTION_ID" "${PATH%%:*}"',
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert out == [
        "tenant-1",
        "client-1",
        "se'cr et$x",
        "https://127.0.0.1:4443",
        "/state dir/azure/ca.pem",
        "sub-1",
        "/state dir/azure/bin",
    ]


def test_inventory_config_names_the_plugin_and_the_endpoint(tmp_path: Path):
    config = yaml.safe_load(inventory_config(ENDPOINT, tmp_path, ssh_ports=False))
    assert {
        k: config[k]
        for k in (
            "plugin",
            "auth_source",
            "authority_host",
            "arm_endpoint",
            "ca_bundle",
            "hostname_source",
            "client_id",
            "tenant_id",
            "client_secret",
        )
    } == {
        "plugin": "azlin.fleet.azure_pools",
        "auth_source": "credential",
        "authority_host": "https://127.0.0.1:4443",
        "arm_endpoint": "https://127.0.0.1:4443",
        "ca_bundle": "/state dir/azure/ca.pem",
        "hostname_source": ["private_ip"],
        "client_id": "client-1",
        "tenant_id": "tenant-1",
        "client_secret": "se'cr et$x",
    }
    # compose values are Jinja expressions: plain strings must be quoted literals.
    assert config["compose"]["ansible_user"] == "'root'"
    assert config["compose"]["ansible_ssh_private_key_file"] == repr(str(tmp_path / "id_ed25519"))
    assert "StrictHostKeyChecking=yes" in config["compose"]["ansible_ssh_common_args"]
    assert "ansible_port" not in config["compose"]
    assert "ansible_port" in yaml.safe_load(inventory_config(ENDPOINT, tmp_path, ssh_ports=True))["compose"]


def test_tls_material_is_private_reused_and_valid_for_loopback(tmp_path: Path):
    files = ensure_tls(tmp_path)
    for key in (files.ca_key, files.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca_pem = files.ca_cert.read_bytes()
    again = ensure_tls(tmp_path)
    assert again.ca_cert.read_bytes() == ca_pem  # the CA a client already trusts stays valid
    ca = x509.load_pem_x509_certificate(ca_pem)
    server = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
