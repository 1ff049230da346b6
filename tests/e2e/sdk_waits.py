"""The SageMaker Python SDK's own waits, made short for a local server, with every SDK call left as it is.

Against AWS the SDK's fixed intervals cost little next to the minutes a job takes; against Shipyard they are
most of a test's time. It sleeps before each look: 30 s in ``deploy()``'s ``wait_for_endpoint`` (10 s with
``live_logging``), 10 s between log polls, 5 s in ``wait_for_tuning_job``/``wait_for_transform_job`` and
before it first describes a training job. And while it tails a running training job's log it asks for the
job's status only every 30 s (a constant in ``_logs_for_job``), so a job still running at the first look
costs half a minute more.

``shorten_sdk_waits()`` lowers those defaults to 1 s and, when ``logs_for_job`` is asked to wait, first
waits (bounded) for the job to end, so the SDK's own tail reads the whole log in one pass and prints what it
would have printed; and the SDK's config schema is checked once, not on every call
(``check_config_against_a_checked_schema``). The SDK's requests and output are unchanged. It
checks the signatures it patches first, so a new SDK version fails here instead of being silently changed.
It returns a function that undoes the patches. ``tests/e2e/test_readme.py`` runs it as a prelude to the
README's blocks (in their process); other tests use tests/conftest.py's ``quick_sagemaker_sdk`` fixture.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

TERMINAL = ("Completed", "Failed", "Stopped")
JOB_END_TIMEOUT = 600.0
POLL = 1

# (method of sagemaker.session.Session, its defaults as the SDK ships them, the defaults used here)
SHORTENED = (
    ("wait_for_endpoint", (30, False), (POLL, False)),  # (poll, live_logging)
    ("wait_for_tuning_job", (5,), (POLL,)),  # (poll,)
    ("wait_for_transform_job", (5,), (POLL,)),  # (poll,)
)


def wait_for_training_job_end(sagemaker_client: Any, job_name: str, timeout: float = JOB_END_TIMEOUT) -> str:
    """Poll DescribeTrainingJob every 0.25 s until the job is Completed, Failed or Stopped (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    status = ""
    for _ in range(int(timeout / 0.25) + 1):
        status = sagemaker_client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
        if status in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    return status


def check_config_against_a_checked_schema(undo: list[Callable[[], None]]) -> None:
    """The SDK validates its config file on most calls with ``jsonschema.validate``, which first checks the
    (constant) schema itself against the metaschema: ~0.1 s of CPU a call, ten calls a ``fit()``. Check the
    schema once and validate each config as before (same validator, same first error raised)."""
    import jsonschema
    import sagemaker.config
    import sagemaker.config.config as sdk_config
    import sagemaker.session
    import sagemaker.utils

    schema = sdk_config.SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    original = sdk_config.validate_sagemaker_config

    def validate_sagemaker_config(sagemaker_config: dict | None = None) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(sagemaker_config))
        if error is not None:
            raise error

    for module in (sdk_config, sagemaker.config, sagemaker.session, sagemaker.utils):
        if getattr(module, "validate_sagemaker_config", None) is not original:
            raise AssertionError(f"{module.__name__}.validate_sagemaker_config is not the SDK's: update "
                                 "tests/e2e/sdk_waits.py")
        module.validate_sagemaker_config = validate_sagemaker_config  # type: ignore[attr-defined]
        undo.append(lambda module=module: setattr(module, "validate_sagemaker_config", original))


def shorten_sdk_waits() -> Callable[[], None]:
    import sagemaker.session as sdk

    session = sdk.Session
    undo: list[Callable[[], None]] = []

    def set_defaults(function: Any, expected: tuple, new: tuple) -> None:
        found = function.__defaults__
        if found != expected:
            raise AssertionError(f"{function.__qualname__} defaults are {found}, expected {expected}: "
                                 "the SageMaker SDK changed; update tests/e2e/sdk_waits.py")
        function.__defaults__ = new
        undo.append(lambda: setattr(function, "__defaults__", found))

    for name, expected, new in SHORTENED:
        set_defaults(getattr(session, name), expected, new)
    set_defaults(sdk._wait_until, (5,), (POLL,))  # the first DescribeTrainingJob of _logs_for_job
    if sdk.EP_LOGGER_POLL != 10:  # wait_for_endpoint(live_logging=True) reads it at each call
        raise AssertionError(f"sagemaker.session.EP_LOGGER_POLL is {sdk.EP_LOGGER_POLL}, expected 10: "
                             "update tests/e2e/sdk_waits.py")
    sdk.EP_LOGGER_POLL = POLL
    undo.append(lambda: setattr(sdk, "EP_LOGGER_POLL", 10))

    check_config_against_a_checked_schema(undo)

    tail = session.logs_for_job
    params = list(inspect.signature(tail).parameters.items())
    if [(n, p.default) for n, p in params[2:]] != [("wait", False), ("poll", 10), ("log_type", "All"),
                                                    ("timeout", None)]:
        raise AssertionError(f"Session.logs_for_job{inspect.signature(tail)} changed: update tests/e2e/sdk_waits.py")

    def logs_for_job(self: Any, job_name: str, wait: bool = False, poll: int = POLL, log_type: Any = "All",
                     timeout: Any = None) -> Any:
        if wait:  # the tail looks at the status only every 30 s: let it start when the job has ended
            wait_for_training_job_end(self.sagemaker_client, job_name, timeout or JOB_END_TIMEOUT)
        return tail(self, job_name, wait, poll, log_type, timeout)

    session.logs_for_job = logs_for_job  # type: ignore[method-assign]
    undo.append(lambda: setattr(session, "logs_for_job", tail))

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore
