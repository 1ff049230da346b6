"""What work a runner starts inherits from the server's environment: neither its secrets nor any AWS_* variable.

The end-to-end check (a model server's code finds no AWS key) is test_job_secrets.py's; this pins the list.
"""

from __future__ import annotations

from shipyard.runners.base import inherited_environment

HOST_AWS = {"AWS_ACCESS_KEY_ID": "AKIAHOST", "AWS_SECRET_ACCESS_KEY": "host-secret", "AWS_SESSION_TOKEN": "tok",
            "AWS_PROFILE": "prod", "AWS_SHARED_CREDENTIALS_FILE": "/root/.aws/credentials",
            "AWS_CONFIG_FILE": "/root/.aws/config", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/creds", "AWS_ENDPOINT_URL": "http://s3"}
SERVER_SECRETS = {"SHIPYARD_SECRET_ACCESS_KEY": "s", "SHIPYARD_ACCESS_KEY_ID": "k",
                  "SHIPYARD_DATABASE_URL": "postgresql://u:p@db/x", "SHIPYARD_OBJECT_STORE_URL": "s3://?secret_key=x"}


def test_work_inherits_no_aws_variable_and_no_server_secret(monkeypatch):
    for name, value in {**HOST_AWS, **SERVER_SECRETS, "SHIPYARD_HOME": "/srv/home", "LANG": "C.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    env = inherited_environment()
    assert sorted(k for k in env if k.startswith("AWS_")) == []
    assert not set(SERVER_SECRETS) & set(env)
    assert (env["LANG"], env["SHIPYARD_HOME"]) == ("C.UTF-8", "/srv/home")  # the rest is inherited
