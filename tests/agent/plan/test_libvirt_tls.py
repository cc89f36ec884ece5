"""The TLS install plan: paths libvirt expects, listen_tls, keys never printed, idempotent,
rotation changes only what differs. Certificates from the appliance's CA (provisioner.remote.pki,
imported by the test only: the agent itself never imports the appliance)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.apply.applier import apply
from agent.apply.system import RealSystem
from agent.plan.libvirt_tls import TlsBundle, TlsWant, plan_libvirt_tls
from agent.plan.steps import PlanError
from agent.run import FakeRunner, Result
from provisioner.remote import pki

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca():
    return pki.create_ca(NOW)


def bundle(ca, names=("host1.example.com", "10.0.0.5")) -> TlsBundle:
    kp = pki.issue_host(ca, list(names), NOW)
    return TlsBundle(ca.cert_pem, kp.cert_pem, kp.key_pem)


def test_plan_lists_libvirt_paths_and_listen_tls(ca):
    plan = plan_libvirt_tls(bundle(ca), TlsWant(service="sysv", listen_addr="10.0.0.5"))
    text = plan.describe()
    for path in ("/etc/pki/CA/cacert.pem", "/etc/pki/libvirt/servercert.pem",
                 "/etc/pki/libvirt/private/serverkey.pem", "/etc/pki/libvirt/clientcert.pem",
                 "/etc/pki/libvirt/private/clientkey.pem", "/etc/pki/qemu/server-key.pem",
                 "/etc/libvirt/libvirtd.conf", "/etc/sysconfig/libvirtd"):
        assert f"edit {path}" in text
    assert "listen_tls = 1" in text and 'listen_addr = "10.0.0.5"' in text
    assert "run service libvirtd restart" in text
    assert "PRIVATE KEY" not in text


def _root(tmp_path):
    conf = tmp_path / "etc/libvirt/libvirtd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# libvirtd.conf\n#listen_tls = 0\nauth_tls = \"none\"\n")
    return tmp_path


def _system(root):
    runner = FakeRunner({"service libvirtd restart": Result(("service",), 0, "", "")})
    return RealSystem(root, runner), runner


def test_apply_is_idempotent_and_keys_are_private(ca, tmp_path):
    root = _root(tmp_path)
    b = bundle(ca)
    plan = plan_libvirt_tls(b, TlsWant(service="sysv"))
    system, runner = _system(root)
    dry = apply(plan, system, dry_run=True)
    assert dry.ok and dry.changed == len(plan.steps)  # the restart follows the changes
    assert "-#listen_tls = 0" in dry.text() and "+listen_tls = 1" in dry.text()
    assert "PRIVATE KEY" not in dry.text() and "secret created" in dry.text()
    assert not (root / "etc/pki").exists()  # a dry run changes nothing

    first = apply(plan, system)
    assert first.ok, first.text()
    assert ("service", "libvirtd", "restart") in runner.calls
    key = root / "etc/pki/libvirt/private/serverkey.pem"
    assert key.read_text() == b.key + ("" if b.key.endswith("\n") else "\n")
    assert key.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/pki/CA/cacert.pem").stat().st_mode & 0o777 == 0o644
    conf = (root / "etc/libvirt/libvirtd.conf").read_text()
    assert conf == '# libvirtd.conf\nlisten_tls = 1\nauth_tls = "none"\n'
    assert "PRIVATE KEY" not in first.text()

    runner.calls.clear()
    again = apply(plan, system)
    assert again.ok and again.changed == 0
    assert runner.calls == []  # converged: no restart


def test_rotation_changes_only_the_host_files(ca, tmp_path):
    root = _root(tmp_path)
    system, runner = _system(root)
    assert apply(plan_libvirt_tls(bundle(ca), TlsWant(service="sysv")), system).ok
    runner.calls.clear()
    rotated = apply(plan_libvirt_tls(bundle(ca), TlsWant(service="sysv")), system)
    assert rotated.ok
    changed = {s.describe.split(":")[0] for s in rotated.steps if s.status == "changed"}
    assert "edit /etc/pki/CA/cacert.pem" not in changed  # same CA
    assert "edit /etc/pki/libvirt/servercert.pem" in changed
    assert "edit /etc/libvirt/libvirtd.conf" not in changed
    assert runner.calls == [("service", "libvirtd", "restart")]


def test_systemd_and_none_services(ca):
    text = plan_libvirt_tls(bundle(ca), TlsWant()).describe()
    assert "systemctl enable --now libvirtd-tls.socket" in text
    assert "sysconfig" not in text
    text = plan_libvirt_tls(bundle(ca), TlsWant(service="none", qemu_tls=False)).describe()
    assert "manual: restart libvirtd" in text and "/etc/pki/qemu" not in text


def test_xen_host_gets_vnc_tls(ca, tmp_path):
    plan = plan_libvirt_tls(bundle(ca), TlsWant(hypervisor="xen", service="none"))
    text = plan.describe()
    assert "/etc/xen/vnc/ca-cert.pem" in text and "/etc/xen/vnc/server-key.pem" in text
    assert "(vnc-tls 1)" in text and "(vnc-x509-verify 1)" in text
    assert "/etc/pki/qemu" not in text
    sxp = tmp_path / "etc/xen/xend-config.sxp"
    sxp.parent.mkdir(parents=True)
    sxp.write_text("(xend-relocation-server no)\n#(vnc-tls 1)\n# (vnc-x509-verify 1)\n")
    system, _ = _system(tmp_path)
    assert apply(plan, system).ok
    assert sxp.read_text() == "(xend-relocation-server no)\n(vnc-tls 1)\n(vnc-x509-verify 1)\n"


@pytest.mark.parametrize("data,msg", [
    ({"ca_cert": "x", "cert": "y"}, "no 'key'"),
    ({"ca_cert": "not pem", "cert": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
      "key": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"}, "ca_cert is not PEM"),
    ({"ca_cert": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
      "cert": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
      "key": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"}, "key is not PEM"),
    ({"ca_cert": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
                 "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
      "cert": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
      "key": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"}, "exactly one"),
])
def test_bad_bundle_is_refused(data, msg):
    with pytest.raises(PlanError, match=msg):
        TlsBundle.from_dict(data)


@pytest.mark.parametrize("want,code", [(TlsWant(service="upstart"), "TLS_SERVICE"),
                                       (TlsWant(hypervisor="vbox"), "TLS_HYPERVISOR"),
                                       (TlsWant(listen_addr='x" ; y'), "TLS_LISTEN_ADDR")])
def test_bad_want_is_refused(ca, want, code):
    with pytest.raises(PlanError, match=code):
        plan_libvirt_tls(bundle(ca), want)
