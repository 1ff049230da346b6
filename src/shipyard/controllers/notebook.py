"""Notebook instances: run the lifecycle scripts, start and stop each instance's JupyterLab.

Each reconcile reads the store (so a restart resumes): a Pending instance gets its OnCreate script (once in
its life), its OnStart script, then a JupyterLab on a free loopback port with a fresh login token, and becomes
InService when JupyterLab answers; an InService instance whose JupyterLab is gone (a crash, a reboot) is
started again, one whose process is still alive (a server restart) is simply kept; Stopping ends the process
group and becomes Stopped; Deleting ends it, removes the folder and the record. Script output goes to the
CloudWatch Logs group ``/aws/sagemaker/NotebookInstances``, streams ``<name>/LifecycleConfigOnCreate`` and
``<name>/LifecycleConfigOnStart``, as on AWS.

JupyterLab (and so every kernel) never holds the server's key: each start issues the instance a key of its own
(:meth:`shipyard.domain.users.Users.issue_for_notebook`, owner ``notebook-instance/<name>``), put in JupyterLab's
environment as ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and revoked when the instance stops, fails or is
deleted, and at server start for every instance no longer in service. The key's role is admin: the instance acts
for whoever created it. SageMaker would scope it by the instance's RoleArn; Shipyard does not model IAM policies.

The lifecycle scripts, JupyterLab and its kernels run in the job sandbox (:mod:`shipyard.runners.sandbox`) where
the host allows it and job isolation is on (``SHIPYARD_JOB_ISOLATION``): the server's home is hidden (its
credentials file and database included) but for the instance's own folder, writable at its own path, and the
environments, read-only; ``/tmp`` is private; the network is the host's (JupyterLab listens on loopback and the
kernels reach the server there). They get the instance's key, not the server's environment: ``SHIPYARD_*`` and
``AWS_*`` variables are dropped before the instance's ``AWS_*`` are set.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..domain import users as _users
from ..domain.notebook_state import NotebookState
from ..metastore.base import LogEvent, Resource
from ..procs import alive, cmdline
from ..errors import ShipyardError
from ..resources import code_repository
from ..resources import notebook_instance as nb
from ..runners.sandbox import Sandbox, isolation_enabled, wrap
from .base import Controller

log = logging.getLogger("shipyard.controllers.notebook")

SCRIPT_TIMEOUT_S = 300.0  # AWS fails an instance whose lifecycle script runs longer than five minutes
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lab_alive(state: NotebookState, folder: Path) -> bool:
    """The instance's JupyterLab is still running: its pid is alive and is still our command (not a reuse)."""
    return bool(state.pid and alive(state.pid) and str(folder) in " ".join(cmdline(state.pid)))


def _end_group(pid: int | None) -> None:
    """SIGTERM the process group JupyterLab leads (its kernels too), then SIGKILL what is left."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class NotebookController(Controller):
    kind = nb.KIND
    tick = 1.0

    def __init__(self, services):
        super().__init__(services)
        self._children: dict[int, subprocess.Popen] = {}  # JupyterLabs this server started, to reap on exit
        self.keys = _users.for_home(services.settings.home)
        self.isolate = isolation_enabled((getattr(services.settings, "extra", {}) or {}).get("job_isolation"))
        self.keys.prune_notebooks(self._in_service)  # keys of instances that stopped while the server was down

    def _in_service(self, name: str) -> bool:
        found = self.services.meta.find(nb.KIND, name)
        return found is not None and found.status == "InService"

    def reconcile_all(self) -> None:
        meta = self.services.meta
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]
        for r in meta.list_in_status(nb.KIND, ("Pending", "InService", "Stopping", "Deleting")):
            try:
                getattr(self, f"_on_{r.status.lower()}")(r)
            except Exception as e:  # one instance's failure must not stop the others
                log.exception("notebook instance %s: %s", r.name, e)
                if r.status == "Pending":
                    self.keys.revoke_notebook(r.name)
                    meta.update(nb.KIND, r.name, {"FailureReason": f"{type(e).__name__}: {e}"}, status="Failed")

    # -- statuses ---------------------------------------------------------------------------------------------
    def _on_pending(self, r: Resource) -> None:
        meta, folder = self.services.meta, nb.instance_folder(self.services, r.name)
        state = NotebookState.from_doc(r.doc)
        _end_group(state.pid if _lab_alive(state, folder) else None)
        folder.mkdir(parents=True, exist_ok=True)
        config = r.doc.get("NotebookInstanceLifecycleConfigName")
        hooks = ([] if state.created_ran else ["OnCreate"]) + ["OnStart"]
        key = self.keys.issue_for_notebook(r.name)
        env = self._environment(key)  # the scripts act as the instance, too
        try:  # its code repositories, cloned before the scripts run (they may use them)
            code_repository.clone_for_notebook(self.services, r.doc, folder,
                                               (key.access_key_id, key.secret_access_key))
        except ShipyardError as e:
            self.keys.revoke_notebook(r.name)
            meta.update(nb.KIND, r.name, {"FailureReason": f"Cloning its code repositories failed: {e.message}"},
                        status="Failed")
            return
        for hook in hooks:
            failure = self._run_scripts(r.name, folder, nb.scripts(self.services, config, hook), hook, env)
            if failure:
                self.keys.revoke_notebook(r.name)
                meta.update(nb.KIND, r.name, {"FailureReason": failure}, status="Failed")
                return
            if hook == "OnCreate":
                meta.update(nb.KIND, r.name, state.changes(created_ran=True))
        port, token = _free_port(), secrets.token_hex(24)
        pid = self._launch(folder, port, token, env)
        meta.update(nb.KIND, r.name, state.changes(pid=pid, port=port, token=token, created_ran=True))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not alive(pid):
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                    meta.update(nb.KIND, r.name, {"Url": f"127.0.0.1:{port}", "FailureReason": None},
                                status="InService", expect_status=("Pending",))
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        _end_group(pid)
        self.keys.revoke_notebook(r.name)
        meta.update(nb.KIND, r.name, {"FailureReason": f"JupyterLab did not answer in {START_TIMEOUT_S:.0f} s; "
                                      f"see {folder.parent / 'jupyterlab.log'}"}, status="Failed")

    def _on_inservice(self, r: Resource) -> None:
        if not _lab_alive(NotebookState.from_doc(r.doc), nb.instance_folder(self.services, r.name)):
            log.info("notebook instance %s: JupyterLab is gone; starting it again", r.name)
            self.services.meta.update(nb.KIND, r.name, status="Pending", expect_status=("InService",))
            self.services.wake(nb.KIND)

    def _on_stopping(self, r: Resource) -> None:
        state = NotebookState.from_doc(r.doc)
        if _lab_alive(state, nb.instance_folder(self.services, r.name)):
            _end_group(state.pid)
        self.keys.revoke_notebook(r.name)
        self.services.meta.update(nb.KIND, r.name, {**state.changes(pid=None, port=None, token=None), "Url": None},
                                  status="Stopped", expect_status=("Stopping",))

    def _on_deleting(self, r: Resource) -> None:
        folder = nb.instance_folder(self.services, r.name)
        state = NotebookState.from_doc(r.doc)
        if _lab_alive(state, folder):
            _end_group(state.pid)
        self.keys.revoke_notebook(r.name)
        shutil.rmtree(folder.parent, ignore_errors=True)
        self.services.meta.delete(nb.KIND, r.name)

    # -- work --------------------------------------------------------------------------------------------------
    def _environment(self, key: _users.User) -> dict[str, str]:
        """What the instance's programs see: the server's environment without its ``SHIPYARD_*`` and ``AWS_*``
        variables, and the instance's own key. The kernels reach this server with boto3 and the SDK, as an AWS
        instance reaches AWS with its role: with the instance's own key, never the server's."""
        settings = self.services.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "AWS_"))}
        env.update({"AWS_ENDPOINT_URL": settings.endpoint_url, "AWS_ACCESS_KEY_ID": key.access_key_id,
                    "AWS_SECRET_ACCESS_KEY": key.secret_access_key, "AWS_DEFAULT_REGION": settings.region,
                    "AWS_REGION": settings.region})
        return env

    def _sandboxed(self, cmd: list[str], folder: Path) -> list[str]:
        """``cmd`` wrapped in the instance's sandbox (see the module docstring), or as it is with isolation off."""
        if not self.isolate:
            return cmd
        from ..environments.builder import root_for

        home = self.services.settings.home
        launch = wrap(cmd, Sandbox(opt_ml=str(folder), hide=[str(home)], read_only=[str(root_for(home))]), folder)
        for note in launch.notes:
            log.info("notebook instance sandbox: %s", note)
        return launch.command

    def _run_scripts(self, name: str, folder: Path, scripts: list[str], hook: str,
                     env: dict[str, str]) -> str | None:
        """Run one hook's scripts in the instance's folder, logging their output; a failure reason or None."""
        stream = f"{name}/LifecycleConfig{hook}"
        for script in scripts:
            try:
                done = subprocess.run(self._sandboxed(["/bin/bash", "-c", script], folder), cwd=folder, env=env,
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      timeout=SCRIPT_TIMEOUT_S, start_new_session=True)
            except subprocess.TimeoutExpired:
                return f"The {hook} lifecycle script ran longer than {SCRIPT_TIMEOUT_S:.0f} seconds."
            now = time.time()
            lines = done.stdout.decode("utf-8", "replace").splitlines() or ["(no output)"]
            self.services.meta.append_logs(nb.LOG_GROUP, stream, [LogEvent(now, line, now) for line in lines])
            if done.returncode != 0:
                return (f"The {hook} lifecycle script exited with {done.returncode}: see the log stream {stream} "
                        f"in {nb.LOG_GROUP}.")
        return None

    def _launch(self, folder: Path, port: int, token: str, env: dict[str, str]) -> int:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}",
               f"--IdentityProvider.token={token}"]
        cmd.append(f"--ServerApp.identity_provider_class={__name__}.PresignedTokenIdentity")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--ServerApp.allow_root=True")
        cmd = self._sandboxed(cmd, folder)
        with open(folder.parent / "jupyterlab.log", "ab") as out:
            proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._children[proc.pid] = proc
        return proc.pid


def __getattr__(name: str) -> Any:
    """``PresignedTokenIdentity``, built on first use: it subclasses jupyter_server's IdentityProvider, which
    only the instance's JupyterLab process (where it is named by import string) has to import."""
    if name != "PresignedTokenIdentity":
        raise AttributeError(name)
    from jupyter_server.auth.identity import IdentityProvider

    class PresignedTokenIdentity(IdentityProvider):  # type: ignore[misc]
        """JupyterLab's token check, also accepting the unexpired presigned tokens signed with its secret. The
        login cookie a presigned token sets carries (signed, as tornado signs the whole cookie) the moment the
        session ends, SessionExpirationDurationInSeconds after the URL was opened; a cookie past it is refused,
        and the browser is told to drop it then too."""

        async def get_user_token(self, handler: Any) -> Any:
            secret, given = self.token, self.get_token(handler)
            session_s = nb.presigned_token_session(secret, given, time.time()) if secret and given else None
            if session_s is not None:
                user: Any = self.get_user_cookie(handler)
                if inspect.isawaitable(user):
                    user = await user
                user = user or self.generate_anonymous_user(handler)
                handler._shipyard_session_ends = time.time() + session_s
                self.set_login_cookie(handler, user)
                return user
            return await super().get_user_token(handler)

        def set_login_cookie(self, handler: Any, user: Any) -> None:
            ends = getattr(handler, "_shipyard_session_ends", None)
            if ends is None:
                return super().set_login_cookie(handler, user)
            saved = self.cookie_options
            self.cookie_options = {**saved, "expires_days": max(ends - time.time(), 0) / 86400}
            self._ends = ends
            try:
                super().set_login_cookie(handler, user)
            finally:
                self.cookie_options, self._ends = saved, None

        def user_to_cookie(self, user: Any) -> str:
            text = super().user_to_cookie(user)
            ends = getattr(self, "_ends", None)
            return text if ends is None else json.dumps({**json.loads(text), "shipyard_session_ends": ends})

        def user_from_cookie(self, cookie_value: str) -> Any:
            ends = json.loads(cookie_value).get("shipyard_session_ends")
            if ends is not None and time.time() >= float(ends):
                return None  # the session SessionExpirationDurationInSeconds gave is over
            return super().user_from_cookie(cookie_value)

    globals()[name] = PresignedTokenIdentity
    return PresignedTokenIdentity
