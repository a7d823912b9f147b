"""Configuration from the environment, and the production profile.

Settings are module-level code, so the tests that change DEBUG or SECRET_KEY import them in a
subprocess with a crafted environment instead of reloading them inside the test process.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from portal.env import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    """A production-like environment, without anything the test runner set for itself."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "CLOUDSTAMP_TESTING", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="example.com",
        DATABASE_URL="sqlite:///var/settings-test.sqlite3",
    )
    env.update(extra)
    return env


def run_django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


IMPORT_SETTINGS = ["-c", "import django; django.setup(); from django.conf import settings; settings.DEBUG"]


# --- the helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "True", " yes ", "on"])
def test_env_bool_reads_true(monkeypatch, raw):
    monkeypatch.setenv("CS_FLAG", raw)
    assert env_bool("CS_FLAG", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off", ""])
def test_env_bool_reads_false(monkeypatch, raw):
    monkeypatch.setenv("CS_FLAG", raw)
    assert env_bool("CS_FLAG", True) is False


@pytest.mark.parametrize("raw", ["maybe", "ture", "2", "y"])
def test_env_bool_fails_loudly_on_anything_else(monkeypatch, raw):
    monkeypatch.setenv("CS_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="CS_FLAG"):
        env_bool("CS_FLAG", True)


def test_env_bool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("CS_FLAG", raising=False)
    assert env_bool("CS_FLAG", True) is True


@pytest.mark.parametrize("raw", ["ten", "1.5", "", "8h"])
def test_env_int_fails_loudly_on_a_non_integer(monkeypatch, raw):
    monkeypatch.setenv("CS_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match="CS_NUMBER"):
        env_int("CS_NUMBER", 3)


def test_env_int_reads_an_integer(monkeypatch):
    monkeypatch.setenv("CS_NUMBER", "3600")
    assert env_int("CS_NUMBER", 1) == 3600


def test_env_str_without_a_default_must_be_set(monkeypatch):
    monkeypatch.delenv("CS_TEXT", raising=False)
    with pytest.raises(ImproperlyConfigured, match="CS_TEXT must be set"):
        env_str("CS_TEXT")


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("CS_HOSTS", " example.com, ,www.example.com ")
    assert env_list("CS_HOSTS", []) == ["example.com", "www.example.com"]


@pytest.mark.parametrize("url", ["mysql://root@localhost/cloudstamp", "postgress://x@y/z", "db.sqlite3"])
def test_database_url_with_an_unknown_scheme_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        database_from_url(url, base_dir="/srv/cloudstamp")


def test_database_url_reads_postgres_with_options():
    db = database_from_url(
        "postgres://app:s%40cret@db.internal:6543/cloudstamp?sslmode=require&conn_max_age=0",
        base_dir="/srv/cloudstamp",
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "app",
        "s@cret",
        "db.internal",
        "6543",
        "cloudstamp",
    )
    assert db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("off", [None, "off", "0", "none", "false"])
def test_prepared_statements_are_opt_in(monkeypatch, off):
    if off is None:
        monkeypatch.delenv("DATABASE_PREPARE_THRESHOLD", raising=False)
    else:
        monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", off)
    db = database_from_url("postgres://app@db/cloudstamp?conn_max_age=0", base_dir="/srv/cs")
    assert db["OPTIONS"] == {}
    db = database_from_url(
        "postgres://app@db/cloudstamp?conn_max_age=0&prepare_threshold=2", base_dir="/srv/cs"
    )
    assert db["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 2}
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", "5")
    db = database_from_url("postgres://app@db/cloudstamp?conn_max_age=0", base_dir="/srv/cs")
    assert db["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}


def test_a_prepare_threshold_that_is_not_a_number_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", "sometimes")
    with pytest.raises(ImproperlyConfigured, match="prepare_threshold='sometimes'"):
        database_from_url("postgres://app@db/cloudstamp", base_dir="/srv/cs")


def test_database_url_reads_relative_and_absolute_sqlite_paths():
    assert database_from_url("sqlite:///db.sqlite3", base_dir="/srv/cs")["NAME"] == "/srv/cs/db.sqlite3"
    assert database_from_url("sqlite:////var/lib/cs.db", base_dir="/srv/cs")["NAME"] == "/var/lib/cs.db"


# --- settings as a whole, in a subprocess -----------------------------------------------------


def test_production_without_a_secret_key_refuses_to_start():
    env = production_env()
    del env["SECRET_KEY"]
    result = run_django(env, *IMPORT_SETTINGS)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def test_a_misspelt_boolean_stops_the_settings_import():
    result = run_django(production_env(DEBUG="flase"), *IMPORT_SETTINGS)
    assert result.returncode != 0
    assert "DEBUG='flase' is not a boolean" in result.stderr


def test_an_unknown_database_scheme_stops_the_settings_import():
    result = run_django(production_env(DATABASE_URL="mongodb://localhost/cs"), *IMPORT_SETTINGS)
    assert result.returncode != 0
    assert "DATABASE_URL scheme 'mongodb' is not supported" in result.stderr


def test_the_production_profile_passes_check_deploy_with_no_warnings():
    result = run_django(production_env(), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_notices_a_weak_secret_key():
    # The guard rail works: the same check fails when the profile is not production-ready.
    result = run_django(
        production_env(SECRET_KEY="short"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


# --- sessions -----------------------------------------------------------------------------------


def test_an_anonymous_visit_to_the_login_page_sets_no_session_cookie(client, settings):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_an_anonymous_visit_to_the_home_page_sets_no_session_cookie(client, settings):
    response = client.get("/")
    assert response.status_code == 302
    assert settings.SESSION_COOKIE_NAME not in response.cookies


# --- documentation ------------------------------------------------------------------------------


def test_every_environment_variable_the_settings_read_is_in_the_readme():
    source = (BASE_DIR / "portal" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', source))
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names
    readme = (BASE_DIR / "README.md").read_text()
    undocumented = sorted(name for name in names if f"`{name}`" not in readme)
    assert not undocumented, f"add these to the configuration table in README.md: {undocumented}"
