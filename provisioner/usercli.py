"""``provisioner user add|list|passwd|role|remove``: web UI accounts from the command line.

The first admin of a new appliance is made here (the UI has no self sign-up). A password is
read from ``--password-file`` (first line) or, when it is not given, generated and printed
once; ``--password-out FILE`` writes it to a new 0600 file instead of printing it.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from provisioner.core.users import ROLES
from provisioner.main import build_core


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    if args.password_file:
        return Path(args.password_file).read_text().splitlines()[0], False
    return secrets.token_urlsafe(12), True


def _tell(args: argparse.Namespace, name: str, password: str) -> None:
    if args.password_out:
        fd = os.open(args.password_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        print(f"password of {name} written to {args.password_out}")
    else:
        print(f"password of {name}: {password}")


def cmd_user(args: argparse.Namespace) -> int:
    core = build_core(args.settings)
    users = core.users
    try:
        if args.user_action == "list":
            for u in users.list():
                print(f"{u.name}\t{u.role}")
        elif args.user_action == "add":
            password, generated = _password(args)
            if args.if_missing and users.find(args.name) is not None:
                print(f"user {args.name} exists")
                return 0
            users.create(args.name, password, args.role)
            print(f"added user {args.name} ({args.role})")
            if generated:
                _tell(args, args.name, password)
        elif args.user_action == "passwd":
            password, generated = _password(args)
            users.set_password(args.name, password)
            print(f"password of {args.name} changed")
            if generated:
                _tell(args, args.name, password)
        elif args.user_action == "role":
            users.set_role(args.name, args.role)
            print(f"{args.name} is now {args.role}")
        else:
            users.delete(args.name)
            print(f"removed user {args.name}")
    finally:
        core.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="web UI users (hashed passwords, roles admin/user)")
    acts = p.add_subparsers(dest="user_action", required=True)
    acts.add_parser("list", help="names and roles")
    for action, helptext in (("add", "create a user"), ("passwd", "set a new password")):
        a = acts.add_parser(action, help=helptext)
        a.add_argument("name")
        a.add_argument("--password-file", help="read the password from this file")
        a.add_argument("--password-out", help="write a generated password to this new file")
        if action == "add":
            a.add_argument("--role", choices=ROLES, default="user")
            a.add_argument("--if-missing", action="store_true",
                           help="succeed without change when the user exists")
    r = acts.add_parser("role", help="change a user's role")
    r.add_argument("name")
    r.add_argument("role", choices=ROLES)
    acts.add_parser("remove", help="delete a user").add_argument("name")
    p.set_defaults(func=cmd_user)
