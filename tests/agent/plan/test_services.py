"""``plan service``: the doctor's fix for xend / libvirtd / ntpd not running (E1, H4, H9) as the
guide's commands in its order (D1 §9.6 oracles), checked before acting, undone on rollback."""

from __future__ import annotations

import pytest

from agent.apply.applier import Journal, apply, rollback
from agent.apply.system import FakeSystem
from agent.plan.services import ServiceWant, plan_service
from agent.plan.steps import Command, PlanError
from agent.run import FakeRunner, Result
from tests.agent.fixtures.hosts import facts_of


def _argv(host: str, *names: str) -> list[tuple[str, ...]]:
    steps = plan_service(facts_of(host), ServiceWant(names)).steps
    assert all(isinstance(s, Command) and s.check and s.undo for s in steps)
    return [s.argv for s in steps]  # type: ignore[attr-defined]


def test_guide_order_on_rhel5() -> None:
    """D1 §9.6: libvirtd: chkconfig on, then start; ntpd: start, then chkconfig on; xend at
    boot with the corrected `chkconfig --level 345 xend on`."""
    assert _argv("rhel5-xen", "libvirtd", "ntpd", "xend") == [
        ("chkconfig", "libvirtd", "on"), ("service", "libvirtd", "start"),
        ("service", "ntpd", "start"), ("chkconfig", "ntpd", "on"),
        ("chkconfig", "--level", "345", "xend", "on"), ("service", "xend", "start")]


@pytest.mark.parametrize("host", ["rhel9-nm", "debian12"])
def test_systemd_hosts_enable_then_start(host: str) -> None:
    assert _argv(host, "ntpd", "libvirtd", "ntpd") == [
        ("systemctl", "enable", "chronyd"), ("systemctl", "start", "chronyd"),
        ("systemctl", "enable", "libvirtd"), ("systemctl", "start", "libvirtd")]


@pytest.mark.parametrize("names,code", [((), "E_NO_SERVICE"),
                                        (("sshd",), "E_UNKNOWN_SERVICE"),
                                        (("ntpd; reboot",), "E_UNKNOWN_SERVICE")])
def test_refused(names: tuple[str, ...], code: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_service(facts_of("rhel5-xen"), ServiceWant(names))
    assert err.value.code == code


def test_apply_checks_first_and_rolls_back() -> None:
    state = {"running": False, "enabled": False}

    def setter(key: str, value: bool):
        def act(argv):
            state[key] = value
            return Result(tuple(argv), 0)
        return act

    def probe(key: str):
        return lambda argv: Result(tuple(argv), 0 if state[key] else 3)

    runner = FakeRunner({
        "service ntpd start": setter("running", True), "service ntpd stop": setter(
            "running", False), "service ntpd status": probe("running"),
        "chkconfig ntpd on": setter("enabled", True), "chkconfig ntpd off": setter(
            "enabled", False), "chkconfig ntpd": probe("enabled")})
    plan = plan_service(facts_of("rhel5-xen"), ServiceWant(("ntpd",)))
    journal = Journal()
    assert apply(plan, FakeSystem(runner=runner), journal=journal).changed == 2
    assert state == {"running": True, "enabled": True}
    assert apply(plan, FakeSystem(runner=runner)).changed == 0      # already so: nothing run
    assert rollback(journal, FakeSystem(runner=runner)) == []
    assert state == {"running": False, "enabled": False}
