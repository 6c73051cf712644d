"""Download jobs and discovery batches in the admin: filters, a progress bar, retry and
cancel actions (through `downloads.services`), batches with their jobs inline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from downloads import services
from downloads.models import DiscoveryBatch, DownloadJob, Notification


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list:
        return [("lidarr", "Lidarr"), ("soulseek", "Soulseek"), ("none", "Not started")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "none":
            return queryset.filter(metadata__currentSource__isnull=True)
        if self.value():
            return queryset.filter(metadata__currentSource=self.value())
        return queryset


def progress_bar(job: DownloadJob) -> str:
    percent = services.progress_percent(job)
    if percent is None:
        return "—"
    return format_html('<progress max="100" value="{}" title="{}%"></progress> {}%',
                       percent, percent, percent)  # fmt: skip


@admin.register(DownloadJob)
class DownloadJobAdmin(admin.ModelAdmin):
    list_display = ("subject", "user", "status", "source", "progress", "attempts", "created_at",
                    "status_text")  # fmt: skip
    list_filter = ("status", SourceFilter, "user", "discovery_batch", "cleared")
    search_fields = ("subject", "target_mbid", "lidarr_ref", "id")
    ordering = ("-created_at",)
    actions = ("retry_jobs", "cancel_jobs")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # state changes go through the actions, which keep the rules

    @admin.display(description="source")
    def source(self, job: DownloadJob) -> str:
        return (job.metadata or {}).get("currentSource") or "—"

    @admin.display(description="progress")
    def progress(self, job: DownloadJob) -> str:
        return progress_bar(job)

    @admin.display(description="status text")
    def status_text(self, job: DownloadJob) -> str:
        return ((job.metadata or {}).get("statusText") or job.error or "")[:80]

    @admin.action(description="Retry the selected failed or exhausted jobs")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.retry, "retried")

    @admin.action(description="Cancel the selected active jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.cancel, "cancelled")

    def _each(self, request: HttpRequest, queryset: QuerySet, action: Any, verb: str) -> None:
        done, refused = 0, []
        for job in queryset:
            try:
                action(job)
                done += 1
            except services.TransitionNotAllowed as error:
                refused.append(f"{job.subject}: {error}")
        messages.success(request, f"{done} job(s) {verb}.")
        for line in refused[:20]:
            messages.warning(request, line)


class JobInline(admin.TabularInline):
    model = DownloadJob
    fields = ("subject", "status", "attempts", "error", "completed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DiscoveryBatch)
class DiscoveryBatchAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "status", "total_albums", "completed_albums", "failed_albums",
                    "created_at", "completed_at")  # fmt: skip
    list_filter = ("status", "user")
    readonly_fields = ("user", "week_start", "target_song_count", "status", "total_albums",
                       "completed_albums", "failed_albums", "final_song_count", "logs",
                       "error_message", "created_at", "completed_at", "version")  # fmt: skip
    exclude = ()
    inlines = [JobInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "type", "title", "read", "cleared")
    list_filter = ("type", "read", "cleared")
    readonly_fields = ("user", "type", "title", "message", "metadata", "created_at")
