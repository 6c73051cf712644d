from typing import Any

from django.contrib import admin
from django.urls import URLPattern, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from downloads import api as downloads_api
from kima import health, metrics
from settings_app import api as settings_api
from webhooks import views as webhook_views


def kima_path(route: str, view: Any, name: str) -> URLPattern:
    """`route` (a regex without anchors) with or without a trailing slash: Kima's clients
    call both, and a redirect would turn Lidarr's POST into a body-less GET."""
    return re_path(rf"^{route}/?$", view, name=name)


JOB = r"api/downloads/(?P<job_id>[^/]+)"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("livez", health.livez, name="livez"),
    path("health", health.health, name="health"),
    path("api/health", health.health, name="api-health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/metrics", metrics.api_metrics_view, name="api-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    kima_path("api/webhooks/lidarr", webhook_views.lidarr_webhook, "lidarr-webhook"),
    kima_path("api/webhooks/lidarr/verify", webhook_views.lidarr_verify, "lidarr-webhook-verify"),
    kima_path("api/downloads", downloads_api.DownloadListView.as_view(), "downloads"),
    kima_path("api/downloads/clear-all", downloads_api.ClearAllView.as_view(),
              "downloads-clear-all"),
    kima_path(f"{JOB}/cancel", downloads_api.CancelView.as_view(), "download-cancel"),
    kima_path(f"{JOB}/retry", downloads_api.RetryView.as_view(), "download-retry"),
    kima_path(f"{JOB}/clear", downloads_api.ClearView.as_view(), "download-clear"),
    kima_path(JOB, downloads_api.DownloadDetailView.as_view(), "download"),
    kima_path("api/discover/batches", downloads_api.BatchCreateView.as_view(),
              "discovery-batches"),
    kima_path(r"api/discover/batches/(?P<batch_id>[^/]+)", downloads_api.BatchDetailView.as_view(),
              "discovery-batch"),
    kima_path("api/system-settings", settings_api.SystemSettingsView.as_view(), "system-settings"),
    kima_path("api/system-settings/test-lidarr", settings_api.LidarrConnectionTestView.as_view(),
              "system-settings-test-lidarr"),
    kima_path("api/system-settings/register-lidarr-webhook",
              settings_api.RegisterLidarrWebhookView.as_view(), "register-lidarr-webhook"),
    kima_path("api/system-settings/test-slskd", settings_api.SlskdConnectionTestView.as_view(),
              "system-settings-test-slskd"),
]  # fmt: skip
