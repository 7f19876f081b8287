"""The download page: one obvious button for the build's board, the other files explained."""

from __future__ import annotations

import hashlib
import html

import pytest
from django.test import Client

from builds.models import BootTestState, Build
from builds.services import build_release
from hardware_profiles.models import HardwareProfile
from tests.factories import BlueprintFactory, BuildFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

FILES = {
    "disk-raw": "kiosk.img",
    "disk-xz": "kiosk.img.xz",
    "disk-zst": "kiosk.img.zst",
    "disk-qcow2": "kiosk.qcow2",
    "bmap": "kiosk.bmap",
    "system-img": "system.img",
    "sha256sums": "SHA256SUMS",
    "manifest": "manifest.json",
    "sbom": "kiosk-pc-x86_64.spdx.json",
}


def _released(slug: str, kinds: tuple[str, ...]) -> Build:
    profile = HardwareProfile.objects.get(slug=slug)
    blueprint = BlueprintFactory(name="kiosk", targets=[profile])
    files = [(kind, FILES[kind], f"{kind} bytes".encode()) for kind in kinds]
    build = BuildFactory(
        revision=blueprint.latest_revision, profile=profile, state="succeeded", files=files
    )
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    assert build_release(build=build, released=True)
    return build


def _page(client: Client, build: Build) -> str:
    return html.unescape(client.get(f"/builds/{build.pk}/").content.decode())


def _main_button(page: str) -> str:
    start = page.index('data-testid="main-download"')
    return page[page.rindex("<a ", 0, start) : page.index("</a>", start)]


@pytest.mark.parametrize(
    ("slug", "kinds", "main", "words"),
    [
        (
            "rpi-arm64",
            ("disk-raw", "disk-xz", "system-img", "sha256sums"),
            "disk-raw",
            "Download for Raspberry Pi 3 / 4 / 400 / CM4 (arm64) — write it to the SD card "
            "with Raspberry Pi Imager",
        ),
        (
            "pc-x86_64",
            ("disk-raw", "disk-zst", "bmap", "system-img", "sha256sums"),
            "disk-raw",
            "Download for PC x86_64 (UEFI) — write it to a USB stick or disk with balenaEtcher, "
            "Rufus or dd",
        ),
        (
            "kvm-x86_64",
            ("disk-raw", "disk-qcow2", "system-img", "sha256sums"),
            "disk-qcow2",
            "Download for KVM / QEMU guest x86_64 — use it as the virtual machine's disk",
        ),
    ],
    ids=["raspberry-pi", "pc", "kvm"],
)
def test_the_page_leads_with_one_button_for_the_board_and_explains_the_other_files(
    technician: Client, slug: str, kinds: tuple[str, ...], main: str, words: str
) -> None:
    build = _released(slug, kinds)
    page = _page(technician, build)
    button = _main_button(page)
    assert words in button
    assert f'href="/builds/{build.pk}/download/{main}/"' in button
    others = page[page.index("<summary>Other files</summary>") :]
    for kind in kinds:
        link = f'href="/builds/{build.pk}/download/{kind}/"'
        assert (link in others) is (kind != main), kind
    assert "Update file: replace system.img on the boot partition" in others
    assert "for sha256sum -c" in others
    assert page.count('data-testid="main-download"') == 1


def test_checksums_are_shortened_with_a_copy_button_for_the_whole_value(
    technician: Client,
) -> None:
    build = _released("rpi-arm64", ("disk-raw", "disk-xz"))
    page = _page(technician, build)
    for kind in ("disk-raw", "disk-xz"):
        digest = hashlib.sha256(f"{kind} bytes".encode()).hexdigest()
        assert f"{digest[:12]}…{digest[-6:]}" in page
        assert f'data-copy="{digest}"' in page
        assert page.count(digest) == 2  # the title and the copy button; never as text
    assert "/static/js/copy" in page


def test_a_qcow2_only_in_other_files_and_the_raw_disk_leads_for_an_arm64_uefi_board(
    technician: Client,
) -> None:
    """Generic ARM64 boards have USB and a display: the qcow2 is for the VMs among them."""
    build = _released("arm64-uefi", ("disk-raw", "disk-qcow2"))
    page = _page(technician, build)
    assert f"/builds/{build.pk}/download/disk-raw/" in _main_button(page)
    assert "The disk of a QEMU/KVM virtual machine" in page


def test_the_personalised_download_is_offered_beside_the_vm_disk(technician: Client) -> None:
    build = _released("kvm-x86_64", ("disk-raw", "disk-qcow2"))
    assert f"/builds/{build.pk}/personalise/" in _page(technician, build)


def test_the_sbom_is_listed_with_what_it_is_and_downloads_as_its_file(technician: Client) -> None:
    build = _released("pc-x86_64", ("disk-raw", "manifest", "sbom"))
    page = _page(technician, build)
    others = page[page.index("<summary>Other files</summary>") :]
    link = f'<a href="/builds/{build.pk}/download/sbom/" download>'
    assert f"{link}Software bill of materials (SPDX JSON)</a>" in others
    assert "every Debian package in the image with its version, source package and licence" in (
        others
    )
    # After the manifest, as PURPOSES orders them.
    assert others.index("/download/manifest/") < others.index("/download/sbom/")
    response = technician.get(f"/builds/{build.pk}/download/sbom/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"sbom bytes"
    assert "kiosk-pc-x86_64.spdx.json" in response["Content-Disposition"]
