"""Fixtures for the REST API tests: JSON clients signed in by session or by bearer token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tenants.models import Role
from tenants.services import api_token_create

V1 = "/api/v1"


class Api:
    """A test client that speaks JSON to /api/v1/, by session or with ``Authorization: Bearer``."""

    def __init__(self, user=None, token: str | None = None) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if user is not None:
            self.client.force_login(user)

    def _url(self, path: str) -> str:
        return path if path.startswith("/api/") else f"{V1}{path}"

    def get(self, path: str, **params):
        return self.client.get(self._url(path), params, **self.headers)

    def _send(self, method: str, path: str, data=None):
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(
            self._url(path), body, content_type="application/json", **self.headers
        )

    def post(self, path: str, data=None):
        return self._send("post", path, data)

    def patch(self, path: str, data=None):
        return self._send("patch", path, data)

    def put(self, path: str, data=None):
        return self._send("put", path, data)

    def delete(self, path: str):
        return self._send("delete", path)


def make_token(user, tenant, role: str = Role.OWNER, *, actor_role: str | None = None, days: int = 30) -> str:
    _, raw = api_token_create(
        tenant=tenant,
        user=user,
        name=f"{user.email} {role}",
        role=role,
        expires_in_days=days,
        actor_role=actor_role or role,
    )
    return raw


@pytest.fixture
def api_anonymous(db):
    return Api()


@pytest.fixture
def api_alice(alice):
    return Api(user=alice)


@pytest.fixture
def api_bob(bob):
    return Api(user=bob)


@pytest.fixture
def api_carol(carol):
    return Api(user=carol)


@pytest.fixture
def api_charlie(charlie):
    return Api(user=charlie)


@pytest.fixture
def api_admin(admin):
    return Api(user=admin)


@pytest.fixture
def alice_token(alice, acme) -> str:
    return make_token(alice, acme, Role.OWNER)


@pytest.fixture
def api_alice_token(alice_token):
    return Api(token=alice_token)


@pytest.fixture
def api_charlie_token(charlie, globex):
    return Api(token=make_token(charlie, globex, Role.OWNER))


def assert_no_trace_of(response, *secrets) -> None:
    """None of another tenant's identifying strings appear anywhere in the body."""
    body = response.content.decode()
    for secret in secrets:
        assert str(secret) not in body, f"response leaked {secret!r}"
