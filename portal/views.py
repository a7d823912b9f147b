from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache


def home(request: HttpRequest) -> HttpResponse:
    """Send each kind of user to their portal's front page."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.is_service_admin:
        return redirect("adminportal:overview")
    return redirect("tenants:dashboard")


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database check for load balancers. Public and without detail."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
