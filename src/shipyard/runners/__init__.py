"""Runners run a :class:`~.base.JobSpec` somewhere: local subprocesses (default) or a Ray cluster."""

from __future__ import annotations

from .base import JobHandle, JobSpec, Runner


def open_runner(name: str, state_dir: str, ray_address: str = "",
                strict_instance_types: bool = False) -> Runner:
    if name == "local":
        from .local import LocalRunner

        return LocalRunner(state_dir, strict_instance_types=strict_instance_types)
    if name == "ray":
        from .ray import RayRunner  # Ray is an optional extra, imported only when chosen

        return RayRunner(state_dir, address=ray_address)
    raise ValueError(f"unknown runner {name!r}: use 'local' or 'ray'")


__all__ = ["JobHandle", "JobSpec", "Runner", "open_runner"]
