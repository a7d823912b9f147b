from django.urls import path

from gallery import views

app_name = "gallery"

urlpatterns = [
    path("", views.item_list, name="list"),
    path("<uuid:pk>/", views.item_detail, name="detail"),
    path("<uuid:pk>/versions/<uuid:version_pk>/deploy/", views.deploy, name="deploy"),
    path("<uuid:pk>/versions/<uuid:version_pk>/deploy/fields/", views.deploy_fields, name="deploy-fields"),
]
