"""libvirt URIs: the seed's oracles (D1 §9.4) plus the bad-input cases."""

from __future__ import annotations

import pytest

from provisioner.remote import uri
from provisioner.remote.uri import UriError, build, check_host_uri, migration_target, parse

# (uri, driver, transport (effective), user, host, port written, effective port, path, params)
ORACLE = [
    ("xen+ssh://ccurran@towada/", "xen", "ssh", "ccurran", "towada", None, 22, "/", {}),
    ("xen://towada/", "xen", "tls", None, "towada", None, 16514, "/", {}),
    ("xen://towada/?no_verify=1", "xen", "tls", None, "towada", None, 16514, "/",
     {"no_verify": "1"}),
    ("qemu+ssh://towada/system", "qemu", "ssh", None, "towada", None, 22, "/system", {}),
    ("qemu+unix:///system?socket=/opt/libvirt/run/libvirt/libvirt-sock", "qemu", "unix", None,
     "", None, None, "/system", {"socket": "/opt/libvirt/run/libvirt/libvirt-sock"}),
    ("test+tcp://10.1.1.10:5000/default", "test", "tcp", None, "10.1.1.10", 5000, 5000,
     "/default", {}),
    ("qemu+ssh://test2.example.com/system", "qemu", "ssh", None, "test2.example.com", None, 22,
     "/system", {}),
]


@pytest.mark.parametrize("text,driver,transport,user,host,port,eport,path,params", ORACLE,
                         ids=[o[0] for o in ORACLE])
def test_seed_uri_oracle(text, driver, transport, user, host, port, eport, path, params):
    u = parse(text)
    assert (u.driver, u.effective_transport, u.user, u.host, u.port, u.effective_port,
            u.path, dict(u.params)) == (driver, transport, user, host, port, eport, path, params)
    assert str(u) == text or parse(str(u)) == u  # round trip


def test_written_transport_is_kept_apart_from_the_default():
    assert parse("xen://towada/").transport is None
    assert parse("xen://towada/").remote  # remote because it has a host name
    assert parse("xen+ssh://ccurran@towada/").transport == "ssh"


def test_local_uri_uses_the_seed_sockets():
    u = parse("qemu:///system")
    assert not u.remote and u.effective_transport == "unix"
    assert u.socket_path() == "/var/run/libvirt/libvirt-sock"
    assert u.socket_path(read_only=True) == "/var/run/libvirt/libvirt-sock-ro"


def test_tcp_is_flagged_unencrypted():
    assert any("unencrypted" in r for r in parse("qemu+tcp://h/system").insecure)
    assert parse("qemu+tls://h/system").insecure == ()
    assert any("certificate" in r for r in parse("xen://towada/?no_verify=1").insecure)
    assert parse("xen://towada/?no_verify=0").insecure == ()


def test_builder_round_trip():
    assert build(driver="qemu", transport="ssh", host="towada", path="system") == \
        "qemu+ssh://towada/system"
    assert build("xen", "ssh", user="ccurran", host="towada", path="/") == \
        "xen+ssh://ccurran@towada/"
    assert build("test", "tcp", host="10.1.1.10", port=5000, path="default") == \
        "test+tcp://10.1.1.10:5000/default"


@pytest.mark.parametrize("text,message", [
    ("qemu+ssh://h/system?no_verify=1", "no_verify"),
    ("qemu+tls://h/system?no_tty=1", "no_tty"),
    ("qemu+tls://h/system?socket=/x", "socket"),
    ("qemu+unix:///system?netcat=/bin/nc", "netcat"),
    ("qemu+ext:///system", "command"),
    ("xen://towada/?no_tty=1", "no_tty"),  # no transport + host -> tls
], ids=["no_verify on ssh", "no_tty on tls", "socket on tls", "netcat on unix",
        "ext without command", "no_tty on default tls"])
def test_parameter_transport_validation(text, message):
    with pytest.raises(UriError, match=message):
        parse(text)


@pytest.mark.parametrize("text", [
    "qemu+ssh://h/system?command=/opt/openssh/bin/ssh",
    "qemu+ext:///system?command=/usr/local/bin/connect",
    "qemu+ssh://h/system?name=qemu:///system",
    "qemu+tls://h/system?name=qemu:///system",
    "qemu+unix:///system?name=qemu:///system",
])
def test_parameters_valid_for_their_transport(text):
    parse(text)


def test_unknown_parameter_is_ignored_with_a_warning():
    u = parse("qemu+ssh://h/system?foo=bar")
    assert u.param("foo") == "bar"
    assert len(u.warnings) == 1 and "foo" in u.warnings[0]
    assert parse("qemu+ssh://h/system").warnings == ()


def test_name_parameter_is_escaped_and_unescaped():
    text = build("qemu", "ssh", host="h", path="system", params={"name": "qemu:///system"})
    assert text == "qemu+ssh://h/system?name=qemu%3A%2F%2F%2Fsystem"
    assert parse(text).param("name") == "qemu:///system"


SSH = [
    ("qemu+ssh://root@h:2222/system?command=/opt/openssh/bin/ssh&netcat=/opt/netcat/bin/nc"
     "&socket=/opt/libvirt/run/libvirt/libvirt-sock",
     "/opt/openssh/bin/ssh -p 2222 -l root h /opt/netcat/bin/nc -U "
     "/opt/libvirt/run/libvirt/libvirt-sock"),
    ("qemu+ssh://h/system", "ssh -p 22 h nc -U /var/run/libvirt/libvirt-sock"),
]


@pytest.mark.parametrize("text,argv", SSH, ids=["all parameters", "defaults"])
def test_ssh_command_synthesis(text, argv):
    assert " ".join(parse(text).ssh_argv()) == argv


def test_ssh_argv_only_for_ssh():
    with pytest.raises(UriError):
        parse("qemu+tls://h/system").ssh_argv()


@pytest.mark.parametrize("text,part", [
    ("", "non-empty"),
    ("qemu", "not of the form"),
    ("qemu+://h/system", "transport"),
    ("qemu+carrier-pigeon://h/system", "transport"),
    ("vmware://h/", "driver"),
    ("qemu+ssh://h:0/system", "port"),
    ("qemu+ssh://h:70000/system", "port"),
    ("qemu+ssh://h:22x/system", "port"),
    ("qemu+ssh://@h/system", "user"),
    ("qemu+ssh://-oProxyCommand=x/system", "host"),
    ("qemu+ssh://-l@h/system", "user name"),
    ("qemu+ssh://h/system?=x", "no name"),
    ("qemu+ssh://h/system?no_tty=1&no_tty=0", "twice"),
    ("qemu+ssh://h /system", "spaces"),
    ("qemu+ssh://[zz::1]/system", "IPv6"),
    ("qemu+ssh://h/sys tem", "spaces"),
    ("qemu+ssh://h/sys;tem", "path"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_bad_uris_name_the_bad_part(text, part):
    with pytest.raises(UriError, match=part):
        parse(text)


def test_ipv6_host():
    u = parse("qemu+tls://[fd00::2]:16515/system")
    assert u.host == "[fd00::2]" and u.port == 16515
    assert str(u) == "qemu+tls://[fd00::2]:16515/system"


@pytest.mark.parametrize("host", ["evil;rm -rf /", "a b", "$(id)", "-oProxyCommand=sh", "h/x",
                                  "`x`", ""])
def test_web_form_host_is_refused(host):
    with pytest.raises(UriError):
        build("qemu", "ssh", host=host or "x y", path="system")


@pytest.mark.parametrize("text,allowed", [
    ("qemu+ssh://root@10.0.0.5/system", True),
    ("qemu+tls://host1.example.com/system", True),
    ("qemu://host1/system", True),
    ("xen+ssh://ccurran@towada/", True),
    ("qemu+ssh://h/system?command=/bin/sh", False),
    ("qemu+ssh://h/system?netcat=/tmp/x", False),
    ("qemu+ssh://h/system?socket=/tmp/s", False),
    ("qemu+ssh://h/system?keyfile=/etc/shadow", False),
    ("qemu+tls://h/system?pkipath=/tmp", False),
    ("qemu+tcp://h/system", False),
    ("qemu+tls://h/system?no_verify=1", False),
    ("qemu+ext:///system?command=/bin/x", False),
    ("qemu:///system", False),
    ("test+tcp://h/default", False),
    ("qemu+ssh://h/session", False),
    ("qemu+ssh://h/system?foo=bar", False),
])
def test_admin_uri_policy(text, allowed):
    if allowed:
        assert check_host_uri(parse(text)) == parse(text)
    else:
        with pytest.raises(UriError):
            check_host_uri(parse(text))


def test_lab_setting_allows_tcp_and_no_verify():
    check_host_uri(parse("qemu+tcp://h/system"), allow_insecure=True)
    check_host_uri(parse("qemu+tls://h/system?no_verify=1"), allow_insecure=True)


def test_migration_target_bare_hostname():
    assert str(migration_target("et-virt08", "xen")) == "xen+ssh://et-virt08/"
    assert str(migration_target("test2.example.com")) == "qemu+ssh://test2.example.com/system"
    assert str(migration_target("qemu+tls://h/system")) == "qemu+tls://h/system"
    with pytest.raises(UriError):
        migration_target("evil;x")


def test_with_params_revalidates():
    u = parse("qemu+tls://h/system").with_params(pkipath="/var/lib/provisioner/pki")
    assert u.param("pkipath") == "/var/lib/provisioner/pki"
    with pytest.raises(UriError):
        parse("qemu+ssh://h/system").with_params(pkipath="/x")


def test_table_20_1_is_complete():
    seed = {k for k, p in uri.PARAMS.items() if p.seed}
    assert seed == {"name", "command", "socket", "netcat", "no_verify", "no_tty"}
    assert {t for t, s in uri.TRANSPORTS.items() if s.seed} == {"tls", "unix", "ssh", "ext",
                                                                  "tcp"}
    assert (uri.TRANSPORTS["tls"].port, uri.TRANSPORTS["tcp"].port,
            uri.TRANSPORTS["ssh"].port) == (16514, 16509, 22)
