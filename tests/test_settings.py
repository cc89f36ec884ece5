import pytest

from provisioner.errors import Invalid
from provisioner.settings import load


def test_defaults_serve_nothing():
    s = load(environ={})
    assert s.interfaces == () and not s.dhcp_enabled and not s.tftp_enabled


def test_toml_then_env_then_overrides(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('[appliance]\nhttp_port = 9000\n'
                   'dhcp_ranges = ["10.1.1.10,10.1.1.50,255.255.255.0,12h"]\n')
    s = load(str(cfg), environ={"PROVISIONER_HTTP_PORT": "9001"})
    assert s.http_port == 9001
    assert s.dhcp_ranges == ("10.1.1.10,10.1.1.50,255.255.255.0,12h",)
    assert load(str(cfg), environ={}, http_port=1).http_port == 1


def test_unknown_setting_is_an_error(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text("[appliance]\nhttp_prot = 9000\n")
    with pytest.raises(Invalid, match="http_prot"):
        load(str(cfg), environ={})


def test_bad_value_is_an_error():
    with pytest.raises(Invalid, match="integer"):
        load(environ={"PROVISIONER_HTTP_PORT": "eighty"})


def test_tftp_workers_from_toml_cli_and_refused_below_zero(tmp_path):
    from provisioner.cli import _settings, parser
    from provisioner.net.roles import tftp_worker_count

    cfg = tmp_path / "p.toml"
    cfg.write_text("[appliance]\ntftp_workers = 3\n")
    assert load(str(cfg), environ={}).tftp_workers == 3
    args = parser().parse_args(["--config", str(cfg), "serve", "--workers", "5"])
    assert _settings(args).tftp_workers == 5
    assert tftp_worker_count(load(environ={})) >= 1  # 0 = one per core
    with pytest.raises(Invalid, match="tftp_workers"):
        load(environ={"PROVISIONER_TFTP_WORKERS": "-1"})
