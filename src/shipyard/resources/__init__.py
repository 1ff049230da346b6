"""The resource layer: one module per resource kind, holding that kind's operations.

A resource module (``training_job.py``, ``tuning_job.py``, ``endpoint.py``, ...) owns what a kind *is* and
what may be done to it: create (validate, then store), describe, list, stop, update, delete, as plain
functions over :class:`shipyard.context.Services` and request dicts in SageMaker's own shapes. Two kinds of
caller use the same functions:

- the API handlers in :mod:`shipyard.api`, which are thin wire adapters (``@operation`` -> a function here),
- the controllers in :mod:`shipyard.controllers`, which act on the user's behalf: a tuning job creates and
  stops its trials through :mod:`.training_job`, so a trial is validated and stored exactly like a user's
  CreateTrainingJob.

That is why these modules exist: controllers may not import ``api`` (import-linter checks it), and an
operation that both need must live where both may call it. A resource's private state (the ``_`` keys of its
stored document) is typed in :mod:`shipyard.domain` (``training_state``, ``tuning_state``).
"""
