from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from portal import views
from portal.api.docs import SwaggerDocsView

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("accounts/", include("tenants.urls_auth")),
    path("", include("tenants.urls", namespace="tenants")),
    path("subscriptions/", include("subscriptions.urls", namespace="subscriptions")),
    path("gallery/", include("gallery.urls", namespace="gallery")),
    path("compute/", include("compute.urls", namespace="compute")),
    path("manage/", include("adminportal.urls", namespace="adminportal")),
    path("api/v1/", include("portal.api.urls", namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's initialiser is served as a script file, which the CSP allows; the page's one
    # inline <style> is allowed by its hash (see portal.api.docs).
    path("api/docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    # Django's own admin site is a debugging aid, not the admin portal (that is /manage/).
    urlpatterns.append(path("django-admin/", admin.site.urls))
