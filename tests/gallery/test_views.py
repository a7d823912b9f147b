"""The tenant gallery pages and the deploy wizard up to review."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from gallery.models import GalleryItem
from tests.gallery.helpers import definition, make_version, param

SECRET = "s3cret-Passw0rd!"


def wizard_definition() -> dict:
    return definition(
        sections=[
            {
                "name": "server",
                "label": {"en": "Server", "de": "Server (de)"},
                "parameters": [
                    param("admin_user", default="admin", required=True, regex="[a-z]+"),
                    param("size", "vm_size", required=True),
                    param("password", "secret", required=True, min_length=8),
                ],
            },
            {
                "name": "tls",
                "label": "TLS",
                "parameters": [
                    param("tls", "boolean"),
                    param("cert", multiline=True, required=True, visible_if={"param": "tls", "equals": True}),
                ],
            },
        ]
    )


@pytest.fixture
def deployable(sizes, item, plan, acme_subscription):
    item.description = "A tiny Debian server."
    item.save()
    item.plans.add(plan)
    for size in sizes.values():
        size.plans.add(plan)
    version = make_version(item, "1.0.0", parameter_definition=wizard_definition())
    return version


def deploy_url(version) -> str:
    return reverse("gallery:deploy", args=[version.item_id, version.pk])


def fields_url(version) -> str:
    return reverse("gallery:deploy-fields", args=[version.item_id, version.pk])


def test_the_gallery_lists_items_offered_by_the_tenants_plans(client_alice, deployable):
    response = client_alice.get(reverse("gallery:list"))
    assert response.status_code == 200
    assert "Tiny server" in response.content.decode()


def test_the_gallery_search_and_filters_narrow_the_list(client_alice, deployable):
    assert "Tiny server" not in client_alice.get(reverse("gallery:list"), {"q": "nothing"}).content.decode()
    assert (
        "Tiny server" not in client_alice.get(reverse("gallery:list"), {"category": "web"}).content.decode()
    )
    assert "Tiny server" in client_alice.get(reverse("gallery:list"), {"os": "linux"}).content.decode()


def test_the_gallery_shows_an_empty_state_without_offering_plans(client_alice, acme_subscription):
    html = client_alice.get(reverse("gallery:list")).content.decode()
    assert "Subscribe to a plan that offers gallery items" in html
    assert reverse("subscriptions:plans") in html


def test_the_gallery_uses_a_constant_number_of_queries(client_alice, deployable, plan):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client_alice.get(reverse("gallery:list")).status_code == 200
        return len(ctx.captured_queries)

    for n in range(2):
        extra = GalleryItem.objects.create(name=f"Extra {n}", slug=f"extra-{n}", publisher="T")
        extra.plans.add(plan)
        make_version(extra)
    few = count()
    for n in range(2, 14):
        extra = GalleryItem.objects.create(name=f"Extra {n}", slug=f"extra-{n}", publisher="T")
        extra.plans.add(plan)
        make_version(extra)
    assert count() == few


def test_the_item_page_shows_versions_sizes_and_a_deploy_button(client_alice, deployable):
    html = client_alice.get(reverse("gallery:detail", args=[deployable.item_id])).content.decode()
    assert "A tiny Debian server." in html
    assert "1.0.0" in html
    assert "small, medium" in html
    assert deploy_url(deployable) in html


def test_another_tenants_item_and_wizard_are_404(client_charlie, deployable, globex):
    assert client_charlie.get(reverse("gallery:detail", args=[deployable.item_id])).status_code == 404
    assert client_charlie.get(deploy_url(deployable)).status_code == 404
    assert client_charlie.post(fields_url(deployable), {}).status_code == 404


def test_the_wizard_renders_one_card_per_section_with_allowed_sizes(
    client_alice, deployable, acme_subscription
):
    html = client_alice.get(deploy_url(deployable)).content.decode()
    assert "Server" in html and "TLS" in html
    assert 'name="p_admin_user"' in html
    assert 'type="password"' in html
    assert "small (1 vCPU" in html and "medium (2 vCPU" in html
    assert "large (4 vCPU" not in html  # not listed by the version
    assert 'name="p_cert"' not in html  # hidden until tls is checked
    assert acme_subscription.name in html
    assert f'hx-post="{fields_url(deployable)}"' in html
    assert 'hx-trigger="change"' in html


def test_the_partial_shows_and_hides_a_dependent_field_keeping_values(
    client_alice, deployable, acme_subscription
):
    base = {"subscription": acme_subscription.pk, "instance_count": "2", "p_admin_user": "ops"}
    shown = client_alice.post(fields_url(deployable), {**base, "p_tls": "on"}).content.decode()
    assert 'name="p_cert"' in shown
    assert 'value="ops"' in shown and 'value="2"' in shown
    assert "<html" not in shown
    hidden = client_alice.post(fields_url(deployable), base).content.decode()
    assert 'name="p_cert"' not in hidden


def test_review_flags_every_problem_inline_and_keeps_typed_values(
    client_alice, deployable, acme_subscription
):
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "9",
        "p_admin_user": "Not Valid",
        "p_size": "small",
        "p_password": SECRET,
        "p_tls": "on",
    }
    html = client_alice.post(deploy_url(deployable), data).content.decode()
    assert 'value="Not Valid"' in html  # kept as typed
    assert "Choose between 1 and 3 instances." in html
    assert "This field is required." in html  # cert
    assert html.count("is-invalid") >= 3
    assert "admin_user" in html and "cert" in html and "instance_count" in html
    assert SECRET not in html


def test_review_shows_the_quota_impact_and_redacted_values(client_alice, deployable, acme_subscription):
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "3",
        "p_admin_user": "ops",
        "p_size": "medium",
        "p_password": SECRET,
    }
    response = client_alice.post(deploy_url(deployable), data)
    html = response.content.decode()
    assert response.context["valid"] is True
    rows = {r["dimension"]: r for r in response.context["quota_rows"]}
    assert rows["vcpus"]["needed"] == 6 and rows["vcpus"]["limit"] == 20 and not rows["vcpus"]["exceeds"]
    assert "Quota impact" in html and "********" in html
    assert SECRET not in html
    # Valid: the Deploy button is live, and says the secret must be typed again to deploy.
    assert 'name="action" value="deploy" aria-describedby="deploy-note"' in html
    assert "Secrets are never sent back to your browser" in html


def test_review_marks_dimensions_that_would_exceed_the_quota(
    client_alice, deployable, acme_subscription, plan
):
    plan.vcpus = 3
    plan.save()
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "2",
        "p_size": "medium",
        "p_password": SECRET,
    }
    response = client_alice.post(deploy_url(deployable), data)
    rows = {r["dimension"]: r for r in response.context["quota_rows"]}
    assert rows["vcpus"]["exceeds"] is True
    assert "exceeds quota" in response.content.decode()


def test_review_counts_the_chosen_size_even_when_other_fields_have_problems(
    client_alice, deployable, acme_subscription
):
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "2",
        "p_size": "medium",
    }
    response = client_alice.post(deploy_url(deployable), data)
    assert response.context["valid"] is False
    rows = {r["dimension"]: r for r in response.context["quota_rows"]}
    assert rows["vcpus"]["needed"] == 4


def localised_definition() -> dict:
    return definition(
        sections=[
            {
                "name": "server",
                "label": {"en": "Server", "de": "Server (de)"},
                "parameters": [
                    param("size", "vm_size", required=True),
                    param(
                        "admin_user",
                        label={"en": "Administrator", "de": "Administrator (de)"},
                        required=True,
                        regex="[a-z]+",
                    ),
                    param("password", "secret", label={"en": "Password", "de": "Passwort"}, required=True),
                ],
            }
        ]
    )


def review_problems(html: str) -> str:
    start = html.index('id="review-problems"')
    return html[start : html.index("</ul>", start)]


def test_review_names_each_problem_by_its_localised_label_and_keeps_the_name_beside_it(
    client_alice, deployable, acme_subscription, plan
):
    version = make_version(deployable.item, "1.1.0", parameter_definition=localised_definition())
    plan.vcpus = 3
    plan.save()
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "2",
        "p_size": "medium",
        "p_admin_user": "Not Valid",
    }
    with translation.override("de"):
        response = client_alice.post(deploy_url(version), data)
    problems = review_problems(response.content.decode())
    # In the order of the form, each linking to its field, then the quota shortfalls.
    items = re.findall(
        r'<li data-field="([^"]+)"><a class="alert-link" href="#([^"]+)">([^<]+)</a>', problems
    )
    assert items == [
        ("admin_user", "id_p_admin_user", "Administrator (de)"),
        ("password", "id_p_password", "Passwort"),
        ("vcpus", "quota-impact", "vCPUs"),
    ]
    assert '<code class="field-name" title="Field name in the API">admin_user</code>' in problems
    assert "needs 4, but only 3 of 3 remain." in problems
    steps = {s.label: s.problems for s in response.context["form"].steps()}
    assert steps == {"Subscription": 0, "Server (de)": 2, "How many": 1}


def test_review_labels_the_forms_own_fields(client_alice, deployable, acme_subscription):
    data = {"action": "review", "subscription": "nope", "instance_count": "x", "p_size": "small"}
    problems = review_problems(client_alice.post(deploy_url(deployable), data).content.decode())
    assert '<a class="alert-link" href="#id_subscription">Subscription</a>' in problems
    assert '<a class="alert-link" href="#id_instance_count">Instances</a>' in problems
    assert "Enter a whole number." in problems


def test_a_valid_review_lists_the_settings_by_label_with_choice_labels(
    client_alice, deployable, acme_subscription
):
    data = {
        "action": "review",
        "subscription": acme_subscription.pk,
        "instance_count": "2",
        "p_admin_user": "ops",
        "p_size": "medium",
        "p_password": SECRET,
        "p_tls": "on",
        "p_cert": "-----BEGIN CERTIFICATE-----",
    }
    response = client_alice.post(deploy_url(deployable), data)
    assert response.context["valid"] is True
    summary = {label: {r.label: r.value for r in rows} for label, rows in response.context["form"].summary()}
    assert summary["Deployment"] == {"Subscription": "Acme production (Standard)", "Instances": "2"}
    assert summary["Server"] == {
        "Admin user": "ops",
        "Size": "medium (2 vCPU, 4 GiB RAM, 40 GiB disk)",
        "Password": "********",
    }
    assert summary["TLS"]["Tls"] == "Yes"
    assert SECRET not in response.content.decode()


def test_after_a_review_the_partial_keeps_flagging_what_is_still_wrong(
    client_alice, deployable, acme_subscription
):
    base = {"subscription": acme_subscription.pk, "instance_count": "2", "p_admin_user": "Not Valid"}
    fresh = client_alice.post(fields_url(deployable), base).content.decode()
    assert "is-invalid" not in fresh
    reviewed = client_alice.post(fields_url(deployable), {**base, "reviewed": "1"}).content.decode()
    assert 'id="id_p_admin_user_error"' in reviewed
    assert 'aria-invalid="true"' in reviewed
    # The step list comes along out of band, with the problem counts.
    assert 'id="wizard-steps" aria-label="Deploy steps" hx-swap-oob="true"' in reviewed
