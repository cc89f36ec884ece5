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
