"""Which Debian mirror debootstrap uses: read from the machine's apt configuration (both file forms)."""

from __future__ import annotations

from shipyard.containers.base_image import DebianSource, debian_source, tarball_path

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
"""


def test_deb822_sources_give_the_first_main_suite_that_is_not_security_or_updates(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert debian_source(tmp_path) == DebianSource("http://mirror.example/debian", "bookworm")


def test_one_line_sources_list_is_read_when_no_deb822_file_names_one(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# a comment\ndeb http://security.example/debian-security trixie-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian trixie main non-free\n")
    assert debian_source(tmp_path) == DebianSource("http://mirror.example/debian", "trixie")


def test_no_configured_source_is_none(tmp_path):
    assert debian_source(tmp_path) is None


def test_the_cached_tarball_is_named_after_the_image(tmp_path):
    assert tarball_path("shipyard/test-base:1", tmp_path) == tmp_path / "shipyard-test-base-1.rootfs.tar"
