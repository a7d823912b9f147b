"""Gallery curation in the admin portal: items, packages, versions and their life cycle, VM
sizes, the plans that offer them, and the preview of the tenant's deploy form."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gallery.models import GalleryItem, GalleryItemVersion, VMSize
from portal.models import AuditEvent
from tests.factories import PlanFactory
from tests.gallery.helpers import SAMPLES, definition, make_version, package, param, resource


@pytest.fixture
def sizes(vm_size) -> dict[str, VMSize]:
    more = [("medium", 2, 4, 40), ("large", 4, 8, 80), ("xlarge", 8, 16, 160)]
    made = {name: VMSize.objects.create(name=name, vcpus=c, ram_gib=r, disk_gib=d) for name, c, r, d in more}
    return {"small": vm_size, **made}


@pytest.fixture
def item(gallery_draft) -> GalleryItem:
    return gallery_draft.item


def item_url(item) -> str:
    return reverse("adminportal:gallery_item_detail", args=[item.pk])


def version_url(name: str, version) -> str:
    return reverse(f"adminportal:gallery_version_{name}", args=[version.item_id, version.pk])


def flashes(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def last_flash(response) -> str:
    """The message this response added (earlier ones stay queued until a page shows them)."""
    return flashes(response)[-1]


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# --- the list ------------------------------------------------------------------------------------


def test_the_list_shows_items_with_version_counts_and_plans(client_admin, gallery_draft, plan):
    item = gallery_draft.item
    item.plans.add(plan)
    make_version(item, "1.1.0", state="published")
    make_version(item, "0.9.0", state="deprecated")
    response = client_admin.get(reverse("adminportal:gallery"))
    row = response.context["page_obj"][0]
    assert (row.version_count, row.published_count, row.draft_count) == (3, 1, 1)
    html = response.content.decode()
    assert "Tiny server" in html and "Standard" in html
    assert reverse("adminportal:gallery_import") in html
    assert reverse("adminportal:gallery_item_create") in html
    assert reverse("adminportal:vm_sizes") in html


def test_the_list_searches_and_filters_by_category_and_os_family(client_admin, item):
    GalleryItem.objects.create(
        name="IIS web server", slug="iis", publisher="M", category="web", os_family="windows"
    )
    url = reverse("adminportal:gallery")

    def names(**params) -> list[str]:
        return [i.name for i in client_admin.get(url, params).context["page_obj"]]

    assert names() == ["IIS web server", "Tiny server"]
    assert names(q="tiny") == ["Tiny server"]
    assert names(q="iis") == ["IIS web server"]  # the slug counts too
    assert names(category="web") == ["IIS web server"]
    assert names(os="linux") == ["Tiny server"]
    assert names(category="web", os="linux") == []
    assert "No item matches these filters" in client_admin.get(url, {"q": "nothing"}).content.decode()


def test_an_empty_gallery_offers_an_import(client_admin, db):
    html = client_admin.get(reverse("adminportal:gallery")).content.decode()
    assert "The gallery is empty" in html
    assert reverse("adminportal:gallery_import") in html


def test_the_list_sorts_by_published_versions(client_admin, item):
    other = GalleryItem.objects.create(name="Another", slug="another", publisher="T")
    make_version(other, "1.0.0", state="published")
    page = client_admin.get(reverse("adminportal:gallery"), {"sort": "-published"}).context["page_obj"]
    assert [i.slug for i in page] == ["another", "tiny"]


def test_the_lists_run_a_constant_number_of_queries(client_admin, vm_size):
    def seed(start: int, stop: int) -> None:
        for n in range(start, stop):
            plan = PlanFactory()
            gallery_item = GalleryItem.objects.create(name=f"Item {n}", slug=f"item-{n}", publisher="T")
            gallery_item.plans.add(plan)
            make_version(gallery_item, "1.0.0", state="published")
            make_version(gallery_item, "1.1.0", state="draft")
            VMSize.objects.create(name=f"size-{n}", vcpus=1, ram_gib=1, disk_gib=1).plans.add(plan)

    urls = [reverse("adminportal:gallery"), reverse("adminportal:vm_sizes")]
    seed(0, 3)
    few = [query_count(client_admin, url) for url in urls]
    seed(3, 30)
    many = [query_count(client_admin, url) for url in urls]
    assert many == few
    assert len(client_admin.get(urls[0]).context["page_obj"]) == 25


# --- items ---------------------------------------------------------------------------------------


def item_data(**overrides) -> dict:
    data = {
        "name": "Web server",
        "slug": "web-server",
        "publisher": "Cloudstamp",
        "description": "nginx on Debian.",
        "category": "web",
        "os_family": "linux",
        "icon": "globe",
    }
    return {**data, **overrides}


def test_it_creates_an_item_and_audits_it(client_admin, admin):
    response = client_admin.post(reverse("adminportal:gallery_item_create"), item_data())
    item = GalleryItem.objects.get(slug="web-server")
    assert response.status_code == 302
    assert response["Location"] == item_url(item)
    assert AuditEvent.objects.filter(
        action="gallery.item_create", actor=admin, target_id=str(item.pk)
    ).exists()


def test_a_taken_slug_is_refused_beside_it_keeping_the_input(client_admin, item):
    response = client_admin.post(
        reverse("adminportal:gallery_item_create"), item_data(slug="tiny", icon="Bad Icon")
    )
    form = response.context["form"]
    assert response.status_code == 200
    assert set(form.errors) >= {"slug", "icon"}
    assert 'value="Web server"' in response.content.decode()


def test_it_edits_an_items_metadata(client_admin, item):
    url = reverse("adminportal:gallery_item_edit", args=[item.pk])
    assert 'value="Tiny server"' in client_admin.get(url).content.decode()
    response = client_admin.post(url, item_data(name="Tiny server 2", slug="tiny"))
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.name, item.category) == ("Tiny server 2", "web")


def test_the_item_page_shows_versions_with_their_actions(client_admin, gallery_draft, plan):
    item = gallery_draft.item
    published = make_version(item, "1.1.0", state="published")
    deprecated = make_version(item, "0.9.0", state="deprecated")
    html = client_admin.get(item_url(item)).content.decode()
    assert "Draft" in html and "Published" in html and "Deprecated" in html
    assert version_url("publish", gallery_draft) in html
    assert version_url("edit", gallery_draft) in html
    assert version_url("delete", gallery_draft) in html
    assert version_url("unpublish", published) in html
    assert version_url("deprecate", published) in html
    assert version_url("edit", published) not in html  # published versions never change
    assert version_url("publish", deprecated) in html  # "Publish again"
    for version in (gallery_draft, published, deprecated):
        assert version_url("preview", version) in html
    assert reverse("adminportal:gallery_item_export", args=[item.pk]) in html
    # The confirmation names what will be lost.
    assert "Tenants stop seeing Tiny server 1.1.0" in html


# --- packages ------------------------------------------------------------------------------------


def test_importing_a_sample_file_creates_the_item_and_says_what_was_created(client_admin, admin, sizes):
    upload = SimpleUploadedFile(
        "linux-server.json", (SAMPLES / "linux-server.json").read_bytes(), content_type="application/json"
    )
    response = client_admin.post(reverse("adminportal:gallery_import"), {"file": upload})
    item = GalleryItem.objects.get(slug="linux-server")
    assert response.status_code == 302
    assert response["Location"] == item_url(item)
    assert flashes(response) == ["Imported the package: created Linux server; added versions 1.0.0, 1.1.0."]
    assert sorted(item.versions.values_list("state", flat=True)) == ["deprecated", "published"]
    assert AuditEvent.objects.filter(action="gallery.import", actor=admin).count() == 1


def test_importing_pasted_json_twice_changes_nothing_the_second_time(client_admin, sizes):
    text = json.dumps(package())
    client_admin.post(reverse("adminportal:gallery_import"), {"text": text})
    response = client_admin.post(reverse("adminportal:gallery_import"), {"text": text})
    assert flashes(response)[-1] == "Tiny server is already up to date: the package changed nothing."
    assert GalleryItemVersion.objects.count() == 1


def test_importing_a_new_version_says_what_changed(client_admin, sizes):
    client_admin.post(reverse("adminportal:gallery_import"), {"text": json.dumps(package())})
    doc = package()
    doc["item"]["description"] = "Now smaller."
    doc["versions"].append({**doc["versions"][0], "version": "1.1.0"})
    response = client_admin.post(reverse("adminportal:gallery_import"), {"text": json.dumps(doc)})
    assert flashes(response)[-1] == (
        "Imported the package: updated Tiny server's description; added version 1.1.0; "
        "kept 1.0.0 (already here, unchanged)."
    )


def test_a_bad_package_lists_every_problem_with_its_path_and_stores_nothing(client_admin, sizes):
    doc = package()
    doc["item"]["slug"] = "Not A Slug"
    doc["versions"][0]["resource"]["sizes"] = ["small", "huge"]
    doc["versions"][0]["parameters"]["sections"][0]["parameters"][0]["regex"] = "("
    response = client_admin.post(reverse("adminportal:gallery_import"), {"text": json.dumps(doc)})
    assert response.status_code == 200
    paths = [p.path for p in response.context["problems"]]
    assert "$.item.slug" in paths
    assert "$.versions[0].resource.sizes[1]" in paths
    assert "$.versions[0].parameters.sections[0].parameters[0].regex" in paths
    html = response.content.decode()
    assert '<code class="problem-path">$.versions[0].resource.sizes[1]</code>' in html
    assert "no VM size named &#x27;huge&#x27; exists here" in html
    assert "Nothing was imported" in html
    assert "&quot;Not A Slug&quot;" in html  # the pasted JSON is still there to fix
    assert not GalleryItem.objects.exists()
    assert not AuditEvent.objects.filter(action="gallery.import").exists()


def test_malformed_json_names_the_line_and_column(client_admin, db):
    upload = SimpleUploadedFile(
        "broken.json", b'{\n  "format": "cloudstamp.gallery-package",\n  "item": {,\n}'
    )
    response = client_admin.post(reverse("adminportal:gallery_import"), {"file": upload})
    problems = [str(p) for p in response.context["problems"]]
    assert problems == ["$: line 3, column 12: Expecting property name enclosed in double quotes"]
    assert "line 3, column 12" in response.content.decode()


def test_the_import_needs_a_file_or_text_but_not_both(client_admin, db):
    url = reverse("adminportal:gallery_import")
    assert "Choose a package file or paste its JSON." in client_admin.post(url, {}).content.decode()
    upload = SimpleUploadedFile("p.json", b"{}")
    html = client_admin.post(url, {"file": upload, "text": "{}"}).content.decode()
    assert "Upload a file or paste JSON, not both." in html


def test_export_downloads_the_package_as_an_attachment(client_admin, admin, gallery_draft):
    url = reverse("adminportal:gallery_item_export", args=[gallery_draft.item_id])
    assert client_admin.get(url).status_code == 405
    response = client_admin.post(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="tiny.package.json"'
    document = json.loads(response.content)
    assert document["item"]["slug"] == "tiny"
    assert [v["version"] for v in document["versions"]] == ["1.0.0"]
    assert AuditEvent.objects.filter(action="gallery.export", actor=admin).exists()


# --- versions ------------------------------------------------------------------------------------


def test_publishing_a_draft_offers_it_to_tenants(client_admin, gallery_draft):
    response = client_admin.post(version_url("publish", gallery_draft))
    assert response.status_code == 302
    assert response["Location"] == item_url(gallery_draft.item) + "#versions"
    gallery_draft.refresh_from_db()
    assert gallery_draft.state == "published"
    assert "Tiny server 1.0.0 is published" in flashes(response)[0]


def test_unpublish_and_deprecate_move_a_published_version(client_admin, item, sizes):
    version = make_version(item, "2.0.0", state="published")
    client_admin.post(version_url("deprecate", version))
    version.refresh_from_db()
    assert version.state == "deprecated"
    client_admin.post(version_url("publish", version))
    client_admin.post(version_url("unpublish", version))
    version.refresh_from_db()
    assert version.state == "draft"


@pytest.mark.parametrize("action", ["unpublish", "deprecate"])
def test_a_transition_from_the_wrong_state_is_an_error_message_not_a_failure(
    client_admin, gallery_draft, action
):
    response = client_admin.post(version_url(action, gallery_draft), follow=True)
    assert response.status_code == 200
    assert flashes(response) == [f"Cannot {action} a version that is draft."]
    assert f"Cannot {action} a version that is draft." in response.content.decode()
    gallery_draft.refresh_from_db()
    assert gallery_draft.state == "draft"


def test_a_draft_failing_the_publishing_checks_lists_each_problem_with_its_path(client_admin, item):
    draft = make_version(item, "2.0.0", state="draft", resource_definition=resource(sizes=["small", "huge"]))
    response = client_admin.post(version_url("publish", draft))
    assert response.status_code == 200
    assert response.context["publish_problems"] == [
        ("Resource definition", "$.sizes[1]", "no VM size named 'huge' exists here; create it first")
    ]
    html = response.content.decode()
    assert "Version 2.0.0 was not published" in html
    assert '<code class="problem-path">$.sizes[1]</code>' in html
    draft.refresh_from_db()
    assert draft.state == "draft"


def version_data(**overrides) -> dict:
    doc = package()["versions"][0]
    data = {
        "version": "1.1.0",
        "resource_definition": json.dumps(resource(sizes=["small"])),
        "parameter_definition": json.dumps(doc["parameters"]),
        "resource_extension": json.dumps(doc["extension"]),
        "default_language": "en",
        "notes": "Smaller.",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_a_new_version_is_prefilled_from_the_newest_with_the_next_build(client_admin, gallery_draft):
    response = client_admin.get(reverse("adminportal:gallery_version_create", args=[gallery_draft.item_id]))
    form = response.context["form"]
    assert form.initial["version"] == "1.0.1"
    assert form.initial["resource_definition"] == gallery_draft.resource_definition
    assert "&quot;default_size&quot;: &quot;small&quot;" in response.content.decode()
    # Copying an older version offers the next free build of its series.
    make_version(gallery_draft.item, "1.0.1", state="draft")
    url = reverse("adminportal:gallery_version_create", args=[gallery_draft.item_id])
    assert client_admin.get(url, {"from": gallery_draft.pk}).context["form"].initial["version"] == "1.0.2"


def test_the_first_version_of_an_item_is_prefilled_with_a_publishable_skeleton(client_admin, admin, vm_size):
    item = GalleryItem.objects.create(name="Empty", slug="empty", publisher="T")
    url = reverse("adminportal:gallery_version_create", args=[item.pk])
    form = client_admin.get(url).context["form"]
    data = {
        key: json.dumps(value) if isinstance(value, dict) else value for key, value in form.initial.items()
    }
    client_admin.post(url, data)
    version = item.versions.get()
    client_admin.post(version_url("publish", version))
    version.refresh_from_db()
    assert version.state == "published"


def test_creating_a_version_makes_a_draft(client_admin, admin, item):
    url = reverse("adminportal:gallery_version_create", args=[item.pk])
    response = client_admin.post(url, version_data())
    assert response.status_code == 302
    version = item.versions.get(minor=1)
    assert (version.state, version.notes, version.created_by) == ("draft", "Smaller.", admin)


def test_json_syntax_errors_show_beside_their_field_with_the_typed_text(client_admin, item):
    url = reverse("adminportal:gallery_version_create", args=[item.pk])
    response = client_admin.post(
        url, version_data(parameter_definition='{"sections": [}', resource_extension="[]")
    )
    form = response.context["form"]
    assert form.errors["parameter_definition"] == ["Line 1, column 15: Expecting value."]
    assert form.errors["resource_extension"] == ["Enter a JSON object: { … }."]
    html = response.content.decode()
    assert "{&quot;sections&quot;: [}" in html
    assert "is-invalid" in form.fields["parameter_definition"].widget.attrs["class"]


def test_the_services_document_errors_show_inline_per_field_with_paths(client_admin, item):
    url = reverse("adminportal:gallery_version_create", args=[item.pk])
    data = version_data(
        version="1.2",
        resource_definition=json.dumps({"image": "x", "sizes": "small"}),
        parameter_definition=json.dumps({"sections": 3}),
    )
    # The version number is checked by the form, so the documents' errors come in the same round.
    errors = client_admin.post(url, data).context["form"].errors
    assert errors["version"] == ["Use major.minor.build, e.g. 1.0.0."]
    response = client_admin.post(url, {**data, "version": "1.2.0"})
    errors = response.context["form"].errors
    assert "$.sizes: must be a list, not a string" in errors["resource_definition"]
    assert "$.default_size: is required" in errors["resource_definition"]
    assert errors["parameter_definition"] == ["$.sections: must be a list, not a whole number"]
    html = response.content.decode()
    assert 'id="id_resource_definition_errors"' in html
    assert "<li>$.sections: must be a list, not a whole number</li>" in html
    assert item.versions.count() == 1


def test_a_duplicate_version_number_is_refused_beside_the_number(client_admin, item):
    url = reverse("adminportal:gallery_version_create", args=[item.pk])
    response = client_admin.post(url, version_data(version="1.0.0"))
    assert response.context["form"].errors["version"] == ["Tiny server already has a version 1.0.0."]


def test_a_draft_is_edited_and_deleted(client_admin, gallery_draft):
    url = version_url("edit", gallery_draft)
    form = client_admin.get(url).context["form"]
    assert "version" not in form.fields  # the number is fixed once made
    response = client_admin.post(url, version_data(notes="Edited.", version=None))
    assert response.status_code == 302
    gallery_draft.refresh_from_db()
    assert gallery_draft.notes == "Edited."
    response = client_admin.post(version_url("delete", gallery_draft))
    assert last_flash(response) == "Deleted draft 1.0.0 of Tiny server."
    assert not GalleryItemVersion.objects.exists()


def test_published_versions_can_be_neither_edited_nor_deleted(client_admin, item):
    version = make_version(item, "2.0.0", state="published")
    response = client_admin.get(version_url("edit", version))
    assert response.status_code == 302
    assert "is published and cannot change" in flashes(response)[0]
    response = client_admin.post(version_url("delete", version))
    assert last_flash(response) == "Version 2.0.0 is published; only drafts can be deleted."
    assert GalleryItemVersion.objects.filter(pk=version.pk).exists()


def test_a_draft_published_while_its_form_was_open_is_not_changed(client_admin, admin, gallery_draft):
    from gallery.services import gallery_version_publish

    url = version_url("edit", gallery_draft)
    client_admin.get(url)
    gallery_version_publish(version=gallery_draft, actor=admin)
    response = client_admin.post(url, version_data(notes="Too late.", version=None))
    assert response.status_code == 302
    assert "cannot change" in last_flash(response)
    gallery_draft.refresh_from_db()
    assert gallery_draft.notes == ""


# --- plans ---------------------------------------------------------------------------------------


def test_an_item_is_attached_to_and_detached_from_a_plan(client_admin, item, plan):
    other = PlanFactory(name="Premium")
    attach = reverse("adminportal:gallery_item_plan_attach", args=[item.pk])
    response = client_admin.post(attach, {"plan": plan.pk})
    assert flashes(response) == ["Standard now offers Tiny server."]
    assert list(item.plans.all()) == [plan]
    # Only the plans that do not offer the item yet are offered.
    choices = client_admin.get(item_url(item)).context["attach_form"].fields["plan"].queryset
    assert list(choices) == [other]
    assert last_flash(client_admin.post(attach, {"plan": plan.pk})) == (
        "Choose a plan that does not offer this item yet."
    )
    detach = reverse("adminportal:gallery_item_plan_detach", args=[item.pk, plan.pk])
    response = client_admin.post(detach)
    assert "Standard no longer offers Tiny server" in last_flash(response)
    assert not item.plans.exists()
    assert AuditEvent.objects.filter(action__in=["gallery.item_attach", "gallery.item_detach"]).count() == 2


# --- sizes ---------------------------------------------------------------------------------------


def size_data(**overrides) -> dict:
    return {"name": "huge", "vcpus": "16", "ram_gib": "64", "disk_gib": "200", "state": "active", **overrides}


def test_sizes_are_listed_created_and_edited(client_admin, admin, vm_size):
    html = client_admin.get(reverse("adminportal:vm_sizes")).content.decode()
    assert "small" in html and "1 GiB" not in html
    response = client_admin.post(reverse("adminportal:vm_size_create"), size_data())
    size = VMSize.objects.get(name="huge")
    assert response["Location"] == reverse("adminportal:vm_size_edit", args=[size.pk])
    response = client_admin.post(
        reverse("adminportal:vm_size_edit", args=[size.pk]), size_data(ram_gib="128")
    )
    assert response["Location"] == reverse("adminportal:vm_sizes")
    size.refresh_from_db()
    assert size.ram_gib == 128
    assert AuditEvent.objects.filter(action="gallery.size_update", target_id=str(size.pk)).exists()


def test_a_bad_size_is_refused_beside_its_fields(client_admin, vm_size):
    response = client_admin.post(reverse("adminportal:vm_size_create"), size_data(name="Huge!", vcpus="0"))
    assert set(response.context["form"].errors) == {"name", "vcpus"}
    response = client_admin.post(reverse("adminportal:vm_size_create"), size_data(name="small"))
    assert "name" in response.context["form"].errors


def test_a_size_that_versions_use_cannot_be_renamed(client_admin, gallery_draft, vm_size):
    url = reverse("adminportal:vm_size_edit", args=[vm_size.pk])
    response = client_admin.post(url, size_data(name="tiny", vcpus="1", ram_gib="2", disk_gib="20"))
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["Versions use the size small; it cannot be renamed."]
    vm_size.refresh_from_db()
    assert vm_size.name == "small"
    assert "Edit size small" in response.content.decode()


def test_a_size_is_attached_to_and_detached_from_a_plan(client_admin, vm_size, plan):
    client_admin.post(reverse("adminportal:vm_size_plan_attach", args=[vm_size.pk]), {"plan": plan.pk})
    assert list(vm_size.plans.all()) == [plan]
    html = client_admin.get(reverse("adminportal:vm_size_edit", args=[vm_size.pk])).content.decode()
    assert reverse("adminportal:vm_size_plan_detach", args=[vm_size.pk, plan.pk]) in html
    client_admin.post(reverse("adminportal:vm_size_plan_detach", args=[vm_size.pk, plan.pk]))
    assert not vm_size.plans.exists()


# --- preview -------------------------------------------------------------------------------------


def preview_definition() -> dict:
    return definition(
        param("admin_user", default="admin", required=True, regex="[a-z]+"),
        param("size", "vm_size", required=True),
        param("tls", "boolean"),
        param("cert", multiline=True, required=True, visible_if={"param": "tls", "equals": True}),
    )


@pytest.fixture
def previewable(item, sizes):
    return make_version(
        item,
        "3.0.0",
        state="draft",
        resource_definition=resource(sizes=["small", "medium"]),
        parameter_definition=preview_definition(),
    )


def test_the_preview_renders_the_tenants_form_with_a_banner_and_no_deploy_button(client_admin, previewable):
    response = client_admin.get(version_url("preview", previewable))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="preview-banner"' in html and "Preview — Tiny server 3.0.0" in html
    assert 'name="p_admin_user"' in html and 'value="admin"' in html
    assert 'name="instance_count"' in html
    assert 'name="p_cert"' not in html  # hidden until tls is checked
    # No plan offers the item: every size the version lists, and a note saying so.
    assert "small (1 vCPU" in html and "medium (2 vCPU" in html and "large (4 vCPU" not in html
    assert "No plan offers Tiny server yet" in html
    assert "Deploy</button>" not in html and "rocket" not in html
    assert f'hx-post="{version_url("preview_fields", previewable)}"' in html


def test_the_preview_offers_a_plans_sizes_per_stand_in_subscription(client_admin, previewable, sizes):
    gold, silver = PlanFactory(name="Gold"), PlanFactory(name="Silver")
    previewable.item.plans.add(gold, silver)
    sizes["small"].plans.add(gold, silver)
    sizes["medium"].plans.add(gold)
    html = client_admin.get(version_url("preview", previewable)).content.decode()
    assert "A tenant&#x27;s subscription (Gold)" in html and "(Silver)" in html
    assert "medium (2 vCPU" in html
    fields = client_admin.post(version_url("preview_fields", previewable), {"subscription": silver.pk})
    html = fields.content.decode()
    assert "small (1 vCPU" in html and "medium (2 vCPU" not in html
    assert f'value="{silver.pk}" selected' in html


def test_the_preview_fields_endpoint_shows_dependent_fields(client_admin, previewable):
    url = version_url("preview_fields", previewable)
    assert client_admin.get(url).status_code == 405
    shown = client_admin.post(
        url, {"p_admin_user": "ops", "p_tls": "on", "instance_count": "1"}
    ).content.decode()
    assert 'name="p_cert"' in shown and 'value="ops"' in shown
    assert "<html" not in shown
    hidden = client_admin.post(url, {"p_admin_user": "ops"}).content.decode()
    assert 'name="p_cert"' not in hidden


def test_checking_preview_values_reports_what_a_tenant_would_be_told(client_admin, previewable):
    url = version_url("preview", previewable)
    response = client_admin.post(url, {"p_admin_user": "Not Valid", "p_tls": "on", "instance_count": "7"})
    errors = response.context["form"].errors
    assert set(errors) == {"admin_user", "size", "cert", "instance_count"}
    assert 'value="Not Valid"' in response.content.decode()
    response = client_admin.post(url, {"p_admin_user": "ops", "p_size": "small", "instance_count": "1"})
    assert response.context["form"].valid is True
    assert "These values pass every check" in response.content.decode()


def test_a_draft_whose_definition_does_not_compile_previews_its_problems(client_admin, item):
    broken = make_version(
        item,
        "4.0.0",
        state="draft",
        parameter_definition=definition(param("a", visible_if={"param": "ghost", "equals": "x"})),
    )
    response = client_admin.get(version_url("preview", broken))
    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot generate a form yet" in html
    assert "$.sections[0].parameters[0].visible_if.param" in html
    fields = client_admin.post(version_url("preview_fields", broken), {})
    assert "cannot generate a form yet" in fields.content.decode()


# --- access --------------------------------------------------------------------------------------


def test_tenant_users_and_visitors_are_refused(client, alice, gallery_draft):
    urls = [
        reverse("adminportal:gallery"),
        reverse("adminportal:gallery_import"),
        item_url(gallery_draft.item),
        version_url("preview", gallery_draft),
        reverse("adminportal:vm_sizes"),
    ]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(alice)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(version_url("publish", gallery_draft)).status_code == 403
    gallery_draft.refresh_from_db()
    assert gallery_draft.state == "draft"


def test_a_version_of_another_item_is_a_404(client_admin, gallery_draft):
    other = GalleryItem.objects.create(name="Other", slug="other", publisher="T")
    url = reverse("adminportal:gallery_version_preview", args=[other.pk, gallery_draft.pk])
    assert client_admin.get(url).status_code == 404
    url = reverse("adminportal:gallery_version_publish", args=[other.pk, gallery_draft.pk])
    assert client_admin.post(url).status_code == 404


def test_the_item_page_lists_changes_to_the_item_and_its_versions(client_admin, gallery_draft, sizes):
    item = gallery_draft.item
    other = make_version(item, "2.0.0", state="draft")
    client_admin.post(version_url("publish", gallery_draft))
    client_admin.post(version_url("delete", other))
    client_admin.post(reverse("adminportal:gallery_item_edit", args=[item.pk]), item_data(slug="tiny"))
    unrelated = GalleryItem.objects.create(name="Unrelated", slug="unrelated", publisher="T")
    make_version(unrelated, "1.0.0", state="draft")
    client_admin.post(version_url("publish", unrelated.versions.get()))
    events = client_admin.get(item_url(item)).context["events"]
    assert [e.action for e in events] == [
        "gallery.item_update",
        "gallery.version_delete",
        "gallery.version_publish",
    ]
