"""Issue 15 in headless Chromium: what a new admin met in the UI, each fixed and walked through.

One browser session (the UI served by waitress from the order tests' appliance):

* item 6: 1 MiB of RAM is a field error next to Memory (MiB), not a warning; disks are GiB;
* item 7: a host without usable VT whose libvirt offers only TCG is shown as "QEMU (TCG,
  software emulation)" on the Hosts page and the review step, never "KVM";
* item 8: the order's timeline says what happened (which file, how many bytes, how long, which
  boot loader) both when the page is rendered and when its script adds events live; the raw
  JSON is folded away, one click from each event;
* item 9: deleting an order, a system or a profile first shows what else goes (the guest and its
  disk, the netboot token, each DHCP lease) and needs a second click; "keep it" keeps it.

Screenshots of each step go to ``tests/artifacts/``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from provisioner.models import Event, Host, Interface, System
from provisioner.net.dhcp import JOURNAL, JournalLeaseStore
from provisioner.proto.dhcp.leases import Lease
from provisioner.web.app import BLUEPRINTS, create_app
from tests.orders_env import KVM_FACTS, Env
from tests.web.ui.browser import all_text, chromium, have_browser, screenshot, serve

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not have_browser(), reason="needs chromium + chromedriver")]

TCG_FACTS = {**KVM_FACTS, "hypervisor": None,
             "cpu": {**KVM_FACTS["cpu"], "flags": ["lm", "nx", "pae"]}}
QEMU = "QEMU (TCG, software emulation)"


def _wait(driver, predicate, timeout: float = 30.0, what: str = "condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def _fill(driver, field: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, field)
    el.clear()
    el.send_keys(value)


def _login(driver, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/ui/login")
    _fill(driver, "username", "root")
    _fill(driver, "password", "root-password")
    driver.find_element(By.ID, "login-button").click()
    _wait(driver, lambda d: "Log out" in d.page_source, what="logged in")


def _order_form_and_hosts(driver, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(base + "/ui/orders/new")
    labels = [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#order-form label")]
    assert "Memory (MiB)" in labels and "Disk (GiB)" in labels, labels
    _fill(driver, "name", "web01")
    _fill(driver, "ram_mb", "1")
    _fill(driver, "disk_gb", "1")
    Select(driver.find_element(By.ID, "host")).select_by_value("host1")
    driver.find_element(By.ID, "review-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "error-ram_mb"), what="the RAM error")
    assert driver.find_element(By.ID, "error-ram_mb").text == (
        "1 MiB of RAM is below the minimum of 512 MiB: most operating systems need at least "
        "that to be responsive")
    assert not driver.find_elements(By.ID, "warning-ram_mb")
    screenshot(driver, "firsthour-ram-error.png")

    driver.get(base + "/ui/hosts")
    cell = driver.find_element(By.CSS_SELECTOR, "#hosts td.hypervisor")
    assert cell.text == QEMU
    assert "KVM" not in driver.find_element(By.ID, "hosts").text
    assert "stale" not in driver.find_element(By.CSS_SELECTOR, "#hosts td.last-seen").text
    screenshot(driver, "firsthour-hosts-tcg.png")

    driver.get(base + "/ui/orders/new")
    _fill(driver, "name", "web01")
    _fill(driver, "ram_mb", "1024")
    _fill(driver, "disk_gb", "1")
    Select(driver.find_element(By.ID, "host")).select_by_value("host1")
    driver.find_element(By.ID, "review-button").click()
    _wait(driver, lambda d: "Ready to begin installation" in d.page_source, what="review")
    assert driver.find_element(By.ID, "review-hypervisor").text == \
        f"{QEMU}, full virtualization"
    assert "runs under QEMU software emulation" in driver.find_element(
        By.ID, "review-warnings").text
    driver.find_element(By.ID, "finish-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "order-state"), what="the order page")


def _doctor_report(driver, base: str, env: Env) -> None:
    """Issue 14: the host's last `provisioner-agent doctor` report on the hosts page."""
    from selenium.webdriver.common.by import By

    finding = {"id": "H4", "severity": "warning", "title": "libvirtd is not running",
               "seed": "D1 §9.6; 20.1", "cause": "virsh and the agent reach guests through it",
               "fix": "chkconfig libvirtd on; service libvirtd start",
               "plan": "provisioner-agent plan service --start libvirtd",
               "evidence": ["libvirt is installed; no libvirtd process"]}
    note = {**finding, "id": "E11", "severity": "info", "title": "microcode errors",
            "plan": None}
    env.core.agents.doctor("host1", {"status": "findings", "findings": [finding, note]})
    order_page = driver.current_url
    driver.get(base + "/ui/hosts")
    link = driver.find_element(By.CSS_SELECTOR, "#hosts td.doctor a")
    assert link.text == "1 finding(s)"                  # the info note is not counted
    link.click()
    section = driver.find_element(By.ID, "doctor-host1")
    assert "provisioner-agent plan service --start libvirtd" not in section.text  # closed
    section.find_elements(By.TAG_NAME, "summary")[0].click()
    _wait(driver, lambda d: "plan service --start libvirtd" in section.text, what="the plan")
    screenshot(driver, "firsthour-hosts-doctor.png")
    driver.get(order_page)                              # where the timeline steps go on
    _wait(driver, lambda d: d.find_elements(By.ID, "order-state"), what="the order page")


def _timeline(driver, env: Env) -> None:
    from selenium.webdriver.common.by import By

    sub = "system:web01"
    now = time.time()
    for kind, detail in (
            ("dhcp-ack", {"mac": "52:54:00:00:00:01", "ip": "10.79.0.100",
                          "bootfile": "pxelinux.0", "next_server": "10.79.0.1"}),
            ("tftp", {"path": "pxelinux.0", "client": "10.79.0.100", "outcome": "ok",
                      "bytes": 42_000, "seconds": 0.05, "blksize": 1468, "retransmits": 0}),
            ("http-asset", {"path": "/assets/lab/kernel", "client": "10.79.0.100",
                            "status": 200, "length": 8_500_000, "bytes": 8_500_000,
                            "seconds": 1.7})):
        env.store.add_event(Event(sub, kind, detail, now))
    texts = ["DHCP gave 10.79.0.100, boot loader pxelinux.0 from 10.79.0.1",
             "TFTP sent pxelinux.0: 41.0 KiB in 0.1 s (820.3 KiB/s), blksize 1468",
             "HTTP sent kernel /assets/lab/kernel: 8.1 MiB in 1.7 s (4.8 MiB/s)"]

    def shown(d) -> list[str]:
        return all_text(d, "#events .event-text")

    _wait(driver, lambda d: all(t in shown(d) for t in texts), what="live human timeline")
    assert "{" not in " ".join(shown(driver))
    driver.refresh()  # the server renders the same sentences (and the script has nothing new)
    _wait(driver, lambda d: all(t in shown(d) for t in texts), what="rendered human timeline")
    assert "{" not in " ".join(shown(driver))
    raw = driver.find_elements(By.CSS_SELECTOR, "#events details.raw")
    assert raw and not any(d.find_element(By.TAG_NAME, "code").is_displayed() for d in raw)
    last = driver.find_element(By.XPATH, "//tr[.//span[@class='event-text' and "
                                         "starts-with(., 'HTTP sent kernel')]]//details")
    last.find_element(By.TAG_NAME, "summary").click()
    code = last.find_element(By.TAG_NAME, "code")
    assert code.is_displayed() and '"bytes": 8500000' in code.text, code.text
    screenshot(driver, "firsthour-timeline.png")


def _deletions(driver, base: str, env: Env, data_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    # the order: Delete shows what goes; "No, keep it" keeps it
    page = driver.current_url
    driver.find_element(By.ID, "delete-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "confirm-effects"), what="confirmation")
    effects = driver.find_element(By.ID, "confirm-effects").text
    assert "system web01 and its netboot token" in effects, effects
    screenshot(driver, "firsthour-confirm-order.png")
    driver.find_element(By.ID, "keep-button").click()
    _wait(driver, lambda d: d.current_url == page, what="back on the order")
    assert len(env.store.list_orders()) == 1
    driver.find_element(By.ID, "delete-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "confirm-button"), what="confirmation")
    driver.find_element(By.ID, "confirm-button").click()
    _wait(driver, lambda d: "Order deleted" in d.page_source, what="the deletion")
    assert env.store.list_orders() == []

    # a system with a reserved address and a live DHCP lease
    env.store.put_system(System(name="pxe1", profile="web", token="tok-pxe1", interfaces=(
        Interface(mac="52:54:00:aa:bb:01", ip="10.0.0.41"),)))
    journal = JournalLeaseStore(data_dir / JOURNAL)
    journal.append([Lease(ip=0x0A000029, mac="52:54:00:aa:bb:01", expires=time.time() + 3600,
                          state="bound")])
    journal.close()
    driver.get(base + "/ui/systems")
    driver.find_element(By.ID, "remove-pxe1").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "confirm-effects"), what="confirmation")
    effects = driver.find_element(By.ID, "confirm-effects").text
    assert "its netboot token: its kickstart and install-callback URLs stop working" in effects
    assert re.search(r"its DHCP lease 10\.0\.0\.41 \(52:54:00:aa:bb:01\) stays with the DHCP "
                     r"server until it expires in (59 min|1 h 00 min)", effects), effects
    assert env.store.get_system("pxe1") is not None  # nothing deleted yet
    screenshot(driver, "firsthour-confirm-system.png")
    driver.find_element(By.ID, "confirm-button").click()
    _wait(driver, lambda d: "System pxe1 removed." in d.page_source, what="the removal")
    assert env.store.get_system("pxe1") is None

    driver.get(base + "/ui/profiles")
    driver.find_element(By.ID, "remove-old3").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "confirm-effects"), what="confirmation")
    assert "no system or profile uses it" in driver.find_element(By.ID, "confirm-effects").text
    driver.find_element(By.ID, "confirm-button").click()
    _wait(driver, lambda d: "Profile old3 removed." in d.page_source, what="the removal")


def test_the_rough_edges_a_new_admin_met(env: Env, tmp_path: Path) -> None:
    env.clock.now = time.time() + 30  # the lease written below expires an hour after now
    env.store.put_host(Host(name="host1", facts=TCG_FACTS, last_seen=env.clock(),
                            capacity={"domain_types": ["qemu"]}))
    blueprints = list(BLUEPRINTS) + ([] if "provisioner.web.ui" in BLUEPRINTS
                                     else ["provisioner.web.ui"])
    app = create_app(env.core, blueprints)
    with serve(app) as base, chromium() as driver:
        _login(driver, base)
        _order_form_and_hosts(driver, base)
        _doctor_report(driver, base, env)
        _timeline(driver, env)
        _deletions(driver, base, env, Path(env.core.settings.data_dir))
