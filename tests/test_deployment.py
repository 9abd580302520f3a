"""docker-compose.yml cannot be run here (no Docker engine): check what can be checked."""

import re
from pathlib import Path

import yaml
from django.core.management import get_commands

BASE_DIR = Path(__file__).resolve().parents[1]
PROCESSES = {"web", "worker", "beat", "streams", "sandbox"}


def load_compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def test_compose_describes_every_process_with_a_health_check():
    services = load_compose()["services"]
    assert {"postgres", "redis", *PROCESSES} <= set(services)
    for name in {"postgres", "redis", *PROCESSES}:
        check = services[name].get("healthcheck")
        assert check and check["test"], f"{name} has no health check"


def test_compose_dependencies_exist_and_wait_for_health():
    services = load_compose()["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}


def test_compose_commands_name_real_management_commands():
    services = load_compose()["services"]
    commands = set(get_commands())
    for name, service in services.items():
        command = service.get("command") or []
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in commands, f"{name} runs unknown command {command[2]}"


def test_env_example_documents_every_setting_read_from_the_environment():
    text = (BASE_DIR / ".env.example").read_text()
    settings_source = (BASE_DIR / "klineo" / "settings.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_source))
    names -= {"KLINEO_TESTING", "KLINEO_ENV_FILE"}
    readme = (BASE_DIR / "README.md").read_text()
    missing = sorted(name for name in names if name not in text and name not in readme)
    assert missing == [], f"settings read from the environment but not documented: {missing}"
