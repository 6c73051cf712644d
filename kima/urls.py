from django.contrib import admin
from django.urls import path

from kima import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("livez", health.livez, name="livez"),
    path("health", health.health, name="health"),
    path("api/health", health.health, name="api-health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/metrics", metrics.api_metrics_view, name="api-metrics"),
]
