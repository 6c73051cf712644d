from django.contrib import admin
from django.urls import path

from kima import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("livez", health.livez, name="livez"),
    path("health", health.health, name="health"),
    path("api/health", health.health, name="api-health"),
]
