"""Server settings: the home folder, the key pair, the store URLs. Read from flags and environment.

Only ``cli`` and ``server`` read this; everything below them receives plain values.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 7070
DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def default_home() -> Path:
    return Path(os.environ.get("SHIPYARD_HOME", Path.home() / ".shipyard")).expanduser()


@dataclass
class Settings:
    home: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    access_key_id: str = ""
    secret_access_key: str = ""
    database_url: str = ""
    object_store_url: str = ""  # file:///... (default) or s3://?endpoint_url=...
    runner: str = "local"
    ray_address: str = ""
    # Local runner: True refuses an instance type bigger than this machine (ResourceLimitExceeded) instead of
    # treating the type as a label and capping the job at the machine (SHIPYARD_STRICT_INSTANCE_TYPES=1).
    strict_instance_types: bool = False
    container_engine: str = ""  # docker or podman client, a name on PATH or a path; "" = first found (containers/)
    registry_binary: str = "docker-registry"  # the distribution server the ECR API starts (containers/registry.py)
    # Caps on every archive Shipyard unpacks (io/archives.py): set here, passed to jobs in their job.json, never
    # read from an unpacking process's environment (SHIPYARD_MAX_EXTRACT_BYTES / _MEMBERS; 0 = the default).
    max_extract_bytes: int = 0
    max_extract_members: int = 0
    # Model registry (resources/model_package.py): refuse to deploy a model package that is not Approved
    # (SHIPYARD_REQUIRE_APPROVAL=1, `shipyard server --require-approval`; off by default, as on AWS), and the
    # URLs that receive its "SageMaker Model Package State Change" events (SHIPYARD_WEBHOOKS, comma-separated).
    require_approval: bool = False
    webhooks: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def archive_caps(self) -> dict[str, int]:
        """The archive caps as a job.json carries them (``io.archives.Caps.from_json``; 0: the default)."""
        return {"max_bytes": self.max_extract_bytes, "max_members": self.max_extract_members}

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


PRIVATE_UMASK = 0o077  # the server's files (database, objects, logs, job folders) are the user's alone


def secure_home(home: Path) -> None:
    """Create the home folder private to the user (0700), and make an existing one so."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(home, 0o700)
    except OSError:  # not ours (a shared mount, say): leave it as its owner set it
        pass


def private_umask() -> int:
    """Make files the server process (and everything it starts) creates private: 0600 files, 0700 folders."""
    return os.umask(PRIVATE_UMASK)


def _load_or_create_keys(home: Path) -> tuple[str, str]:
    """The server's own key pair: created once in the home folder, kept private to the user."""
    path = home / "credentials.json"
    if path.exists():
        data = json.loads(path.read_text())
        return data["access_key_id"], data["secret_access_key"]
    alphabet = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    secure_home(home)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps({"access_key_id": key_id, "secret_access_key": secret}))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key_id, secret


def _count(raw: str | None) -> int:
    """A positive whole number from a setting, or 0 (use the default) when unset or invalid."""
    try:
        value = int((raw or "").strip())
    except ValueError:
        return 0
    return max(value, 0)


def load_settings(home: str | Path | None = None, host: str | None = None, port: int | None = None,
                  **overrides) -> Settings:
    env = os.environ
    home_path = Path(home).expanduser() if home else default_home()
    secure_home(home_path)
    key_id, secret = _load_or_create_keys(home_path)
    s = Settings(
        home=home_path,
        host=host or env.get("SHIPYARD_HOST", DEFAULT_HOST),
        port=int(port or env.get("SHIPYARD_PORT", DEFAULT_PORT)),
        region=env.get("SHIPYARD_REGION", DEFAULT_REGION),
        account=env.get("SHIPYARD_ACCOUNT", DEFAULT_ACCOUNT),
        access_key_id=env.get("SHIPYARD_ACCESS_KEY_ID", key_id),
        secret_access_key=env.get("SHIPYARD_SECRET_ACCESS_KEY", secret),
        database_url=env.get("SHIPYARD_DATABASE_URL", f"sqlite:///{home_path / 'shipyard.db'}"),
        object_store_url=env.get("SHIPYARD_OBJECT_STORE_URL", (home_path / "objects").as_uri()),
        runner=env.get("SHIPYARD_RUNNER", "local"),
        ray_address=env.get("RAY_ADDRESS", ""),
        strict_instance_types=env.get("SHIPYARD_STRICT_INSTANCE_TYPES", "").strip().lower()
        in ("1", "true", "yes", "on"),
        container_engine=env.get("SHIPYARD_CONTAINER_ENGINE", ""),
        registry_binary=env.get("SHIPYARD_REGISTRY_BINARY", "docker-registry"),
        max_extract_bytes=_count(env.get("SHIPYARD_MAX_EXTRACT_BYTES")),
        max_extract_members=_count(env.get("SHIPYARD_MAX_EXTRACT_MEMBERS")),
        require_approval=env.get("SHIPYARD_REQUIRE_APPROVAL", "").strip().lower() in ("1", "true", "yes", "on"),
        webhooks=[u.strip() for u in env.get("SHIPYARD_WEBHOOKS", "").split(",") if u.strip()],
    )
    for k, v in overrides.items():
        if v is not None:
            setattr(s, k, v)
    return s
