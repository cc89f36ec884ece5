"""Declarative XML model: one line per XML fact, serialised in a fixed order.

Modelled on virtinst's ``XMLBuilder``/``XMLProperty`` (virt-manager ``virtinst/xmlbuilder.py``) but
much smaller and built on :mod:`xml.etree.ElementTree`:

* A builder class names its root tag in ``XML_NAME`` and declares ``XMLProperty("./model/@type")``
  or ``XMLChild(Device)`` attributes. Declaration order is the output order, so two builders with
  the same values always serialise to the same bytes. Nothing formats XML by hand.
* Values live in the object; ``get_xml()`` builds a fresh tree from them. ``parse()`` reads a
  document back into the same properties (unknown elements are ignored).
* Every property given a value is recorded in :data:`TOUCHED`, so a test can prove that each
  declared property was exercised (virt-manager's ``test_checkprops.py``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, ClassVar, Self

#: (class name, property name) pairs that were given a value (set or parsed) in this process.
TOUCHED: set[tuple[str, str]] = set()

ET.register_namespace("libosinfo", "http://libosinfo.org/xmlns/libvirt/domain/1.0")


class XMLError(ValueError):
    """A property got a value it cannot hold, or a document does not match the model."""


def _split(xpath: str) -> tuple[list[str], str | None]:
    """``./a/b/@c`` -> (["a", "b"], "c"); ``./a`` -> (["a"], None); ``@c`` -> ([], "c")."""
    parts = [p for p in xpath.split("/") if p not in (".", "")]
    attr = parts.pop()[1:] if parts and parts[-1].startswith("@") else None
    return parts, attr


class XMLProperty:
    """One XML fact: an attribute (``./x/@y``), element text (``./x``) or element presence.

    ``is_int``/``is_yesno``/``is_onoff`` convert values; ``is_bool`` maps ``True`` to an empty
    element (``<acpi/>``, ``<readonly/>``) and ``False``/``None`` to its absence.
    """

    def __init__(self, xpath: str, *, is_int: bool = False, is_yesno: bool = False,
                 is_onoff: bool = False, is_bool: bool = False) -> None:
        self.xpath = xpath
        self.path, self.attr = _split(xpath)
        self.is_int, self.is_yesno = is_int, is_yesno
        self.is_onoff, self.is_bool = is_onoff, is_bool
        if is_bool and self.attr:
            raise XMLError(f"{xpath}: is_bool needs an element path, not an attribute")
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: XMLBuilder | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name)

    def __set__(self, obj: XMLBuilder, value: Any) -> None:
        if value is not None:
            TOUCHED.add((type(obj).__name__, self.name))
            if self.is_int:
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise XMLError(f"{self.name}: expected an integer, got {value!r}") from None
            elif self.is_bool or self.is_yesno or self.is_onoff:
                if not isinstance(value, bool):
                    raise XMLError(f"{self.name}: expected True/False, got {value!r}")
            else:
                value = str(value)
        obj._values[self.name] = value

    def to_text(self, value: Any) -> str:
        if self.is_yesno:
            return "yes" if value else "no"
        if self.is_onoff:
            return "on" if value else "off"
        return str(value)

    def from_text(self, text: str) -> Any:
        if self.is_yesno:
            return text == "yes"
        if self.is_onoff:
            return text == "on"
        if self.is_int:
            return int(text)
        return text


class XMLChild:
    """A nested builder (``is_single``) or a list of them, placed under ``relpath``."""

    def __init__(self, cls: type[XMLBuilder], *, is_single: bool = False,
                 relpath: str = ".") -> None:
        self.cls, self.is_single = cls, is_single
        self.path, _ = _split(relpath)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: XMLBuilder | None, owner: type) -> Any:
        if obj is None:
            return self
        if self.name not in obj._values:
            obj._values[self.name] = self.cls() if self.is_single else []
        return obj._values[self.name]

    def __set__(self, obj: XMLBuilder, value: Any) -> None:
        if self.is_single:
            if value is not None and not isinstance(value, self.cls):
                raise XMLError(f"{self.name}: expected {self.cls.__name__}, got {value!r}")
        else:
            value = list(value)
        obj._values[self.name] = value


class XMLBuilder:
    """Base of every model object: ``XML_NAME`` plus declared properties and children."""

    XML_NAME: ClassVar[str] = ""
    _fields: ClassVar[list[XMLProperty | XMLChild]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        fields: list[XMLProperty | XMLChild] = []
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, XMLProperty | XMLChild) and value not in fields:
                    fields.append(value)
        cls._fields = fields

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = {}
        for key, value in values.items():
            if not isinstance(getattr(type(self), key, None), XMLProperty):
                raise XMLError(f"{type(self).__name__} has no XML property {key!r}")
            setattr(self, key, value)

    @classmethod
    def properties(cls) -> Iterator[XMLProperty]:
        return (f for f in cls._fields if isinstance(f, XMLProperty))

    # -- building -----------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not any(v not in (None, []) and (not isinstance(v, XMLBuilder) or not v.is_empty())
                       for v in self._values.values())

    def build(self) -> ET.Element:
        """A fresh element tree from the current values, in declaration order."""
        root = ET.Element(self.XML_NAME)
        for f in self._fields:
            value = self._values.get(f.name)
            if isinstance(f, XMLChild):
                children = [value] if f.is_single else (value or [])
                for child in children:
                    if child is not None and not child.is_empty():
                        _ensure(root, f.path).append(child.build())
                continue
            if value is None or (f.is_bool and value is False):
                continue
            node = _ensure(root, f.path)
            if f.attr:
                node.set(f.attr, f.to_text(value))
            elif not f.is_bool:
                node.text = f.to_text(value)
        return root

    def get_xml(self) -> str:
        """Indented XML text, ending with a newline."""
        tree = self.build()
        ET.indent(tree, "  ")
        # ElementTree writes "<a />"; libvirt and virt-install write "<a/>". Safe to rewrite:
        # ">" is always escaped inside attribute values and text.
        return ET.tostring(tree, encoding="unicode").replace(" />", "/>") + "\n"

    def clone(self) -> XMLBuilder:
        """A deep copy of the values (builders and lists), shallow for other attributes."""
        new = object.__new__(type(self))
        new.__dict__.update({k: list(v) if isinstance(v, list) else v
                             for k, v in self.__dict__.items() if k != "_values"})
        new._values = {k: _clone(v) for k, v in self._values.items()}
        return new

    # -- parsing ------------------------------------------------------------------------------
    @classmethod
    def parse(cls, xml: str | ET.Element) -> Self:
        """Read a document into a new builder; properties the document lacks stay ``None``."""
        root = ET.fromstring(xml) if isinstance(xml, str) else xml
        if root.tag != cls.XML_NAME:
            raise XMLError(f"expected <{cls.XML_NAME}>, got <{root.tag}>")
        obj = cls()
        for f in cls._fields:
            if isinstance(f, XMLChild):
                parent = _find(root, f.path)
                found = [] if parent is None else parent.findall(f.cls.XML_NAME)
                if f.is_single:
                    if found:
                        obj._values[f.name] = f.cls.parse(found[0])
                else:
                    obj._values[f.name] = [f.cls.parse(e) for e in found]
                continue
            node = _find(root, f.path)
            if node is None:
                continue
            TOUCHED.add((cls.__name__, f.name))
            if f.is_bool:
                obj._values[f.name] = True
            elif f.attr:
                if f.attr in node.attrib:
                    obj._values[f.name] = f.from_text(node.attrib[f.attr])
            elif node.text is not None:
                obj._values[f.name] = f.from_text(node.text.strip())
        return obj


def _clone(value: Any) -> Any:
    if isinstance(value, XMLBuilder):
        return value.clone()
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _find(root: ET.Element, path: list[str]) -> ET.Element | None:
    node: ET.Element | None = root
    for tag in path:
        node = node.find(tag) if node is not None else None
    return node


def _ensure(root: ET.Element, path: list[str]) -> ET.Element:
    node = root
    for tag in path:
        child = node.find(tag)
        if child is None:
            child = ET.SubElement(node, tag)
        node = child
    return node
