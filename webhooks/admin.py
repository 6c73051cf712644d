"""Webhook events in the admin: filters, search by downloadId or album, a readable
payload, replay and mark-resolved actions, and a 24-hour summary on the list page."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from settings_app import services as settings_service
from webhooks import services
from webhooks.models import LidarrHealthIssue, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_type", "status", "download_id", "album", "retry_count",
                    "correlation_id", "short_outcome")  # fmt: skip
    list_filter = ("event_type", "status", "processed", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("event_id", "correlation_id")
    ordering = ("-created_at",)
    actions = ("replay_events", "mark_resolved")
    readonly_fields = ("id", "event_id", "source", "event_type", "status", "processed",
                       "processed_at", "correlation_id", "outcome", "error", "retry_count",
                       "claimed_at", "next_attempt_at", "created_at", "readable_payload")  # fmt: skip
    exclude = ("payload",)
    list_per_page = 100
    change_list_template = "admin/webhooks/webhookevent/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # events are facts; the actions are the only way to act on them

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:  # downloadId, album title or id anywhere in the body
            by_payload = queryset.annotate(body=Cast("payload", TextField())).filter(
                body__icontains=search_term
            )
            results = results | queryset.filter(pk__in=by_payload.values("pk"))
        return results, duplicates

    @admin.display(description="downloadId")
    def download_id(self, event: WebhookEvent) -> str:
        payload = event.payload if isinstance(event.payload, dict) else {}
        return str(payload.get("downloadId") or "")

    @admin.display(description="album")
    def album(self, event: WebhookEvent) -> str:
        payload = event.payload if isinstance(event.payload, dict) else {}
        albums = [payload.get("album")] + list(payload.get("albums") or [])
        titles = [a.get("title") for a in albums if isinstance(a, dict) and a.get("title")]
        return ", ".join(map(str, titles))[:80]

    @admin.display(description="outcome")
    def short_outcome(self, event: WebhookEvent) -> str:
        return (event.error or event.outcome or "")[:80]

    @admin.display(description="payload")
    def readable_payload(self, event: WebhookEvent) -> str:
        text = json.dumps(event.payload, indent=2, ensure_ascii=False, sort_keys=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(description="Replay the selected events")
    def replay_events(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.replay(list(queryset.values_list("pk", flat=True)))
        messages.success(request, f"{count} event(s) queued for processing again.")

    @admin.action(description="Mark the selected failed or dead events resolved")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.resolve(list(queryset.values_list("pk", flat=True)),
                                 request.user.get_username())  # fmt: skip
        messages.success(request, f"{count} event(s) marked resolved.")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        current = settings_service.effective()
        if current.lidarr_enabled and not current.webhook_auth_configured:
            messages.warning(request, "Lidarr webhooks are accepted without authentication: "
                             "set a webhook secret or user name and password in the settings.")  # fmt: skip
        context = {"summary": services.summary(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)


@admin.register(LidarrHealthIssue)
class LidarrHealthIssueAdmin(admin.ModelAdmin):
    list_display = ("check_type", "level", "message", "reported_at", "restored_at")
    list_filter = ("level",)
    readonly_fields = ("check_type", "level", "message", "wiki_url", "reported_at", "restored_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
