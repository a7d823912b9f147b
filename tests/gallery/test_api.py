"""The tenant gallery API: list, detail, version with parameters, and the validation dry run."""

from __future__ import annotations

import pytest
from django.utils import translation

from gallery.models import GalleryItem
from subscriptions.models import Plan
from tests.api.conftest import Api
from tests.gallery.helpers import make_version
from tests.gallery.test_views import SECRET, localised_definition, wizard_definition


@pytest.fixture
def version(sizes, item, plan, acme_subscription):
    item.plans.add(plan)
    for size in sizes.values():
        size.plans.add(plan)
    return make_version(item, "1.0.0", parameter_definition=wizard_definition())


@pytest.fixture
def api_alice(alice):
    return Api(user=alice)


@pytest.fixture
def api_charlie(charlie):
    return Api(user=charlie)


def version_url(version, suffix: str = "") -> str:
    return f"/gallery/items/{version.item_id}/versions/{version.pk}/{suffix}"


def test_it_lists_the_items_the_tenant_may_deploy(api_alice, version):
    response = api_alice.get("/gallery/items/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["slug"] == "tiny" and row["versions"][0]["version"] == "1.0.0"


def test_it_returns_an_item_and_a_version_with_its_parameters(api_alice, version):
    assert api_alice.get(f"/gallery/items/{version.item_id}/").json()["name"] == "Tiny server"
    body = api_alice.get(version_url(version), lang="de").json()
    assert body["parameters"][0]["label"] == "Server (de)"
    assert body["parameters"][1]["label"] == "TLS"  # no German label: falls back
    assert [f["name"] for f in body["parameters"][0]["fields"]] == ["admin_user", "size", "password"]


def test_it_returns_404_for_another_tenants_private_item(api_charlie, version, globex):
    private = Plan.objects.create(name="Acme only", visibility="private")
    item = GalleryItem.objects.create(name="Secret", slug="secret", publisher="T")
    item.plans.add(private)
    hidden = make_version(item)
    assert api_charlie.get(f"/gallery/items/{item.pk}/").status_code == 404
    assert api_charlie.get(version_url(hidden)).status_code == 404
    assert (
        api_charlie.post(version_url(hidden, "validate/"), {"subscription": str(item.pk)}).status_code == 404
    )
    assert api_charlie.get("/gallery/items/").json()["results"] == []


def test_validate_returns_the_demand_and_quota_for_valid_input(api_alice, version, acme_subscription):
    body = {
        "subscription": str(acme_subscription.pk),
        "instance_count": 2,
        "parameters": {"admin_user": "ops", "size": "medium", "password": SECRET},
    }
    response = api_alice.post(version_url(version, "validate/"), body)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["valid"] is True and data["demand"]["vcpus"] == 4
    assert {r["dimension"]: r["remaining"] for r in data["quota"]}["vcpus"] == 20
    assert SECRET not in response.content.decode()


def test_validate_returns_every_problem_keyed_by_field(api_alice, version, acme_subscription, plan):
    plan.vcpus = 1
    plan.save()
    body = {
        "subscription": str(acme_subscription.pk),
        "instance_count": 2,
        "parameters": {
            "admin_user": "Bad Name",
            "size": "medium",
            "password": SECRET,
            "tls": True,
            "nope": 1,
        },
    }
    response = api_alice.post(version_url(version, "validate/"), body)
    assert response.status_code == 400
    errors = response.json()
    assert {"parameters.admin_user", "parameters.cert", "parameters.nope", "quota"} <= set(errors)
    assert errors["quota"][0]["dimension"] == "vcpus"
    assert SECRET not in response.content.decode()


def test_validate_flags_a_bad_instance_count_and_subscription(api_alice, version, globex_subscription):
    body = {"subscription": str(globex_subscription.pk), "instance_count": 99, "parameters": {}}
    errors = api_alice.post(version_url(version, "validate/"), body).json()
    assert {"subscription", "instance_count", "parameters.password"} <= set(errors)


def test_validate_keys_problems_by_parameter_name_while_the_wizard_shows_labels(
    api_alice, version, acme_subscription
):
    localised = make_version(version.item, "1.1.0", parameter_definition=localised_definition())
    body = {
        "subscription": str(acme_subscription.pk),
        "instance_count": 2,
        "parameters": {"size": "small", "admin_user": "Not Valid"},
    }
    with translation.override("de"):
        errors = api_alice.post(version_url(localised, "validate/"), body).json()
    # API clients send names, so problems come back under names, never under labels.
    assert set(errors) == {"parameters.admin_user", "parameters.password"}
