"""Tenant portal pages: dashboard, tenant switching and creation, team and invitations,
API tokens, activity, and self sign-up.

Views are thin: they look objects up through tenant-scoped selectors (another tenant's id is
a 404, checked *before* the role so the answer never depends on who owns the object), check
the role (403), call a service, and redirect with a message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView, PasswordResetView, redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from portal.errors import Conflict
from portal.tenancy import SESSION_KEY, TenantContext, get_tenant_context, switch_tenant, tenant_view
from subscriptions.models import Plan, Subscription
from subscriptions.selectors import quota_usage_from_row, row_quota, subscription_rows
from tenants import selectors
from tenants.forms import (
    ActivityFilterForm,
    ApiTokenForm,
    InvitationForm,
    SignupForm,
    TenantForm,
    add_service_errors,
)
from tenants.models import Invitation, Membership, Role, Tenant
from tenants.services import (
    api_token_create,
    api_token_revoke,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_revoke,
    invitation_url,
    membership_change_role,
    membership_remove,
    tenant_create,
    user_create,
    user_signup,
)

PAGE_SIZE = 25
# Sign-up logs the new user in directly; with several backends Django must be told which.
_LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --- small helpers shared by the tenant portal's views ---------------------------------------


def role_flags(context: TenantContext) -> dict[str, bool]:
    """What the templates need to hide the buttons a role cannot use."""
    return {"is_owner": context.allows(Role.OWNER), "is_operator": context.allows(Role.OPERATOR)}


def paginate(request: HttpRequest, queryset: QuerySet, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def sorted_by(
    request: HttpRequest, queryset: QuerySet, allowed: dict[str, str], default: str
) -> tuple[QuerySet, str]:
    """Order ``queryset`` by the ``sort`` parameter (``name`` or ``-name``, keys of ``allowed``)."""
    wanted = request.GET.get("sort", "") or default
    key = wanted.removeprefix("-")
    if key not in allowed:
        wanted, key = default, default.removeprefix("-")
    field = allowed[key]
    # A tie-breaker keeps pages stable when many rows share the sorted value.
    return queryset.order_by(f"-{field}" if wanted.startswith("-") else field, "pk"), wanted


def error_text(error: Exception) -> str:
    """A service error as one sentence for a flash message."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return getattr(error, "message", str(error))


def get_or_404(selector, **kwargs):
    """Call a tenant-scoped ``*_get`` selector; any "does not exist" becomes a 404."""
    try:
        return selector(**kwargs)
    except (ObjectDoesNotExist, ValidationError):
        raise Http404 from None


def safe_next(request: HttpRequest, value: str | None) -> str | None:
    """``value`` if it is a local URL we may redirect to, else None."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return None


def _make_current(request: HttpRequest, tenant: Tenant) -> None:
    # The next request resolves the tenant context from this key (see portal.tenancy).
    request.session[SESSION_KEY] = str(tenant.pk)


# --- dashboard and tenants -------------------------------------------------------------------


# The dashboard is a glance, not the list: beyond this many subscriptions it shows the ones
# that need attention and links to the full list.
DASHBOARD_CARDS = 12


def _fullness(row: dict) -> float:
    """How full a subscription's fullest quota dimension is (1.0 = at its limit; any use of
    a zero limit counts as over)."""
    return max(
        (used / limit if limit else (float("inf") if used else 0.0)) for _, used, limit in row_quota(row)
    )


def _card(row: dict) -> dict:
    """A dashboard card from a ``subscription_rows`` row: an unsaved ``Subscription`` holding
    what the card shows (name, state, reason, plan name; no query) and its quota bars."""
    subscription = Subscription(
        id=row["id"],
        name=row["name"],
        state=row["state"],
        state_reason=row["state_reason"],
        plan=Plan(id=row["plan_id"], name=row["plan__name"]),
    )
    return {"subscription": subscription, "rows": quota_usage_from_row(row).rows()}


@tenant_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    """Quota bars for up to ``DASHBOARD_CARDS`` live subscriptions (suspended ones first, then
    the fullest), team counts and recent activity, in a constant number of queries whatever
    the number of subscriptions."""
    context = request.tenant_context
    live = [Subscription.State.ACTIVE, Subscription.State.SUSPENDED]
    rows = list(subscription_rows(tenant=context.tenant, states=live).order_by("name", "pk"))
    # Sorted in Python, not SQL: ranking by the fullest dimension needs every used/limit pair,
    # which the page's one query already returns; the sort is stable, so ties keep name order.
    rows.sort(key=lambda row: (row["state"] != Subscription.State.SUSPENDED, -_fullness(row)))
    return render(
        request,
        "tenants/dashboard.html",
        {
            "cards": [_card(row) for row in rows[:DASHBOARD_CARDS]],
            "live_count": len(rows),
            "counts": selectors.tenant_counts(tenant=context.tenant),
            "recent": list(selectors.activity_list(tenant=context.tenant)[:5]),
            **role_flags(context),
        },
    )


def _switch_target(request: HttpRequest) -> str:
    target = safe_next(request, request.POST.get("next"))
    if not target:
        return reverse("tenants:dashboard")
    try:
        match = resolve(urlsplit(target).path)
    except Resolver404:
        return reverse("tenants:dashboard")
    # A page about one object (a subscription, a token…) belongs to the old tenant and would
    # be a 404 in the new one; its list is the nearest useful page, the dashboard the safest.
    return reverse("tenants:dashboard") if match.kwargs else target


@require_POST
@tenant_view()
def switch(request: HttpRequest) -> HttpResponse:
    context = switch_tenant(request, request.POST.get("tenant", ""))
    if context is None:
        raise Http404("You are not a member of that tenant.")
    messages.success(request, f"You are now working in {context.tenant.name}.")
    return redirect(_switch_target(request))


def _create_tenant(request: HttpRequest, form: TenantForm) -> HttpResponse | None:
    """Create a tenant owned by the user from a bound form; a redirect, or None on errors."""
    if not form.is_valid():
        return None
    try:
        tenant = tenant_create(name=form.cleaned_data["name"], owner=request.user, actor=request.user)
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    _make_current(request, tenant)
    messages.success(request, f"{tenant.name} is ready and you are its owner. Subscribe to a plan to start.")
    return redirect("tenants:dashboard")


@tenant_view()
def create(request: HttpRequest) -> HttpResponse:
    """Any tenant user may create another tenant, which they own."""
    form = TenantForm(request.POST or None)
    if request.method == "POST" and (response := _create_tenant(request, form)):
        return response
    return render(request, "tenants/tenant_form.html", {"form": form})


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    """For a signed-in user with no tenant: create one (if self sign-up is open) or learn that
    an owner must invite them."""
    if request.user.is_service_admin:
        return redirect("adminportal:overview")
    if get_tenant_context(request) is not None:
        return redirect("tenants:dashboard")
    form = TenantForm(request.POST or None) if settings.SIGNUP_ENABLED else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(
                "New tenants are created by the service admins here. Ask for an invitation."
            )
        if response := _create_tenant(request, form):
            return response
    return render(request, "tenants/onboarding.html", {"form": form})


# --- team and invitations --------------------------------------------------------------------


def _render_team(
    request: HttpRequest,
    *,
    invite_form: InvitationForm | None = None,
    new_link: str = "",
    new_invitation=None,
) -> HttpResponse:
    context = request.tenant_context
    search = request.GET.get("q", "").strip()
    members, sort = sorted_by(
        request, selectors.member_list(tenant=context.tenant, search=search), selectors.MEMBER_SORTS, "email"
    )
    flags = role_flags(context)
    return render(
        request,
        "tenants/team.html",
        {
            "page_obj": paginate(request, members),
            "search": search,
            "sort": sort,
            "invitations": list(selectors.open_invitations(tenant=context.tenant)),
            "invite_form": (invite_form or InvitationForm()) if flags["is_owner"] else None,
            "roles": Role.choices,
            "new_link": new_link,
            "new_invitation": new_invitation,
            **flags,
        },
    )


@tenant_view()
def team(request: HttpRequest) -> HttpResponse:
    return _render_team(request)


@require_POST
@tenant_view()
def member_role(request: HttpRequest, pk) -> HttpResponse:
    context = request.tenant_context
    membership: Membership = get_or_404(selectors.member_get, tenant=context.tenant, pk=pk)
    context.require(Role.OWNER)
    role = request.POST.get("role", "")
    try:
        membership_change_role(membership=membership, role=role, actor=request.user)
    except (ValidationError, Conflict) as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"{membership.user.display_name} is now {Role(role).label.lower()}.")
    return redirect("tenants:team")


@require_POST
@tenant_view()
def member_remove(request: HttpRequest, pk) -> HttpResponse:
    """Remove a member (owners), or leave the tenant (anyone, removing themselves)."""
    context = request.tenant_context
    membership: Membership = get_or_404(selectors.member_get, tenant=context.tenant, pk=pk)
    leaving = membership.user_id == request.user.pk
    if not leaving:
        context.require(Role.OWNER)
    try:
        membership_remove(membership=membership, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
        return redirect("tenants:team")
    if leaving:
        request.session.pop(SESSION_KEY, None)
        messages.success(request, f"You left {context.tenant.name}.")
        return redirect("home")
    messages.success(
        request,
        f"{membership.user.display_name} no longer has access to {context.tenant.name}; "
        "their API tokens for it were revoked.",
    )
    return redirect("tenants:team")


@require_POST
@tenant_view(role=Role.OWNER)
def invitation_new(request: HttpRequest) -> HttpResponse:
    context = request.tenant_context
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, raw = invitation_create(
                tenant=context.tenant, actor=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            # Only the link's hash is stored, so this response is the one chance to show the
            # link itself: rendered directly rather than redirected, and never cached.
            response = _render_team(request, new_link=invitation_url(raw), new_invitation=invitation)
            add_never_cache_headers(response)
            return response
    return _render_team(request, invite_form=form)


@require_POST
@tenant_view()
def invitation_cancel(request: HttpRequest, pk) -> HttpResponse:
    context = request.tenant_context
    invitation: Invitation = get_or_404(selectors.invitation_get, tenant=context.tenant, pk=pk)
    context.require(Role.OWNER)
    try:
        invitation_revoke(invitation=invitation, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        messages.success(
            request, f"The invitation of {invitation.email} is revoked; its link no longer works."
        )
    return redirect("tenants:team")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link from an invitation e-mail. Public: shows the tenant and role; a signed-in user
    accepts with a POST, an anonymous visitor is offered to sign in or sign up and come back."""
    found = invitation_for_token(token)
    if found is None:
        return render(request, "tenants/invitation.html", {"invitation": None}, status=404)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.path)
        try:
            membership = invitation_accept(raw_token=token, user=request.user)
        except (ValidationError, Conflict) as error:
            messages.error(request, error_text(error))
            return redirect(request.path)
        _make_current(request, membership.tenant)
        messages.success(
            request,
            f"Welcome to {membership.tenant.name}. You joined as {Role(membership.role).label.lower()}.",
        )
        return redirect("tenants:dashboard")
    user = request.user
    is_member = (
        user.is_authenticated and Membership.objects.filter(tenant=found.tenant_id, user=user.pk).exists()
    )
    return render(
        request,
        "tenants/invitation.html",
        {
            "invitation": found,
            "role_label": Role(found.role).label,
            "is_member": is_member,
            "other_email": user.is_authenticated and user.email != found.email,
        },
    )


# --- API tokens --------------------------------------------------------------------------------


def _render_tokens(request: HttpRequest, *, form: ApiTokenForm | None, new_token=None, secret: str = ""):
    context = request.tenant_context
    tokens, sort = sorted_by(
        request,
        selectors.api_token_list(tenant=context.tenant, user=request.user, role=context.role),
        selectors.TOKEN_SORTS,
        "-created",
    )
    return render(
        request,
        "tenants/tokens.html",
        {
            "form": form,
            "page_obj": paginate(request, tokens),
            "sort": sort,
            "new_token": new_token,
            "secret": secret,
            **role_flags(context),
        },
    )


@tenant_view()
def tokens(request: HttpRequest) -> HttpResponse:
    """List the API tokens; operators and owners create them here, and see the secret once."""
    context = request.tenant_context
    form = (
        ApiTokenForm(request.POST or None, max_role=context.role) if context.allows(Role.OPERATOR) else None
    )
    if request.method == "POST":
        context.require(Role.OPERATOR)
        if form.is_valid():
            try:
                token, secret = api_token_create(
                    tenant=context.tenant, user=request.user, actor_role=context.role, **form.cleaned_data
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request, f"Token “{token.name}” created. Copy it now: it will not be shown again."
                )
                # The secret is not stored anywhere, so it is rendered in this response only
                # (no redirect, no session) and the page is never cached.
                fresh = ApiTokenForm(max_role=context.role)
                response = _render_tokens(request, form=fresh, new_token=token, secret=secret)
                add_never_cache_headers(response)
                return response
    return _render_tokens(request, form=form)


@require_POST
@tenant_view()
def token_revoke(request: HttpRequest, pk) -> HttpResponse:
    """Revoke a token: your own at any role, anyone's as an owner."""
    context = request.tenant_context
    token = get_or_404(selectors.api_token_get, tenant=context.tenant, pk=pk)
    if token.user_id != request.user.pk:
        context.require(Role.OWNER)
    try:
        api_token_revoke(token=token, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"Token “{token.name}” revoked. Anything using it now gets 401.")
    return redirect("tenants:tokens")


# --- activity ----------------------------------------------------------------------------------


@tenant_view()
def activity(request: HttpRequest) -> HttpResponse:
    """The tenant's audit log, newest first, filtered by action and actor. The filter form
    swaps only the results through htmx, and works as a plain GET form without JavaScript."""
    tenant = request.tenant_context.tenant
    actions, actors = selectors.activity_filter_choices(tenant=tenant)
    form = ActivityFilterForm(request.GET or None, actions=actions, actors=actors)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    events = selectors.activity_list(
        tenant=tenant, action=filters.get("action", ""), actor=filters.get("actor", "")
    )
    page = paginate(request, events)
    partial = request.htmx and request.htmx.target == "activity-results"
    template = "tenants/_partials/activity_results.html" if partial else "tenants/activity.html"
    response = render(request, template, {"form": form, "page_obj": page, "filtered": bool(filters)})
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- authentication ---------------------------------------------------------------------------


class PortalLogoutView(LogoutView):
    """Logout is POST only (Django's default); say goodbye on the sign-in page."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # Message storage tries the cookie first, so this creates no anonymous session.
        messages.info(request, "You are signed out.")
        return response


class PortalPasswordResetView(PasswordResetView):
    """Django's reset view, naming the site by ``SITE_NAME`` (read per request) in the e-mail
    rather than by the request's host name."""

    def form_valid(self, form):
        self.extra_email_context = {"site_name": settings.SITE_NAME}
        return super().form_valid(form)


def _invitation_from_next(next_url: str | None) -> Invitation | None:
    """The pending invitation a sign-up's ``next`` leads back to, if any."""
    if not next_url:
        return None
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return None
    if match.view_name != "tenants:invitation":
        return None
    found = invitation_for_token(match.kwargs["token"])
    return found if found is not None and found.status == "pending" else None


def _create_account(data: dict, *, joining: bool) -> tuple:
    """The new user, and the tenant they own unless they sign up to join one by invitation."""
    if joining:
        user = user_create(email=data["email"], password=data["password1"], full_name=data["full_name"])
        return user, None
    return user_signup(
        email=data["email"],
        password=data["password1"],
        full_name=data["full_name"],
        tenant_name=data["tenant_name"],
    )


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    """Self sign-up, when ``SIGNUP_ENABLED``: a user and a tenant they own. Coming from an
    invitation link, only the user is created and they go back to accept it."""
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is closed.")
    if request.user.is_authenticated:
        return redirect("home")
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    pending = _invitation_from_next(next_url)
    form = SignupForm(
        request.POST or None,
        needs_tenant=pending is None,
        initial={"email": pending.email} if pending else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            user, tenant = _create_account(form.cleaned_data, joining=pending is not None)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            login(request, user, backend=_LOGIN_BACKEND)
            if tenant is not None:
                _make_current(request, tenant)
                messages.success(request, f"Welcome to {settings.SITE_NAME}. {tenant.name} is yours.")
            return redirect(next_url or "tenants:dashboard")
    return render(
        request, "registration/signup.html", {"form": form, "next": next_url or "", "invitation": pending}
    )
