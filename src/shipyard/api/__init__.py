"""The operations: one function per AWS API action, grouped by resource family.

Each operation takes the :class:`~shipyard.context.Services` and the validated request dict, and returns the
response dict (shaped like botocore's output shape). Operations raise :mod:`shipyard.errors`; the server
translates them. Register with :func:`~.registry.operation`.
"""
