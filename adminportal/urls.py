app_name = "adminportal"
urlpatterns: list = []
