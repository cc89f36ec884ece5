"""Acceptance: order a VM in headless Chromium and watch it reach "installed", for real.

``provisioner lab up --guests 0 --mode agent`` gives a namespace with the appliance (DHCP, TFTP,
DNS, HTTP) and a local agent (embedded libvirt, QEMU under TCG). In the browser an admin logs in
with the password ``lab up`` printed, sees the agent's host (what it runs, not stale) and adds a
user; the user logs in, fills the order form, reviews it and approves it (*Finish*), and the
order page follows the guest live while the scheduler places it, the host's agent picks it up
(defines and starts it), its firmware PXE-boots from the appliance, its installer fetches the
kickstart and calls back: the timeline reaches ``installed``, each event as a sentence. One TCG
guest boot in all. Screenshots of every step are kept in ``tests/artifacts/walk-*.png``. Then
the guest's name resolves through the appliance's DNS, deleting the order (after its
confirmation step) makes the agent destroy the guest and its disk, and ``lab down`` leaves
nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab.test_lab import CACHE, _alive, _netns, lab
from tests.netns import have_root_netns
from tests.web.ui.browser import all_text, chromium, have_browser, screenshot

pytestmark = [pytest.mark.netns, pytest.mark.qemu, pytest.mark.browser,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns"),
              pytest.mark.skipif(not have_browser(), reason="needs chromium + chromedriver")]

INSTALL_TIMEOUT = 420


def _wait(driver, predicate, timeout: float, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def _fill(driver, field_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, field_id)
    el.clear()
    el.send_keys(value)


def _qemu_in(netns: str) -> list[int]:
    """PIDs of QEMU processes in the lab namespace (the guests the agent's libvirt started)."""
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         timeout=30).stdout.split()
    found = []
    for pid in out:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("qemu-system") and _alive(int(pid)):
            found.append(int(pid))
    return found


def _login(driver, base: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "ui/login")
    _fill(driver, "username", user)
    _fill(driver, "password", password)
    driver.find_element(By.ID, "login-button").click()
    _wait(driver, lambda d: "orders" in d.page_source.lower() and "Log out" in d.page_source,
          30, f"{user} to be logged in")


def test_order_a_vm_in_the_browser_and_see_it_installed(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    data = tmp_path / "data"
    res = lab(data, "up", "--guests", "0", "--mode", "agent", "--cache", CACHE)
    state_file = data / "lab" / "lab.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        base = f"http://127.0.0.1:{state['ui_port']}/"
        with chromium() as driver:
            # the admin logs in with the printed password and sees the lab's host
            assert f"password {state['admin_password']}" in res.stdout
            driver.get(base + "ui/login")
            screenshot(driver, "walk-1-login.png")
            _login(driver, base, "admin", state["admin_password"])
            driver.get(base + "ui/hosts")
            row = driver.find_element(By.ID, "hosts").text
            assert "lab-host" in row and "stale" not in row, row
            assert driver.find_element(By.CSS_SELECTOR, "#hosts td.hypervisor").text in (
                "KVM", "QEMU (TCG, software emulation)")
            screenshot(driver, "walk-2-hosts.png")
            # the admin makes a user account
            driver.get(base + "ui/users")
            form = driver.find_element(By.ID, "user-form")
            form.find_element(By.NAME, "name").send_keys("alice")
            form.find_element(By.NAME, "password").send_keys("alice-password")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            _wait(driver, lambda d: "User added." in d.page_source, 30, "the new user")
            driver.find_element(By.CSS_SELECTOR, "form.logout button").click()

            # the user orders a VM through the form, reviews it and finishes
            _login(driver, base, "alice", "alice-password")
            driver.get(base + "ui/orders/new")
            _fill(driver, "name", "web1")
            Select(driver.find_element(By.ID, "profile")).select_by_value("lab-guest")
            _fill(driver, "vcpus", "1")
            _fill(driver, "ram_mb", "512")
            _fill(driver, "disk_gb", "1")
            _fill(driver, "network", "br0")
            Select(driver.find_element(By.ID, "host")).select_by_value("lab-host")
            screenshot(driver, "walk-3-order-form.png")
            driver.find_element(By.ID, "review-button").click()
            _wait(driver, lambda d: "Ready to begin installation" in d.page_source, 30,
                  "the review step")
            assert driver.find_element(By.ID, "review-host").text == "lab-host"
            screenshot(driver, "walk-4-review.png")
            started = time.monotonic()
            driver.find_element(By.ID, "finish-button").click()  # approve the order
            _wait(driver, lambda d: d.find_elements(By.ID, "order-state"), 30, "the order page")
            assert driver.find_element(By.ID, "order-name").text == "web1"
            screenshot(driver, "walk-5-ordered.png")

            # the page follows the real guest until it is installed
            seen: list[str] = []

            def installed(d) -> bool:
                st = d.find_element(By.ID, "order-state").get_attribute("data-state")
                if not seen or seen[-1] != st:
                    seen.append(st)
                    if st in ("defined", "dhcp", "kickstart"):  # picked up, booting, installing
                        screenshot(d, f"walk-6-{st}.png")
                assert st not in ("failed", "cancelled"), (
                    st, d.find_element(By.ID, "order-detail").text)
                return st == "installed"

            _wait(driver, installed, INSTALL_TIMEOUT, "the guest to be installed")
            elapsed = time.monotonic() - started
            address = driver.find_element(By.ID, "order-address").text
            assert address.startswith(state["subnet"] + ".")
            assert driver.find_element(By.ID, "order-fqdn").text == "web1.lab.example"
            assert driver.find_element(By.ID, "order-host").text == "lab-host"
            done = [li.get_attribute("data-stage")
                    for li in driver.find_elements(By.CSS_SELECTOR, "#steps li.done")]
            assert done[:8] == ["queued", "placed", "defined", "dhcp", "tftp", "kickstart",
                                "installing", "installed"]
            # then the agent starts the installed guest from its disk
            _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, 'li[data-stage="booted"]')
                  .get_attribute("class") == "step done", 120, "the guest booted from its disk")
            kinds = all_text(driver, "#events tbody td:nth-child(3)")
            for kind in ("placed", "guest.defined", "guest.started", "dhcp-ack", "boot-config",
                         "kickstart", "callback:started", "callback:done"):
                assert kind in kinds, kinds
            # the host picked it up after it was placed; the timeline reads as sentences
            assert seen.index("installed") > 0 and seen[0] in ("queued", "placed", "defined")
            sentences = " | ".join(all_text(driver, "#events .event-text"))
            for sentence in ("placed on lab-host", "guest started on lab-host", "DHCP gave ",
                             "kickstart rhel9-guest.ks fetched", "installer finished"):
                assert sentence in sentences, sentences
            assert "{" not in sentences
            shot = screenshot(driver, "walk-7-installed.png")
            assert shot.stat().st_size > 10_000
            print(f"installed in {elapsed:.1f} s; states seen {seen}")

            # reachable by name: the appliance's DNS answers for the guest
            dig = subprocess.run(["ip", "netns", "exec", state["netns"], "dig", "+short",
                                  "+time=2", "+tries=3", f"@{state['subnet']}.1",
                                  "web1.lab.example", "A"],
                                 capture_output=True, text=True, timeout=30)
            assert dig.stdout.split() == [address], dig.stdout + dig.stderr

            # delete: the agent destroys the guest and removes its disk
            assert (data / "lab" / "images" / "web1.qcow2").exists()
            driver.find_element(By.ID, "delete-button").click()
            _wait(driver, lambda d: d.find_elements(By.ID, "confirm-button"), 30,
                  "the confirmation step")
            assert "the guest web1 and its disk on lab-host" in driver.find_element(
                By.ID, "confirm-effects").text
            driver.find_element(By.ID, "confirm-button").click()
            _wait(driver, lambda d: "Order deleted" in d.page_source, 30, "the deletion")
            assert "web1" not in driver.find_element(By.ID, "orders").text \
                if driver.find_elements(By.ID, "orders") else True
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
                _qemu_in(state["netns"]) or (data / "lab" / "images" / "web1.qcow2").exists()):
            time.sleep(0.5)
        assert not _qemu_in(state["netns"])
        assert not (data / "lab" / "images" / "web1.qcow2").exists()
    finally:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            assert lab(data, "down", timeout=120).returncode == 0
    assert state.get("netns") not in _netns()
    assert [r for r, pid in state.get("pids", {}).items() if _alive(pid)] == []
    assert not (data / "lab").exists()
