"""Users: list with search and filters, detail, create, deactivate and activate."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from adminportal import selectors
from adminportal.forms import UserCreateForm, UserFilterForm
from adminportal.services import admin_user_create
from adminportal.views.common import get_or_404, paginate, sorted_by
from portal.errors import Conflict
from portal.tenancy import service_admin_view
from tenants.forms import add_service_errors
from tenants.models import User
from tenants.services import user_set_active


def _user_get(pk) -> User:
    return User.objects.get(pk=pk)


@service_admin_view
def user_list(request: HttpRequest) -> HttpResponse:
    form = UserFilterForm(request.GET or None)
    filters = form.values()
    users = selectors.user_list(search=filters["q"], kind=filters["kind"], active=filters["active"])
    users, sort = sorted_by(request, users, selectors.USER_SORTS, "email")
    context = {
        "form": form,
        "page_obj": paginate(request, users),
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/users/list.html", context)


@service_admin_view
def user_detail(request: HttpRequest, pk) -> HttpResponse:
    shown = get_or_404(_user_get, pk)
    context = {
        "shown": shown,
        "memberships": selectors.user_memberships(shown),
        "events": selectors.activity_for_user(shown)[:20],
    }
    return render(request, "adminportal/users/detail.html", context)


@service_admin_view
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = admin_user_create(
                email=data["email"],
                full_name=data["full_name"],
                is_service_admin=data["kind"] == "admin",
                tenant=data["tenant"],
                role=data["role"],
                actor=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Created {user.email}. They were sent a link to choose a password.")
            return redirect("adminportal:user_detail", pk=user.pk)
    return render(request, "adminportal/users/form.html", {"form": form})


def _set_active(request: HttpRequest, pk, active: bool) -> HttpResponse:
    user = get_or_404(_user_get, pk)
    try:
        user_set_active(user=user, active=active, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{user.email} is {'active again' if active else 'deactivated'}.")
    return redirect("adminportal:user_detail", pk=user.pk)


@service_admin_view
@require_POST
def user_deactivate(request: HttpRequest, pk) -> HttpResponse:
    return _set_active(request, pk, False)


@service_admin_view
@require_POST
def user_activate(request: HttpRequest, pk) -> HttpResponse:
    return _set_active(request, pk, True)
