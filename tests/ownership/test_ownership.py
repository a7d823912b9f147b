"""The ownership harness: every route the project serves is classified, and every
tenant-scoped route is attacked with another tenant's object ids.

A new URL pattern or API route that is missing from ``tests/ownership/matrix.py`` fails
``test_every_route_is_classified``: adding a route means deciding who may reach it and,
for tenant data, proving that nobody else can.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from subscriptions.models import Subscription
from tests.ownership.matrix import ADMIN, AUTH, MATRIX, PREFIX_RULES, PUBLIC, TENANT, Obj
from tests.ownership.routes import all_routes, fill, iter_routes
from tests.ownership.world import build_world

ROUTES = all_routes(skip_prefixes=tuple(PREFIX_RULES))


def _methods(route) -> list[str]:
    return route.methods() or ["get", "post"]


def _is_api(route) -> bool:
    return route.pattern.startswith("api/v1/")


def test_every_route_is_classified():
    unclassified = sorted(set(ROUTES) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(ROUTES))
    assert not unclassified, f"Classify these routes in tests/ownership/matrix.py: {unclassified}"
    assert not stale, f"These matrix entries match no route any more: {stale}"


def test_every_tenant_object_route_names_each_parameter():
    for name, kind in MATRIX.items():
        if isinstance(kind, Obj):
            assert set(ROUTES[name].params) == set(kind.params), name


OBJECT_ROUTES = sorted(name for name, kind in MATRIX.items() if isinstance(kind, Obj))
# Positive controls need a GET the owner can use; actions without one are covered by the 404 test.
CONTROL_ROUTES = [
    name
    for name in OBJECT_ROUTES
    if MATRIX[name].control and (not ROUTES[name].methods() or "get" in ROUTES[name].methods())
]
# Public routes addressed by a secret (reset and invitation links) have their own tests.
PUBLIC_ROUTES = sorted(n for n, k in MATRIX.items() if k == PUBLIC and not ROUTES[n].params)
TENANT_ROUTES = sorted(name for name, kind in MATRIX.items() if kind == TENANT and not ROUTES[name].params)
ADMIN_ROUTES = sorted(name for name, kind in MATRIX.items() if kind == ADMIN)
SIGNED_IN_ROUTES = sorted(
    name for name, kind in MATRIX.items() if kind in (AUTH, TENANT, ADMIN) or isinstance(kind, Obj)
)


def _assert_no_leak(response, world, where: str) -> None:
    body = response.content.decode(errors="replace")
    for secret in world.secrets:
        assert secret not in body, f"{where} leaked {secret!r}"


def _send(client, method: str, path: str, **extra):
    return (
        getattr(client, method)(path, content_type="application/json", **extra)
        if method != "get"
        else client.get(path, **extra)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", OBJECT_ROUTES)
def test_another_tenants_object_is_404_with_no_data(name, client):
    world = build_world()
    route = ROUTES[name]
    path = fill(route.pattern, MATRIX[name].values(world))
    before = world.snapshot()
    attackers = [("session", {})]
    if _is_api(route):
        attackers.append(("token", {"HTTP_AUTHORIZATION": f"Bearer {world.charlie_token}"}))
    for how, headers in attackers:
        if how == "session":
            client.force_login(world.charlie)
        else:
            client.logout()
        seen_404 = False
        for method in _methods(route):
            response = _send(client, method, path, **headers)
            where = f"{method.upper()} {path} as charlie ({how})"
            assert response.status_code in (404, 405), f"{where} -> {response.status_code}"
            seen_404 |= response.status_code == 404
            _assert_no_leak(response, world, where)
        assert seen_404, f"{path} never answered 404 to charlie ({how})"
    assert world.snapshot() == before, f"{name}: charlie's requests changed Acme's data"


@pytest.mark.django_db
@pytest.mark.parametrize("name", CONTROL_ROUTES)
def test_the_owner_reaches_the_same_object(name, client):
    """Positive control: the ids are right, so the 404s above are about ownership."""
    world = build_world()
    route = ROUTES[name]
    path = fill(route.pattern, MATRIX[name].values(world))
    client.force_login(world.alice)
    response = client.get(path)
    assert response.status_code in (200, 405), f"GET {path} as alice -> {response.status_code}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", TENANT_ROUTES)
def test_tenant_lists_show_nothing_of_another_tenant(name, client):
    world = build_world()
    route = ROUTES[name]
    if route.methods() and "get" not in route.methods():
        pytest.skip(f"{name} has no GET")
    path = fill(route.pattern, {})
    client.force_login(world.charlie)
    response = client.get(path)
    assert response.status_code in (200, 302, 405), f"GET {path} as charlie -> {response.status_code}"
    _assert_no_leak(response, world, f"GET {path} as charlie")
    if _is_api(route):
        client.logout()
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {world.charlie_token}")
        assert response.status_code in (200, 405)
        _assert_no_leak(response, world, f"GET {path} with charlie's token")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ADMIN_ROUTES)
def test_admin_routes_refuse_tenant_users_and_tokens(name, client):
    world = build_world()
    route = ROUTES[name]
    path = fill(route.pattern, world.admin_values())
    client.force_login(world.alice)
    for method in _methods(route):
        response = _send(client, method, path)
        assert response.status_code in (403, 404, 405), (
            f"{method.upper()} {path} as alice -> {response.status_code}"
        )
    if _is_api(route):
        client.logout()
        for method in _methods(route):
            response = _send(client, method, path, HTTP_AUTHORIZATION=f"Bearer {world.alice_token}")
            assert response.status_code in (403, 404, 405), (
                f"{method.upper()} {path} with a token -> {response.status_code}"
            )


@pytest.mark.django_db
@pytest.mark.parametrize("name", SIGNED_IN_ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(name, client):
    world = build_world()
    route = ROUTES[name]
    kind = MATRIX[name]
    values = kind.values(world) if isinstance(kind, Obj) else world.admin_values()
    path = fill(route.pattern, values)
    for method in _methods(route):
        response = _send(client, method, path)
        where = f"anonymous {method.upper()} {path}"
        if _is_api(route):
            assert response.status_code in (401, 403, 405), f"{where} -> {response.status_code}"
        else:
            assert response.status_code in (302, 405), f"{where} -> {response.status_code}"
            if response.status_code == 302:
                assert "/accounts/login/" in response["Location"], where
        _assert_no_leak(response, world, where)


@pytest.mark.django_db
@pytest.mark.parametrize("name", PUBLIC_ROUTES)
def test_public_routes_answer_anonymous_visitors(name, client):
    world = build_world()
    route = ROUTES[name]
    response = client.get(fill(route.pattern, {}))
    assert response.status_code < 500
    _assert_no_leak(response, world, f"anonymous GET {route.pattern}")


@pytest.mark.django_db
def test_a_cancelled_subscription_of_another_tenant_stays_invisible(client):
    world = build_world()
    Subscription.objects.filter(pk=world.acme_subscription.pk).update(
        state="cancelled", updated=timezone.now()
    )
    client.force_login(world.charlie)
    assert client.get(f"/subscriptions/{world.acme_subscription.pk}/").status_code == 404


@pytest.mark.django_db
def test_djangos_admin_site_is_closed_to_tenant_users_and_service_admins(client):
    world = build_world()
    prefixed = [r for r in iter_routes() if r.pattern.startswith(tuple(PREFIX_RULES))]
    if not prefixed:
        pytest.skip("Django's admin site is not mounted (DEBUG is off)")
    for user in (world.alice, world.charlie, world.admin):
        client.force_login(user)
        response = client.get("/django-admin/tenants/tenant/")
        assert response.status_code == 302 and "/django-admin/login/" in response["Location"]
