"""Tenant API routes, included by portal/api/urls.py into the ``api`` namespace."""

from django.urls import path

from tenants.api import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("tenant/", views.TenantApi.as_view(), name="tenant"),
    path("members/", views.MemberListApi.as_view(), name="member-list"),
    path("members/<uuid:pk>/", views.MemberDetailApi.as_view(), name="member-detail"),
    path("invitations/", views.InvitationListApi.as_view(), name="invitation-list"),
    path("invitations/<uuid:pk>/", views.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("invitations/<uuid:pk>/revoke/", views.InvitationRevokeApi.as_view(), name="invitation-revoke"),
    path("tokens/", views.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<uuid:pk>/", views.ApiTokenDetailApi.as_view(), name="token-detail"),
    path("tokens/<uuid:pk>/revoke/", views.ApiTokenRevokeApi.as_view(), name="token-revoke"),
    path("activity/", views.ActivityListApi.as_view(), name="activity-list"),
]
