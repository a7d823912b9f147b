"""The admin portal's front page: headline counts, subscriptions per plan, recent activity."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from adminportal import compute_selectors, selectors
from portal.tenancy import service_admin_view


@service_admin_view
def overview(request: HttpRequest) -> HttpResponse:
    per_plan = selectors.subscriptions_per_plan()
    chart = {
        "labels": [row["plan"] for row in per_plan],
        "active": [row["active"] for row in per_plan],
        "suspended": [row["suspended"] for row in per_plan],
    }
    context = {
        "counts": selectors.overview_counts(),
        "per_plan": per_plan,
        "chart": chart,
        "events": selectors.activity_list()[:10],
        "provisioning": compute_selectors.provisioning_counts(),
    }
    return render(request, "adminportal/overview.html", context)
