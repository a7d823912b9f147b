"""Tenant portal pages for plans and subscriptions (namespace ``subscriptions``)."""

from django.urls import path

from subscriptions import views

app_name = "subscriptions"

urlpatterns = [
    path("", views.subscription_index, name="list"),
    path("plans/", views.plans, name="plans"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/rename/", views.rename, name="rename"),
    path("<uuid:pk>/cancel/", views.cancel, name="cancel"),
    path("<uuid:pk>/addons/", views.addon_add, name="addon_add"),
    path("<uuid:pk>/addons/<uuid:addon_pk>/remove/", views.addon_remove, name="addon_remove"),
]
