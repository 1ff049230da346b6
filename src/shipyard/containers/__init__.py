"""Containers: the container engine, the local image registry, and ECR image URIs.

- :mod:`.engine`: find a Docker-API engine (``docker`` or ``podman``, same CLI) and ask whether it answers.
- :mod:`.daemon`: start ``dockerd`` where none answers (test setup and CI, never the server).
- :mod:`.base_image`: the small Debian base image (debootstrap + ``docker import``) built where no hub is
  reachable, cached between runs.
- :mod:`.registry`: the local registry (Debian's ``docker-registry``, the CNCF distribution server) Shipyard
  starts on loopback under its home, and a small client of its HTTP API v2.
- :mod:`.uris`: ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` <-> the local registry.

This package imports only ``errors`` and ``domain`` of ours: the ECR operations (``api/ecr.py``) and the
container runner use it; it never reaches into the server.
"""
