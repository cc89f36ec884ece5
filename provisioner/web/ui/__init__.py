"""The web UI: ordering VMs and the admin pages, server-rendered, usable without JavaScript.

Every page is a plain HTML form round-trip; ``static/ui.js`` only refreshes the order page's
timeline from ``/ui/orders/<id>.json``, ``static/system.js`` the system page's power state and
reinstall progress from ``/ui/systems/<name>.json``. Rules:

* log-in with a user name and an scrypt-hashed password (``core/users.py``); roles ``admin`` and
  ``user``. Users see and cancel their own orders; admins see everything and manage the
  inventory, hosts, users and API tokens.
* every POST carries the session's CSRF token (hidden ``csrf_token`` field); a POST without it,
  or with a wrong one, is refused with 400 before any handler runs.
* the order form is validated by ``core/ordering.py`` field by field; the review step ("Ready to
  begin installation", as virt-manager's wizard) shows the values, the chosen host and the
  warnings, with Back and Finish buttons.

Handlers parse the form, make one use-case call, and render; they hold no business rules.
``base.py`` is the wiring (blueprint, session, CSRF, log-in, errors), ``orders.py`` and
``admin.py`` the pages, ``remote.py`` agentless hosts and migration, ``systems.py`` the system
page (power, reinstall, timeline); importing the package
registers every route on :data:`bp`.
"""

from __future__ import annotations

from provisioner.web.ui import admin, orders, remote, systems
from provisioner.web.ui.base import bp

__all__ = ["admin", "bp", "orders", "remote", "systems"]
