"""Every XML property and every option sub-key is exercised by the matrices (virtinst's
checkprops).

Self-contained: it builds the seed's golden matrix, the per-option matrix and the rule table
itself, so it does not depend on test order. A property nobody sets is dead model code or a
missing golden case; a sub-option key nobody parses is an untested option.
"""

from __future__ import annotations

import shlex

from agent.guest import domain, options, xmlmodel
from agent.guest.build import build
from agent.guest.devices import (
    Channel,
    Console,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    Input,
    Interface,
    Listen,
    Memballoon,
    Redirdev,
    Rng,
    Serial,
    Sound,
    Tpm,
    Video,
    Watchdog,
)
from agent.guest.errors import GuestError
from agent.guest.ids import sequential
from tests.agent.guest.cases import CASES, OPTION_CASES, documents, host_of, option_documents
from tests.agent.guest.test_rules import INVALID

BUILDERS = [domain.Guest, domain.OS, domain.Boot, domain.FirmwareFeature, domain.Features,
            domain.Hyperv, domain.Cpu, domain.CpuFeature, domain.Clock, domain.Timer, domain.PM,
            domain.Metadata, domain.Libosinfo, domain.OsinfoOS, Disk, Interface, Console,
            Serial, Channel, Graphics, Listen, Video, Input, Controller, Filesystem, Tpm,
            Watchdog, Memballoon, Rng, Sound, Redirdev]

#: Declared for parsing documents made elsewhere, never set by virt-install options.
PARSE_ONLY = {("Listen", "address"), ("Guest", "on_poweroff"), ("Guest", "on_crash")}


def test_every_property_and_option_key_is_exercised() -> None:
    for name in CASES:
        for doc in documents(name):
            domain.Guest.parse(doc)
    for name in OPTION_CASES:
        for doc in option_documents(name):
            domain.Guest.parse(doc)
    for _, argv, caps, _code in INVALID:
        try:
            build(shlex.split(argv), host_of(caps), sequential())
        except GuestError:
            pass
    declared = {(cls.__name__, p.name) for cls in BUILDERS for p in cls.properties()}
    missing = declared - xmlmodel.TOUCHED - PARSE_ONLY
    assert not missing, f"XML properties never given a value: {sorted(missing)}"
    keys = {(p.name, k) for p in options.PARSERS for k in p.keys}
    unseen = keys - options.KEYS_SEEN
    assert not unseen, f"option sub-keys never parsed: {sorted(unseen)}"


def test_all_builder_classes_are_listed() -> None:
    found = {c for c in _subclasses(xmlmodel.XMLBuilder) if c.__module__.startswith("agent.")}
    assert found == set(BUILDERS)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
