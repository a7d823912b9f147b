"""Tenant portal pages (namespace ``tenants``, mounted at the site root)."""

from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("welcome/", views.onboarding, name="onboarding"),
    path("tenant/switch/", views.switch, name="switch"),
    path("tenants/new/", views.create, name="create"),
    path("team/", views.team, name="team"),
    path("team/members/<uuid:pk>/role/", views.member_role, name="member_role"),
    path("team/members/<uuid:pk>/remove/", views.member_remove, name="member_remove"),
    path("team/invitations/", views.invitation_new, name="invitation_create"),
    path("team/invitations/<uuid:pk>/revoke/", views.invitation_cancel, name="invitation_revoke"),
    # Public: the link from the invitation e-mail. The token is the secret; only its hash is stored.
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<uuid:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("activity/", views.activity, name="activity"),
]
