"""Plan and subscription API routes, included by portal/api/urls.py into the ``api`` namespace."""

from django.urls import path

from subscriptions.api import views

urlpatterns = [
    path("plans/", views.PlanListApi.as_view(), name="plan-list"),
    path("plans/<uuid:pk>/", views.PlanDetailApi.as_view(), name="plan-detail"),
    path("subscriptions/", views.SubscriptionListApi.as_view(), name="subscription-list"),
    path("subscriptions/<uuid:pk>/", views.SubscriptionDetailApi.as_view(), name="subscription-detail"),
    path(
        "subscriptions/<uuid:pk>/cancel/", views.SubscriptionCancelApi.as_view(), name="subscription-cancel"
    ),
    path("subscriptions/<uuid:pk>/quota/", views.SubscriptionQuotaApi.as_view(), name="subscription-quota"),
    path(
        "subscriptions/<uuid:pk>/addons/",
        views.SubscriptionAddOnListApi.as_view(),
        name="subscription-addon-list",
    ),
    path(
        "subscriptions/<uuid:pk>/addons/<uuid:addon_pk>/",
        views.SubscriptionAddOnDetailApi.as_view(),
        name="subscription-addon-detail",
    ),
]
