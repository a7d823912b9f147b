"""The whole audit log, across tenants."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from adminportal import selectors
from adminportal.forms import ActivityFilterForm
from adminportal.views.common import paginate
from portal.tenancy import service_admin_view


@service_admin_view
def activity(request: HttpRequest) -> HttpResponse:
    """Every audit event, newest first; filter by tenant, actor and action prefix."""
    form = ActivityFilterForm(request.GET or None, actions=selectors.activity_actions())
    filters = form.values()
    events = selectors.activity_list(**filters)
    context = {"form": form, "page_obj": paginate(request, events), "filtered": any(filters.values())}
    return render(request, "adminportal/activity.html", context)
