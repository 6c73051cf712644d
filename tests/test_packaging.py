"""The Dockerfile, the compose file and .env.example, checked by parsing them (no Docker
engine runs here), and kept consistent with the settings the code reads."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
# Set by the image or the compose file itself, or Kima's legacy names, or development only.
NOT_FOR_OPERATORS = {"DATA_DIR", "DATABASE_URL", "REDIS_URL", "PRODUCTION", "STATIC_ROOT",
                     "PROMETHEUS_MULTIPROC_DIR", "PORT", "DEBUG", "ENCRYPTION_KEY",
                     "SESSION_SECRET", "SKIP_MIGRATE", "KIMA_ALLOW_ROOT", "PYTHON", "GUNICORN",
                     "CELERY", "APP_DIR", "TEST_POSTGRES_URL", "CI"}  # fmt: skip


def final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def env_example_names() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))


def test_the_image_is_multi_stage_slim_and_non_root():
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) >= 2
    stage = final_stage()
    assert "slim" in stage.splitlines()[1]
    users = re.findall(r"^USER (\S+)", stage, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "PYTHONUNBUFFERED=1" in stage
    assert "/livez" in stage.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["/app/bin/entrypoint"]' in stage
    assert "collectstatic" in DOCKERFILE[: DOCKERFILE.rindex("\nFROM ")]  # at build time
    assert "gcc" not in stage and "build-essential" not in stage


def test_the_image_copies_every_app_the_settings_install():
    from django.conf import settings

    local_apps = [app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()]
    for app in local_apps + ["templates"]:
        assert re.search(rf"^COPY {app} {app}$", DOCKERFILE, re.M), app


def test_compose_runs_the_whole_stack_with_health_checks():
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "slskd"} <= set(SERVICES)
    assert SERVICES["postgres"]["image"] == "pgvector/pgvector:pg16"  # Kima's: with pgvector
    assert SERVICES["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis"):
        assert SERVICES[name]["healthcheck"]["test"], name
        assert any(":/" in volume for volume in SERVICES[name]["volumes"]), name


def test_migrations_run_once_and_everything_waits_for_them():
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert SERVICES["web"]["environment"]["SKIP_MIGRATE"] == "true"


def test_one_beat_and_metrics_per_web_container():
    assert SERVICES["beat"]["command"] == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert SERVICES["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"] in SERVICES["web"]["tmpfs"]


def test_slskd_is_optional_and_shares_downloads_with_the_worker():
    assert SERVICES["slskd"]["profiles"] == ["soulseek"]
    mounts = {service: {v.split(":")[0]: v.split(":")[1] for v in SERVICES[service]["volumes"]}
              for service in ("slskd", "worker")}  # fmt: skip
    assert mounts["slskd"]["downloads"] == mounts["worker"]["downloads"] == "/downloads"
    assert SERVICES["slskd"]["environment"]["SLSKD_DOWNLOADS_DIR"].startswith("/downloads")


def test_no_service_of_ours_runs_as_root():
    for name in ("migrate", "web", "worker", "beat", "slskd"):
        assert SERVICES[name].get("user") not in ("root", "0", "0:0"), name


def test_env_example_has_no_inline_comments():
    # Compose keeps `KEY=   # note` as the value "# note" (a published "secret").
    inline = [line for line in ENV_EXAMPLE.splitlines() if re.match(r"^[A-Z_0-9]+=.*\s#", line)]
    assert inline == []


def test_services_get_time_to_stop_and_signals():
    for name in ("migrate", "web", "worker", "beat"):
        assert SERVICES[name]["init"] is True, name
    assert SERVICES["worker"]["stop_grace_period"] == "5m"
    assert SERVICES["web"]["stop_grace_period"] == "30s"
    app = SERVICES["worker"]["environment"]["DATABASE_URL"]
    assert app.startswith("${DATABASE_URL:-"), "an existing Kima database must be adoptable"


def test_every_variable_compose_uses_is_in_env_example():
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used - env_example_names() == set()


def test_every_setting_the_code_reads_is_documented_in_env_example():
    from settings_app.services import FIELDS

    apps = ("kima", "accounts", "settings_app", "downloads", "webhooks")
    sources = [path for app in apps for path in (ROOT / app).rglob("*.py")]
    sources.append(ROOT / "gunicorn.conf.py")
    read = set()
    for path in sources:
        text = path.read_text()
        read |= set(re.findall(r'env_(?:str|int|bool|list)\(\s*"([A-Z_]+)"', text))
        read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', text))
    read |= {field.env for field in FIELDS if field.env}
    assert read - env_example_names() - NOT_FOR_OPERATORS == set()
