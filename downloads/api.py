"""`/api/downloads` and `/api/discover/batches` (Kima's paths and JSON names).

Every query is scoped to the caller: another user's job or batch is a 404, never a 403,
so ids cannot be probed. State changes go through `downloads.services`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from downloads import batches, services
from downloads.models import DiscoveryBatch, DownloadJob, JobStatus, JobType


class Conflict(APIException):
    status_code = 409
    default_detail = "This change is not allowed in the download's current state"


class DownloadJobSerializer(serializers.ModelSerializer):
    userId = serializers.CharField(source="user_id", read_only=True)
    targetMbid = serializers.CharField(source="target_mbid", allow_null=True)
    lidarrRef = serializers.CharField(source="lidarr_ref", allow_null=True)
    lidarrAlbumId = serializers.IntegerField(source="lidarr_album_id", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    discoveryBatchId = serializers.CharField(source="discovery_batch_id", allow_null=True)
    triedReleases = serializers.ListField(source="tried_releases", child=serializers.CharField())
    releaseIndex = serializers.IntegerField(source="release_index")
    artistMbid = serializers.CharField(source="artist_mbid", allow_null=True)
    correlationId = serializers.CharField(source="correlation_id", allow_null=True)
    downloadType = serializers.SerializerMethodField()
    statusText = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = DownloadJob
        fields = ["id", "userId", "subject", "type", "targetMbid", "status", "error", "lidarrRef",
                  "lidarrAlbumId", "metadata", "attempts", "startedAt", "completedAt",
                  "createdAt", "updatedAt", "discoveryBatchId", "triedReleases", "releaseIndex",
                  "artistMbid", "cleared", "correlationId", "downloadType", "statusText",
                  "progress"]  # fmt: skip
        read_only_fields = fields

    def get_downloadType(self, job: DownloadJob) -> str:
        return (job.metadata or {}).get("downloadType", "library")

    def get_statusText(self, job: DownloadJob) -> str | None:
        return (job.metadata or {}).get("statusText")

    def get_progress(self, job: DownloadJob) -> int | None:
        """Percent done (bytes when known, else tracks); null when nothing is known yet."""
        return services.progress_percent(job)


class DownloadRequestSerializer(serializers.Serializer):
    type = serializers.CharField(default="album", help_text="Only `album` is supported.")
    mbid = serializers.CharField(max_length=100, help_text="MusicBrainz release-group id")
    subject = serializers.CharField(max_length=500)
    artistName = serializers.CharField(max_length=500, required=False, allow_blank=True)
    albumTitle = serializers.CharField(max_length=500, required=False, allow_blank=True)
    downloadType = serializers.ChoiceField(choices=["library", "discovery"], default="library")
    discoveryBatchId = serializers.CharField(max_length=64, required=False, allow_null=True)

    def validate_type(self, value: str) -> str:
        if value != "album":
            raise serializers.ValidationError("only album downloads are supported here")
        return value

    def validate_mbid(self, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise serializers.ValidationError("must not be blank")
        return value.strip()

    def validate_subject(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("must not contain NUL")
        return value


class DownloadCreatedSerializer(DownloadJobSerializer):
    duplicate = serializers.BooleanField(read_only=True, default=False)
    message = serializers.CharField(read_only=True)

    class Meta(DownloadJobSerializer.Meta):
        fields = [*DownloadJobSerializer.Meta.fields, "duplicate", "message"]
        read_only_fields = fields


class DownloadPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = settings.DOWNLOAD_PAGE_SIZE_MAX


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() in ("1", "true", "yes")


def _user_job(request: Request, job_id: str) -> DownloadJob:
    return get_object_or_404(DownloadJob, pk=job_id, user=request.user)


LIST_PARAMETERS = [
    OpenApiParameter("status", str, enum=JobStatus.values),
    OpenApiParameter("type", str, enum=JobType.values),
    OpenApiParameter("batch", str, description="discovery batch id"),
    OpenApiParameter("includeCleared", bool),
    OpenApiParameter("includeDiscovery", bool),
    OpenApiParameter("page", int),
    OpenApiParameter("pageSize", int, description=f"at most {settings.DOWNLOAD_PAGE_SIZE_MAX}"),
]


class DownloadListView(APIView):
    @extend_schema(parameters=LIST_PARAMETERS, responses=DownloadJobSerializer(many=True),
                   summary="The caller's download jobs, newest first")  # fmt: skip
    def get(self, request: Request) -> Response:
        jobs = DownloadJob.objects.filter(user=request.user).order_by("-created_at", "-id")
        filters = {"status": JobStatus.values, "type": JobType.values}
        for name, allowed in filters.items():
            value = request.query_params.get(name)
            if value is not None and value not in allowed:
                raise serializers.ValidationError({name: [f"must be one of: {', '.join(allowed)}"]})
            if value is not None:
                jobs = jobs.filter(**{name: value})
        if request.query_params.get("batch"):
            jobs = jobs.filter(discovery_batch_id=request.query_params["batch"])
        if not _flag(request, "includeCleared"):
            jobs = jobs.filter(cleared=False)
        if not _flag(request, "includeDiscovery") and not request.query_params.get("batch"):
            jobs = jobs.exclude(metadata__downloadType="discovery")
        paginator = DownloadPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(DownloadJobSerializer(page, many=True).data)

    @extend_schema(request=DownloadRequestSerializer,
                   responses={200: DownloadCreatedSerializer, 201: DownloadCreatedSerializer},
                   summary="Request an album (idempotent per user, album and batch)")  # fmt: skip
    def post(self, request: Request) -> Response:
        form = DownloadRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        batch_id = data.get("discoveryBatchId")
        if batch_id and services.user_batch(request.user, batch_id) is None:
            raise serializers.ValidationError({"discoveryBatchId": ["no such discovery batch"]})
        job, created = services.request_album(request.user, services.AlbumRequest(
            mbid=data["mbid"], subject=data["subject"], artist_name=data.get("artistName"),
            album_title=data.get("albumTitle"), download_type=data["downloadType"],
            batch_id=batch_id,
        ))  # fmt: skip
        body = {**DownloadJobSerializer(job).data, "duplicate": not created,
                "message": "Download job created" if created else "Download already in progress"}  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DownloadDetailView(APIView):
    @extend_schema(responses=DownloadJobSerializer, summary="One of the caller's jobs")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(DownloadJobSerializer(_user_job(request, job_id)).data)

    @extend_schema(responses={204: None}, summary="Delete a finished job (409 while active)")
    def delete(self, request: Request, job_id: str) -> Response:
        try:
            services.delete(_user_job(request, job_id))
        except services.TransitionNotAllowed as error:
            raise Conflict(str(error)) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class _JobAction(APIView):
    def act(self, job: DownloadJob) -> DownloadJob:
        raise NotImplementedError

    @extend_schema(request=None, responses=DownloadJobSerializer)
    def post(self, request: Request, job_id: str) -> Response:
        job = _user_job(request, job_id)
        try:
            result = self.act(job)
        except services.TransitionNotAllowed as error:
            raise Conflict(str(error)) from error
        result.refresh_from_db()
        return Response(DownloadJobSerializer(result).data)


class CancelView(_JobAction):
    def act(self, job: DownloadJob) -> DownloadJob:
        services.cancel(job)
        return job


class RetryView(_JobAction):
    def act(self, job: DownloadJob) -> DownloadJob:
        return services.retry(job)


class ClearView(_JobAction):
    def act(self, job: DownloadJob) -> DownloadJob:
        services.clear(job)
        return job


class ClearAllView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[s for s in JobStatus.values
                                                          if s not in ("pending", "processing")])],
        responses=inline_serializer("ClearAll", {"success": serializers.BooleanField(),
                                                 "deleted": serializers.IntegerField(),
                                                 "keptActive": serializers.IntegerField()}),
        summary="Delete the caller's finished jobs (active ones are kept)",
    )  # fmt: skip
    def delete(self, request: Request) -> Response:
        jobs = DownloadJob.objects.filter(user=request.user)
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in services.FINISHED_STATUSES:
                raise serializers.ValidationError(
                    {"status": ["must be one of: " + ", ".join(services.FINISHED_STATUSES)]}
                )
            jobs = jobs.filter(status=wanted)
        deleted, kept = services.delete_finished(jobs)
        return Response({"success": True, "deleted": deleted, "keptActive": kept})


# ---------------------------------------------------------------------------
# Discovery batches
# ---------------------------------------------------------------------------


class BatchAlbumSerializer(serializers.Serializer):
    mbid = serializers.CharField(max_length=100)
    subject = serializers.CharField(max_length=500)
    artistName = serializers.CharField(max_length=500, required=False, allow_blank=True)
    albumTitle = serializers.CharField(max_length=500, required=False, allow_blank=True)


class BatchCreateSerializer(serializers.Serializer):
    albums = BatchAlbumSerializer(many=True, allow_empty=False, max_length=500)
    targetSongCount = serializers.IntegerField(min_value=0, max_value=10000, default=0)


def batch_body(batch: DiscoveryBatch) -> dict[str, Any]:
    return {"id": batch.pk, "status": batch.status, "weekStart": batch.week_start,
            "targetSongCount": batch.target_song_count, "totalAlbums": batch.total_albums,
            "completedAlbums": batch.completed_albums, "failedAlbums": batch.failed_albums,
            "errorMessage": batch.error_message, "createdAt": batch.created_at,
            "completedAt": batch.completed_at, "version": batch.version,
            "progress": batches.progress(batch)}  # fmt: skip


BATCH_SCHEMA = inline_serializer("DiscoveryBatch", {
    "id": serializers.CharField(), "status": serializers.CharField(),
    "totalAlbums": serializers.IntegerField(), "completedAlbums": serializers.IntegerField(),
    "failedAlbums": serializers.IntegerField(), "progress": serializers.DictField(),
})  # fmt: skip


class BatchCreateView(APIView):
    @extend_schema(request=BatchCreateSerializer, responses={201: BATCH_SCHEMA},
                   summary="Create a discovery batch with its albums")  # fmt: skip
    def post(self, request: Request) -> Response:
        form = BatchCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        created = batches.create(request.user, form.validated_data["albums"],
                                 form.validated_data["targetSongCount"])  # fmt: skip
        body = {**batch_body(created.batch), "jobIds": [job.pk for job in created.jobs],
                "skipped": created.skipped}  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED)


class BatchDetailView(APIView):
    @extend_schema(responses=BATCH_SCHEMA, summary="A discovery batch's status and progress")
    def get(self, request: Request, batch_id: str) -> Response:
        batch = get_object_or_404(DiscoveryBatch, pk=batch_id, user=request.user)
        return Response(batch_body(batch))
