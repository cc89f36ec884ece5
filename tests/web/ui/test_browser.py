"""Headless Chromium against the UI served by waitress: log in, order, review, finish, watch.

The guest's progress here is written into the store by the test (the events DHCP, TFTP, the
kickstart handler and the install callback record), to prove the page follows it live through
its script; ``tests/lab/test_e2e_browser.py`` does the same with a real agent and guest.
"""

from __future__ import annotations

import time

import pytest

from provisioner.models import Event
from provisioner.web.app import BLUEPRINTS, create_app
from tests.orders_env import Env
from tests.web.ui.browser import chromium, have_browser, screenshot, serve

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not have_browser(), reason="needs chromium + chromedriver")]


def _wait(driver, predicate, timeout: float = 30.0, what: str = "condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}")


def test_order_a_vm_in_the_browser(env: Env) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    env.clock.now = time.time()  # the page shows times relative to the wall clock
    blueprints = list(BLUEPRINTS) + ([] if "provisioner.web.ui" in BLUEPRINTS
                                     else ["provisioner.web.ui"])
    app = create_app(env.core, blueprints)
    with serve(app) as base, chromium() as driver:
        driver.get(base + "/")
        _wait(driver, lambda d: "Log in" in d.title, what="the log-in page")
        driver.find_element(By.ID, "username").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys("alice-password")
        driver.find_element(By.ID, "login-button").click()
        _wait(driver, lambda d: "My orders" in d.page_source, what="the order list")

        driver.find_element(By.ID, "order-new").click()
        _wait(driver, lambda d: d.find_elements(By.ID, "order-form"), what="the order form")
        # first a mistake: the form says exactly what is wrong, next to the field
        driver.find_element(By.ID, "name").send_keys("web 01")
        driver.find_element(By.ID, "ram_mb").send_keys("20000")
        driver.find_element(By.ID, "review-button").click()
        _wait(driver, lambda d: d.find_elements(By.ID, "error-name"), what="field errors")
        assert "is not a valid name" in driver.find_element(By.ID, "error-name").text
        assert "at most 14336 MiB" in driver.find_element(By.ID, "error-ram_mb").text
        screenshot(driver, "ui-order-form-errors.png")

        name = driver.find_element(By.ID, "name")
        name.clear()
        name.send_keys("web01")
        ram = driver.find_element(By.ID, "ram_mb")
        ram.clear()
        ram.send_keys("2048")
        vcpus = driver.find_element(By.ID, "vcpus")
        vcpus.clear()
        vcpus.send_keys("2")
        Select(driver.find_element(By.ID, "profile")).select_by_value("web")
        Select(driver.find_element(By.ID, "host")).select_by_value("any")
        driver.find_element(By.ID, "review-button").click()
        _wait(driver, lambda d: "Ready to begin installation" in d.page_source, what="review")
        assert driver.find_element(By.ID, "review-name").text == "web01"
        assert driver.find_element(By.ID, "review-host").text.startswith("host1")
        screenshot(driver, "ui-order-review.png")
        driver.find_element(By.ID, "finish-button").click()

        _wait(driver, lambda d: d.find_elements(By.ID, "order-state"), what="the order page")
        assert driver.find_element(By.ID, "order-name").text == "web01"
        assert driver.find_element(By.ID, "order-state").get_attribute("data-state") == "placed"
        assert driver.find_element(By.ID, "order-fqdn").text == "web01.lab.example"

        # the guest's life, as the appliance's services record it; the page follows live
        [order] = env.store.list_orders()
        sub = "system:web01"
        for kind, detail in (("dhcp-ack", {"ip": "10.79.0.100"}), ("boot-config", {}),
                             ("kickstart", {"client": "10.79.0.100"})):
            env.store.add_event(Event(sub, kind, detail, time.time()))
        _wait(driver, lambda d: d.find_element(By.ID, "order-state").get_attribute(
            "data-state") == "kickstart", what="live update to kickstart")
        assert driver.find_element(By.ID, "order-address").text == "10.79.0.100"
        env.clock.now = time.time()
        env.core.callback(env.store.get_system("web01").token, "started")
        env.core.callback(env.store.get_system("web01").token, "done")
        _wait(driver, lambda d: d.find_element(By.ID, "order-state").text == "Installed",
              what="live update to installed")
        done = driver.find_elements(By.CSS_SELECTOR, "#steps li.done")
        assert len(done) == 8  # all but "booted from its disk" (no agent here)
        shot = screenshot(driver, "ui-order-page.png")
        assert shot.stat().st_size > 10_000
        assert order.owner == "alice"
