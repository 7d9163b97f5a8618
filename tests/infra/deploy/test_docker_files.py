"""infra/deploy/Dockerfile and docker-compose.yml, read as files (Docker does not run here).

Nothing is built or started: these tests parse the compose file (PyYAML) and read the
Dockerfile, so they prove the shape (services, commands, healthchecks, volumes, a non-root
image), not that the images build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "infra" / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to read docker-compose.yml: add pyyaml to "
                    "requirements-dev.txt", pytrace=False)
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_a_service_per_procfile_process_plus_redis_and_postgres(
    compose: dict[str, Any], procfile: dict[str, list[str]],
) -> None:
    """Every Procfile name is a service; Redis and PostgreSQL come with it."""
    services = set(compose["services"])
    assert set(procfile) <= services
    assert {"redis", "postgres"} <= services


@pytest.mark.parametrize("name", ["web", "worker", "beat", "bot", "flower"])
def test_each_process_runs_its_procfile_program_from_the_image(
    compose: dict[str, Any], procfile: dict[str, list[str]], name: str,
) -> None:
    """The Procfile command, listening on the container's address; our image; env from .env."""
    service = compose["services"][name]
    # Inside a container a server binds all its addresses (published on 127.0.0.1 only), and
    # Flower reads FLOWER_BASIC_AUTH from the environment rather than from its command line.
    in_container = {
        "${WEBHOOK_BIND:-127.0.0.1:8080}": "0.0.0.0:8080",
        "--address=127.0.0.1": "--address=0.0.0.0",
        "--port=${FLOWER_PORT:-5555}": "--port=5555",
    }
    expected = [in_container.get(word, word) for word in procfile[name]
                if not word.startswith("--basic-auth=")]
    assert service["command"] == expected
    assert service["build"] == {"context": "../..", "dockerfile": "infra/deploy/Dockerfile"}
    assert service["env_file"] == "../../.env"
    assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert service["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_only_loopback_ports_are_published(compose: dict[str, Any]) -> None:
    """nginx on the host stays the only public door: every published port is 127.0.0.1."""
    published = [port for service in compose["services"].values()
                 for port in service.get("ports", [])]
    assert published
    assert all(port.startswith("127.0.0.1:") for port in published), published


def test_web_redis_and_postgres_have_healthchecks(compose: dict[str, Any]) -> None:
    """web is checked on /healthz; the stores answer their own ping."""
    services = compose["services"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def test_redis_uses_our_config_and_the_stores_keep_volumes(compose: dict[str, Any]) -> None:
    """redis.conf is mounted read-only; Redis and PostgreSQL data live in named volumes."""
    redis, postgres = compose["services"]["redis"], compose["services"]["postgres"]
    assert "./redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert "/usr/local/etc/redis/redis.conf" in " ".join(redis["command"])
    assert "redis-data:/data" in redis["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert set(compose["volumes"]) == {"redis-data", "postgres-data"}


def test_dockerfile_builds_a_non_root_python_311_image() -> None:
    """python:3.11-slim, requirements installed before the code is copied, a non-root USER."""
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    instructions = [line.split()[0] for line in lines if re.match(r"[A-Z]+ ", line)]
    assert lines[0] == "FROM python:3.11-slim"
    assert "COPY requirements.txt ." in lines
    assert "RUN pip install -r requirements.txt" in lines
    assert lines.index("RUN pip install -r requirements.txt") < lines.index("COPY . .")
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER paywall"]
    last_run = max(i for i, word in enumerate(instructions) if word == "RUN")
    assert instructions.index("USER") > last_run


def test_secrets_and_local_state_stay_out_of_the_image() -> None:
    """The Dockerfile's own ignore file excludes .env, the venv, var/ and .git."""
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".env", ".venv/", "var/", ".git/"} <= set(ignored)
