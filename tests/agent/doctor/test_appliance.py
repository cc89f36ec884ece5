"""The doctor's report end to end: the real ``provisioner-agent doctor --send`` (its HTTP
client) against the real appliance on loopback; the appliance keeps the last report per host
(across re-registrations), serves it on the admin API and shows it on the host page. Bad
reports are refused with the field named and nothing stored."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent import cli
from agent.client import AgentClient, ApiError
from provisioner.core.users import Users
from provisioner.models import Host
from provisioner.web.app import create_app
from tests.agent.doctor.test_checks import XEND_OPEN, _healthy, _write
from tests.agent.loophelpers import ADMIN, appliance
from tests.web.ui.test_web_ui import login


def _get(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture
def sick_root(tmp_path: Path) -> Path:
    """A Xen host with an open relocation server and a guest file xm cannot read."""
    root = _healthy(tmp_path, "rhel5-xen")
    _write(root, "etc/xen/xend-config.sxp",
           (root / "etc/xen/xend-config.sxp").read_text() + XEND_OPEN)
    _write(root, "etc/xen/win2k3xen12", b"name = '\xc0<script>'\n")
    return root


def test_report_sent_stored_and_shown(sick_root: Path, capsys) -> None:
    with appliance() as app:
        agent = AgentClient(app.url, "hv1", app.host_token, timeout=5)
        agent.register({"hostname": "xenhost"}, {})
        assert _get(f"{app.url}/api/agent/hosts/hv1/doctor") == {"host": "hv1", "report": None}
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(f"{app.url}/api/agent/hosts/nope/doctor")
        assert missing.value.code == 404
        assert cli.main(["doctor", "--root", str(sick_root), "--send", app.url, "--host", "hv1",
                         "--token", app.host_token]) == 1
        assert "report sent" in capsys.readouterr().err
        rep = _get(f"{app.url}/api/agent/hosts/hv1/doctor")["report"]
        assert rep["status"] == "findings"
        assert [f["id"] for f in rep["findings"]] == ["E8", "H7"]
        assert rep["facts"]["xend"]["xend-relocation-server"] == "yes"
        assert rep["received"] == pytest.approx(app.core.clock(), abs=60)

        agent.register({"hostname": "xenhost2"}, {})   # an agent restart
        assert app.core.store.get_host("hv1").facts["doctor"]["findings"] == rep["findings"]

        app.core.store.put_host(Host(name="hv9", uri="qemu+ssh://root@192.0.2.9/system"))
        Users(app.core.store).create("root", "root-password", "admin")
        ui = create_app(app.core).test_client()
        login(ui, "root")
        html = ui.get("/ui/hosts").get_data(as_text=True)
    assert 'id="doctor-hv1"' in html and "2 finding(s)" in html
    assert "E8: a guest configuration file xm cannot read" in html
    assert "provisioner-agent xen check /etc/xen/win2k3xen12" in html      # the plan to run
    assert "H7: xend relocation open to any host" in html
    assert "<script>" not in html.split('id="doctor-hv1"')[1]              # escaped
    assert "agentless: no agent to run it" in html and 'id="doctor-hv9"' not in html


@pytest.mark.parametrize("report,field", [
    ("healthy", "report"),
    ({"status": "fine", "findings": []}, "report.status"),
    ({"status": "findings", "findings": {}}, "report.findings"),
    ({"status": "findings", "findings": [{"id": "E1", "severity": "fatal"}]},
     "report.findings[0]"),
    ({"status": "findings", "findings": [{"id": "E1", "severity": "error", "title": 3}]},
     "report.findings[0].title"),
    ({"status": "healthy", "findings": [], "facts": {"xend": {"a": 1}}}, "report.facts.xend"),
    ({"status": "healthy", "findings": [], "facts": {"junk": "x" * 300000}}, "report"),
])
def test_bad_report_refused_and_last_one_kept(report: object, field: str) -> None:
    with appliance() as app:
        agent = AgentClient(app.url, "hv1", app.host_token, timeout=5)
        agent.register({}, {})
        agent.doctor({"status": "healthy", "findings": []})
        with pytest.raises(ApiError) as err:
            agent.doctor(report)  # type: ignore[arg-type]
        assert err.value.status == 400 and field in str(err.value)
        assert _get(f"{app.url}/api/agent/hosts/hv1/doctor")["report"]["status"] == "healthy"
        with pytest.raises(ApiError) as err:
            AgentClient(app.url, "hv1", "wrong", timeout=5).doctor({"status": "healthy",
                                                                   "findings": []})
        assert err.value.status == 401


def test_provisioner_host_doctor_command(tmp_path: Path, sick_root: Path, capsys,
                                         monkeypatch) -> None:
    """`provisioner host doctor NAME [--json]` prints the stored report (exit 1 findings,
    0 healthy, 2 none yet); `host list` shows each host's doctor status."""
    from agent.doctor.cli import doctor_report
    from provisioner.cli import main
    from provisioner.core import orders
    from provisioner.main import build_core
    from provisioner.settings import Settings

    monkeypatch.delenv("PROVISIONER_CONFIG", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    core = build_core(Settings(data_dir=str(data)))
    orders.create_host_token(core.store, "hv1", now=core.clock())
    orders.create_host_token(core.store, "hv2", now=core.clock())
    core.agents.doctor("hv1", doctor_report(str(sick_root), facts=None))
    run = lambda *a: (main(["--data-dir", str(data), "host", *a]),  # noqa: E731
                      capsys.readouterr())
    rc, out = run("doctor", "hv1")
    assert rc == 1 and out.out.startswith("hv1: findings, 2 finding(s)")
    assert "plan:  provisioner-agent xen check /etc/xen/win2k3xen12  (on hv1)" in out.out
    rc, out = run("doctor", "hv1", "--json")
    assert rc == 1 and [f["id"] for f in json.loads(out.out)["findings"]] == ["E8", "H7"]
    rc, out = run("doctor", "hv2")
    assert rc == 2 and "no doctor report yet" in out.err
    rc, out = run("doctor", "nope")
    assert rc != 0 and "no host nope" in out.err
    rc, out = run("list")
    assert "doctor: findings" in out.out and "doctor: -" in out.out
