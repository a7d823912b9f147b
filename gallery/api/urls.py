"""Tenant gallery API routes, included by portal/api/urls.py into the ``api`` namespace."""

from django.urls import path

from gallery.api import views

urlpatterns = [
    path("gallery/items/", views.GalleryItemListApi.as_view(), name="gallery-item-list"),
    path("gallery/items/<uuid:pk>/", views.GalleryItemDetailApi.as_view(), name="gallery-item-detail"),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/",
        views.GalleryVersionDetailApi.as_view(),
        name="gallery-version-detail",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/validate/",
        views.GalleryVersionValidateApi.as_view(),
        name="gallery-version-validate",
    ),
]
