"""In a real browser: a service admin curates the gallery. A bad package is refused with every
problem's JSON path; a sample package imports; a copied version is published after a
confirmation-free click and another is deprecated through its confirmation; the preview draws
the tenant's deploy form, with htmx revealing dependent fields, under a "Preview" banner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gallery.models import GalleryItem, GalleryItemVersion, VMSize
from gallery.services import STANDARD_SIZES
from tests.gallery.helpers import SAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def standard_sizes(plan) -> None:
    """The sizes the samples run on; the plan offers the two smallest."""
    for spec in STANDARD_SIZES:
        size = VMSize.objects.create(**spec)
        if spec["name"] in ("small", "medium"):
            size.plans.add(plan)


def bad_package() -> str:
    """The web server sample with three mistakes an author might make."""
    doc = json.loads((SAMPLES / "web-server.json").read_text())
    doc["item"]["slug"] = "Web Server"
    version = doc["versions"][0]
    version["resource"]["sizes"].append("gigantic")
    version["parameters"]["sections"][0]["parameters"][0]["type"] = "text"
    return json.dumps(doc, indent=2)


def test_an_admin_imports_publishes_and_previews_a_gallery_item(
    page, log_in, screenshot, problems, admin, plan, standard_sizes
):
    log_in(admin)
    page.goto("/manage/gallery/")
    assert page.locator(".navbar .nav-link.active", has_text="Gallery").count() == 1
    screenshot("01_empty_gallery")

    # A bad package: every problem with its path, nothing stored, the pasted JSON kept.
    page.click("a:has-text('Import package')")
    page.wait_for_url("**/manage/gallery/import/")
    page.fill("#id_text", bad_package())
    page.click("button:has-text('Import')")
    problem_list = page.locator("#import-problems")
    problem_list.wait_for()
    paths = page.locator("#import-problems .problem-path").all_inner_texts()
    assert "$.item.slug" in paths
    assert "$.versions[0].resource.sizes[3]" in paths
    assert any(p.startswith("$.versions[0].parameters.sections[0].parameters[0]") for p in paths)
    assert "Nothing was imported" in problem_list.inner_text()
    assert "gigantic" in page.input_value("#id_text")
    assert not GalleryItem.objects.exists()
    screenshot("02_bad_package_problems")

    # The real sample, uploaded as a file.
    page.fill("#id_text", "")
    page.set_input_files("#id_file", str(SAMPLES / "web-server.json"))
    page.click("button:has-text('Import')")
    page.wait_for_url(re.compile(r"/manage/gallery/[0-9a-f-]{36}/$"))
    item = GalleryItem.objects.get(slug="web-server")
    assert "Imported the package: created Web server; added version 1.0.0." in page.inner_text(".messages")
    screenshot("03_imported_item")

    # Export downloads the package as a file named after the item.
    problems.allow(
        r"request failed: POST .*/export/ \(net::ERR_ABORTED\)",
        "Chromium reports a form post answered with an attachment as an aborted navigation",
    )
    with page.expect_download() as download_info:
        page.click("button:has-text('Export package')")
    download = download_info.value
    assert download.suggested_filename == "web-server.package.json"
    assert json.loads(Path(download.path()).read_text(encoding="utf-8"))["item"]["slug"] == "web-server"

    # Offer it on a plan.
    page.select_option("#id_attach_plan", label=plan.name)
    page.click("#plans button:has-text('Attach')")
    page.wait_for_url(re.compile(r"#plans$"))
    assert "Standard now offers Web server." in page.inner_text(".messages")

    # Copy 1.0.0 to a new draft, then publish it.
    page.click("#versions a:has-text('Copy')")
    page.wait_for_url("**/versions/new/?from=*")
    assert page.input_value("#id_version") == "1.0.1"
    # A wrong resource definition: the service's problems beside the field, with their paths.
    original = page.input_value("#id_resource_definition")
    page.fill("#id_resource_definition", '{"image": "debian-12", "sizes": "small", "colour": "red"}')
    page.click("button:has-text('Create draft')")
    errors = page.locator("#id_resource_definition_errors li").all_inner_texts()
    assert "$.sizes: must be a list, not a string" in errors
    assert "$.colour: unknown key" in errors
    assert page.evaluate("() => document.activeElement.id") == "id_resource_definition"
    screenshot("04a_version_form_errors")
    page.fill("#id_resource_definition", original)
    page.fill("#id_notes", "Same, rebuilt.")
    page.click("button:has-text('Create draft')")
    page.wait_for_url(re.compile(r"#versions$"))
    row = page.locator("#versions tbody tr", has_text="1.0.1")
    assert "Draft" in row.inner_text()
    screenshot("04_new_draft")
    row.locator("button:has-text('Publish')").click()
    page.wait_for_url(re.compile(r"#versions$"))
    assert "Web server 1.0.1 is published" in page.inner_text(".messages")
    assert "Published" in page.locator("#versions tbody tr", has_text="1.0.1").inner_text()
    assert item.versions.get(build=1).state == GalleryItemVersion.State.PUBLISHED

    # Deprecate the old one through its confirmation, which names what changes.
    old = page.locator("#versions tbody tr", has_text="1.0.0")
    old.locator("button[data-bs-toggle=modal]:has-text('Deprecate')").click()
    dialog = page.locator(".modal.show")
    dialog.wait_for()
    # Bootstrap fades the dialog in: wait until it is fully there before the screenshot.
    page.wait_for_function("() => getComputedStyle(document.querySelector('.modal.show')).opacity === '1'")
    assert "New deployments can no longer use Web server 1.0.0" in dialog.inner_text()
    screenshot("05_deprecate_confirmation")
    dialog.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"#versions$"))
    assert "Deprecated" in page.locator("#versions tbody tr", has_text="1.0.0").inner_text()
    screenshot("06_versions_after")

    # The preview: the tenant's form, a banner, no deploy button, live dependent fields.
    page.locator("#versions tbody tr", has_text="1.0.1").locator("a:has-text('Preview')").click()
    page.wait_for_url("**/preview/")
    assert "Preview — Web server 1.0.1" in page.inner_text("#preview-banner")
    assert page.locator("button:has-text('Deploy')").count() == 0
    assert page.locator("#id_subscription option").first.inner_text() == "A tenant's subscription (Standard)"
    assert page.locator("[name=p_certificate]").count() == 0
    # The plan's sizes that the version lists, as a tenant on that plan gets them.
    assert page.locator("#id_p_size option").all_inner_texts() == [
        "small (1 vCPU, 2 GiB RAM, 20 GiB disk)",
        "medium (2 vCPU, 4 GiB RAM, 40 GiB disk)",
    ]
    screenshot("07_preview")
    page.check("[name=p_tls]")
    page.locator("[name=p_certificate]").wait_for()
    assert page.locator("[name=p_redirect_http]").count() == 1
    screenshot("08_preview_tls_fields")
    page.click("button:has-text('Check these values')")
    page.locator("#review").wait_for()
    flagged = page.locator("#review-problems li").evaluate_all("items => items.map(i => i.dataset.field)")
    assert {"server_name", "certificate", "private_key", "ssh_key"} <= set(flagged)
    screenshot("09_preview_checked")
    # After a check, fixing a field and changing a controlling one keeps the rest flagged.
    page.uncheck("[name=p_tls]")
    page.locator("[name=p_certificate]").wait_for(state="detached")
    assert page.locator("#id_p_server_name.is-invalid").count() == 1
    screenshot("10_preview_after_change")

    # The sizes, one tab away from the items.
    page.goto("/manage/gallery/")
    page.click(".nav-tabs a:has-text('VM sizes')")
    page.wait_for_url("**/manage/sizes/")
    assert page.locator("tbody tr").count() == 4
    screenshot("11_sizes")
    page.click("tbody a:has-text('medium')")
    page.wait_for_url("**/manage/sizes/*/edit/")
    assert page.locator("#plans a", has_text="Standard").count() == 1
    screenshot("12_size_form")

    page.goto(f"/manage/gallery/{item.pk}/edit/")
    assert page.input_value("#id_slug") == "web-server"
    screenshot("13_item_form")
