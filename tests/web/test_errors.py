"""The one error hierarchy mapped at the edges: HTTP status per class, hints in JSON and CLI."""

from __future__ import annotations

import pytest

from provisioner.cli import main
from provisioner.core.order_form import Draft, OrderRejected
from provisioner.errors import (
    Conflict,
    Forbidden,
    HostError,
    Invalid,
    NotFound,
    ProvisionerError,
    RenderError,
    StoreError,
    Unauthorized,
)
from provisioner.remote.libvirt_conn import ConnectError
from provisioner.web.app import http_status

REJECTED = Draft(form={}, errors={"name": ["Name is required"]})
STATUS = {
    "not found": (NotFound("no system x"), 404),
    "invalid": (Invalid("bad MAC", field="mac"), 400),
    "an order form with errors is invalid": (OrderRejected(REJECTED), 400),
    "conflict": (Conflict("exists"), 409),
    "hostile path": (Forbidden("outside the root"), 403),
    "no credentials": (Unauthorized("token required"), 401),
    "database down": (StoreError("database error"), 503),
    "a managed host failed": (ConnectError("refused", "hv1", "connection refused"), 502),
    "host error": (HostError("migration failed"), 502),
    "template error": (RenderError("template x line 1"), 500),
    "any other domain error": (ProvisionerError("?"), 500),
}


@pytest.mark.parametrize("exc,status", STATUS.values(), ids=STATUS.keys())
def test_http_status_per_error_class(exc: ProvisionerError, status: int) -> None:
    assert http_status(exc) == status


def test_api_error_carries_the_hint(client) -> None:
    r = client.post("/api/agent/hosts/hv1/token")
    assert r.status_code == 401
    error = r.json["error"]
    assert error["code"] == "unauthorized" and error["message"] == "an API token is required"
    assert "provisioner token create" in error["hint"]


def test_api_error_without_hint_has_no_hint_key(client) -> None:
    r = client.get("/api/v1/systems/ghost")
    assert r.status_code == 404 and "hint" not in r.json["error"]


def test_cli_prints_the_hint_on_its_own_line(capsys) -> None:
    def fail(_args: object) -> int:
        raise NotFound("distro 'd' of profile 'p' not found", hint="add distro 'd'")

    assert main(["token", "create", "x"], run=fail) == 2
    assert capsys.readouterr().err == ("provisioner: error: distro 'd' of profile 'p' not found\n"
                                       "provisioner: hint: add distro 'd'\n")
