"""The OpenAPI schema generates cleanly and the interactive docs work under the strict CSP.

The docs page in a real browser is tests/browser/test_api_docs.py."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from django.core.management import call_command


def test_the_schema_generates_and_validates_with_no_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning or error into a failure.
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/subscriptions/{id}/cancel/" in text
    assert "/api/v1/admin/plans/{id}/" in text


@pytest.mark.django_db
def test_the_schema_is_served_to_anyone(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Cloudstamp API"
    operations = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert ("/api/v1/subscriptions/", "post") in operations
    assert len(operations) >= 50
    # Admin endpoints take sessions only: a token there is always refused.
    admin_security = schema["paths"]["/api/v1/admin/tenants/"]["get"]["security"]
    assert admin_security == [{"cookieAuth": []}]
    assert {"bearerAuth": []} in schema["paths"]["/api/v1/subscriptions/"]["get"]["security"]


def _policy(response) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in response["Content-Security-Policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.mark.django_db
def test_the_docs_page_allows_exactly_its_own_inline_style(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"]
    blocks = re.findall(r"<style[^>]*>(.*?)</style>", body, re.DOTALL)
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks
    }
    assert set(policy["style-src"]) == {"'self'", *expected}
    # No inline script: the initialiser is a separate script file, and every asset is local.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    for url in re.findall(r'(?:src|href)="([^"]+)"', body):
        assert url.startswith("/"), url


@pytest.mark.django_db
def test_the_docs_assets_and_initialiser_are_served_locally(client):
    body = client.get("/api/docs/").content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', body):
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url
    script = client.get("/api/docs/", {"script": ""})
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    # The CSP applies to every other page unchanged.
    assert "sha256" not in _policy(client.get("/accounts/login/"))["style-src"][0]
