"""Quota values: Demand arithmetic and validation, usage rows for the bars, shortfall messages.

These are plain values with no database access, so the tests need no fixtures.
"""

from __future__ import annotations

import pytest

from subscriptions.quota import DIMENSIONS, Demand, QuotaExceeded, QuotaUsage, Shortfall


def _row(usage: QuotaUsage, dimension: str) -> dict:
    return next(r for r in usage.rows() if r["dimension"] == dimension)


# --- Demand -------------------------------------------------------------------------------


def test_a_demand_defaults_to_zero_in_every_dimension():
    demand = Demand()
    assert demand.as_dict() == dict.fromkeys(DIMENSIONS, 0)
    assert demand.is_zero()


def test_a_demand_with_any_amount_is_not_zero():
    assert not Demand(public_ips=1).is_zero()


def test_demands_add_dimension_by_dimension():
    total = Demand(vms=1, vcpus=2, ram_gib=4) + Demand(vms=2, disk_gib=50, networks=1, public_ips=1)
    assert total == Demand(vms=3, vcpus=2, ram_gib=4, disk_gib=50, networks=1, public_ips=1)


def test_a_demand_multiplies_every_dimension():
    assert Demand(vms=1, vcpus=2, ram_gib=4) * 3 == Demand(vms=3, vcpus=6, ram_gib=12)


def test_multiplying_by_zero_gives_a_zero_demand():
    assert (Demand(vms=1, vcpus=2) * 0).is_zero()


def test_as_dict_lists_the_dimensions_in_reading_order():
    assert list(Demand().as_dict()) == list(DIMENSIONS)


@pytest.mark.parametrize("value", [-1, 1.5, "2", None])
def test_a_demand_refuses_anything_but_a_non_negative_integer(value):
    with pytest.raises(ValueError, match="vcpus must be a non-negative integer"):
        Demand(vcpus=value)


def test_multiplying_by_a_negative_count_is_refused():
    with pytest.raises(ValueError):
        Demand(vms=1) * -1


def test_a_demand_is_immutable():
    demand = Demand(vms=1)
    with pytest.raises(AttributeError):
        demand.vms = 2  # type: ignore[misc]


# --- QuotaUsage ---------------------------------------------------------------------------


def test_usage_has_one_row_per_dimension_with_its_label():
    rows = QuotaUsage(used=Demand(), limit=Demand()).rows()
    assert [r["dimension"] for r in rows] == list(DIMENSIONS)
    assert [r["label"] for r in rows] == ["VMs", "vCPUs", "RAM (GiB)", "Disk (GiB)", "Networks", "Public IPs"]


def test_a_row_shows_used_limit_remaining_and_percent():
    row = _row(QuotaUsage(used=Demand(vcpus=5), limit=Demand(vcpus=20)), "vcpus")
    assert row == {
        "dimension": "vcpus",
        "label": "vCPUs",
        "used": 5,
        "limit": 20,
        "remaining": 15,
        "percent": 25,
        "level": "success",
    }


@pytest.mark.parametrize(
    ("used", "limit", "percent", "level"),
    [
        (0, 10, 0, "success"),
        (6, 10, 60, "success"),
        (7, 10, 70, "warning"),
        (8, 10, 80, "warning"),
        (9, 10, 90, "danger"),
        (10, 10, 100, "danger"),
    ],
)
def test_the_level_turns_warning_at_70_and_danger_at_90_percent(used, limit, percent, level):
    row = _row(QuotaUsage(used=Demand(vms=used), limit=Demand(vms=limit)), "vms")
    assert (row["percent"], row["level"]) == (percent, level)


def test_an_unused_dimension_with_no_limit_reads_as_zero_percent():
    row = _row(QuotaUsage(used=Demand(), limit=Demand()), "networks")
    assert (row["percent"], row["remaining"], row["level"]) == (0, 0, "success")


def test_usage_of_a_dimension_with_no_limit_reads_as_full():
    # A plan lowered to zero while something still uses the dimension: the bar is full.
    row = _row(QuotaUsage(used=Demand(public_ips=1), limit=Demand()), "public_ips")
    assert (row["percent"], row["remaining"], row["level"]) == (100, 0, "danger")


def test_usage_over_a_lowered_limit_is_capped_at_100_percent_with_nothing_remaining():
    row = _row(QuotaUsage(used=Demand(vms=15), limit=Demand(vms=10)), "vms")
    assert (row["percent"], row["remaining"], row["level"]) == (100, 0, "danger")


def test_shortfalls_name_every_dimension_that_would_go_over():
    usage = QuotaUsage(used=Demand(vms=9, vcpus=18, ram_gib=10), limit=Demand(vms=10, vcpus=20, ram_gib=40))
    shortfalls = usage.shortfalls(Demand(vms=2, vcpus=4, ram_gib=8))
    assert shortfalls == [Shortfall("vms", 9, 10, 2), Shortfall("vcpus", 18, 20, 4)]


def test_a_demand_that_exactly_fills_the_limit_has_no_shortfall():
    usage = QuotaUsage(used=Demand(vms=8), limit=Demand(vms=10))
    assert usage.shortfalls(Demand(vms=2)) == []


def test_a_dimension_not_asked_for_is_no_shortfall_even_when_already_over():
    # Lowering a plan below current usage must not block demands on other dimensions.
    usage = QuotaUsage(used=Demand(vms=12, networks=0), limit=Demand(vms=10, networks=5))
    assert usage.shortfalls(Demand(networks=1)) == []


# --- Shortfall and QuotaExceeded ----------------------------------------------------------


def test_a_shortfall_says_used_limit_requested_and_how_far_over():
    shortfall = Shortfall("ram_gib", used=30, limit=40, requested=16)
    assert shortfall.label == "RAM (GiB)"
    assert str(shortfall) == "RAM (GiB): 30 used of 40, 16 requested (6 over)"


def test_quota_exceeded_names_every_shortfall_in_its_message():
    error = QuotaExceeded([Shortfall("vms", 9, 10, 2), Shortfall("public_ips", 2, 2, 1)])
    assert str(error) == (
        "Quota exceeded. VMs: 9 used of 10, 2 requested (1 over); "
        "Public IPs: 2 used of 2, 1 requested (1 over)"
    )


def test_quota_exceeded_gives_api_clients_used_limit_and_requested_per_dimension():
    error = QuotaExceeded([Shortfall("vms", 9, 10, 2), Shortfall("public_ips", 2, 2, 1)])
    assert error.as_dict() == {
        "vms": {"used": 9, "limit": 10, "requested": 2},
        "public_ips": {"used": 2, "limit": 2, "requested": 1},
    }
