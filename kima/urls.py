from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from downloads import api as downloads_api
from kima import health, metrics
from settings_app import api as settings_api
from webhooks import views as webhook_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("livez", health.livez, name="livez"),
    path("health", health.health, name="health"),
    path("api/health", health.health, name="api-health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/metrics", metrics.api_metrics_view, name="api-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Kima's clients call these with and without a trailing slash; never redirect.
    re_path(r"^api/webhooks/lidarr/?$", webhook_views.lidarr_webhook, name="lidarr-webhook"),
    re_path(r"^api/webhooks/lidarr/verify/?$", webhook_views.lidarr_verify,
            name="lidarr-webhook-verify"),
    re_path(r"^api/downloads/?$", downloads_api.DownloadListView.as_view(), name="downloads"),
    re_path(r"^api/downloads/clear-all/?$", downloads_api.ClearAllView.as_view(),
            name="downloads-clear-all"),
    re_path(r"^api/downloads/(?P<job_id>[^/]+)/cancel/?$", downloads_api.CancelView.as_view(),
            name="download-cancel"),
    re_path(r"^api/downloads/(?P<job_id>[^/]+)/retry/?$", downloads_api.RetryView.as_view(),
            name="download-retry"),
    re_path(r"^api/downloads/(?P<job_id>[^/]+)/clear/?$", downloads_api.ClearView.as_view(),
            name="download-clear"),
    re_path(r"^api/downloads/(?P<job_id>[^/]+)/?$", downloads_api.DownloadDetailView.as_view(),
            name="download"),
    re_path(r"^api/discover/batches/?$", downloads_api.BatchCreateView.as_view(),
            name="discovery-batches"),
    re_path(r"^api/discover/batches/(?P<batch_id>[^/]+)/?$",
            downloads_api.BatchDetailView.as_view(), name="discovery-batch"),
    re_path(r"^api/system-settings/?$", settings_api.SystemSettingsView.as_view(),
            name="system-settings"),
    re_path(r"^api/system-settings/test-lidarr/?$",
            settings_api.LidarrConnectionTestView.as_view(), name="system-settings-test-lidarr"),
    re_path(r"^api/system-settings/register-lidarr-webhook/?$",
            settings_api.RegisterLidarrWebhookView.as_view(), name="register-lidarr-webhook"),
    re_path(r"^api/system-settings/test-slskd/?$",
            settings_api.SlskdConnectionTestView.as_view(), name="system-settings-test-slskd"),
]  # fmt: skip
