"""Every admin portal page: renders for a service admin, 403 for tenant users, sign-in for
anonymous visitors. Changes are POST only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from adminportal.urls import urlpatterns

PAGES = sorted(
    p.name
    for p in urlpatterns
    if not p.name.endswith(
        (
            *("_disable", "_enable", "_deactivate", "_activate", "_suspend", "_reactivate", "_cancel"),
            *("_export", "_attach", "_detach", "_delete", "_publish", "_unpublish", "_deprecate", "_fields"),
            *("_state", "_refresh", "_retry"),
        )
    )
)
ACTIONS = sorted(set(p.name for p in urlpatterns) - set(PAGES))


def _url(name: str, page_kwargs: dict) -> str:
    return reverse(f"adminportal:{name}", kwargs=page_kwargs.get(name, {}))


@pytest.mark.parametrize("name", PAGES)
def test_each_page_renders_for_a_service_admin(name, client_admin, page_kwargs):
    response = client_admin.get(_url(name, page_kwargs))
    assert response.status_code == 200
    body = response.content.decode()
    assert "portal-admin" in body  # the amber admin chrome, not the tenant portal's
    assert 'style="' not in body  # the CSP forbids inline styles


@pytest.mark.parametrize("name", PAGES + ACTIONS)
def test_each_route_refuses_a_tenant_user(name, client_alice, page_kwargs):
    url = _url(name, page_kwargs)
    assert client_alice.get(url).status_code == 403
    assert client_alice.post(url).status_code == 403


@pytest.mark.parametrize("name", PAGES + ACTIONS)
def test_each_route_sends_anonymous_visitors_to_sign_in(name, client, page_kwargs):
    url = _url(name, page_kwargs)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ACTIONS)
def test_changes_need_a_post(name, client_admin, page_kwargs):
    assert client_admin.get(_url(name, page_kwargs)).status_code == 405


def test_an_unknown_id_is_a_404(client_admin, db):
    assert client_admin.get("/manage/tenants/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client_admin.get("/manage/users/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client_admin.get("/manage/subscriptions/not-a-uuid/").status_code == 404


def test_the_overview_passes_chart_data_as_json_not_script(client_admin, acme_subscription):
    body = client_admin.get(reverse("adminportal:overview")).content.decode()
    assert '<script id="plan-chart-data" type="application/json">' in body
    assert "adminportal/overview.js" in body
    assert "vendor/chart.js/chart.umd.js" in body
