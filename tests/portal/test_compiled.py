"""portal.compiled: a values() queryset's SQL compiled once, run again with other values, and
refused whenever reusing it could change a result."""

from __future__ import annotations

import pytest
from django.db import connection

from portal import compiled
from portal.compiled import StandIn, compile_once
from subscriptions.models import Plan
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

NAME = Plan._meta.get_field("name")
VMS = Plan._meta.get_field("vms")


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(compiled, "_compiled", {})


def _by_name(name):
    return Plan.objects.filter(name=name, state=Plan.State.ACTIVE).values("id", "name", "created", "vms")


def test_a_compiled_query_returns_what_the_orm_returns_for_other_values(plan):
    PlanFactory(name="Other", vms=3)
    query = compile_once("by name", connection, _by_name, {"name": StandIn("<name>", NAME)})
    assert query is not None
    for name in ("Standard", "Other", "Nobody"):
        assert query.fetch(connection, {"name": name}) == list(_by_name(name))


def test_it_is_compiled_once_per_key(plan, django_assert_num_queries):
    calls = []

    def build(name):
        calls.append(name)
        return _by_name(name)

    first = compile_once("once", connection, build, {"name": StandIn("<name>", NAME)})
    assert compile_once("once", connection, build, {"name": StandIn("<name>", NAME)}) is first
    assert calls == ["<name>"]
    with django_assert_num_queries(1):
        first.fetch(connection, {"name": "Standard"})


def test_a_suffix_takes_extra_parameters(plan):
    PlanFactory(name="Other")
    query = compile_once(
        "all, paged",
        connection,
        lambda vms: Plan.objects.filter(vms__gte=vms).order_by("name").values("name"),
        {"vms": StandIn(987654, VMS)},
        suffix=" LIMIT %s OFFSET %s",
    )
    assert query.fetch(connection, {"vms": 0}, extra=(1, 1)) == [{"name": "Standard"}]


def test_a_query_whose_sql_does_not_take_a_stand_in_is_refused():
    # The value went into the SQL text (or nowhere): the SQL cannot be reused for another.
    assert (
        compile_once("ignored", connection, lambda name: _by_name("fixed"), {"name": StandIn("<n>", NAME)})
        is None
    )


def test_look_alike_stand_ins_and_model_querysets_are_refused():
    assert (
        compile_once(
            "twins",
            connection,
            lambda a, b: Plan.objects.filter(name=a, description=b).values("id"),
            {"a": StandIn("<x>", NAME), "b": StandIn("<x>", NAME)},
        )
        is None
    )
    assert (
        compile_once(
            "models", connection, lambda name: Plan.objects.filter(name=name), {"name": StandIn("<n>", NAME)}
        )
        is None
    )
