"""CI setup for the container tests (run by .ci/run before `make test`; safe to run by hand, as root).

Installs what the container tests need from Debian (docker.io, docker-registry, debootstrap) where missing,
starts dockerd if no daemon answers, builds or finds the base image (shipyard/test-base:1, cached under
~/.cache/shipyard/), then stops the daemon it started: the test session starts its own (tests/containers/).
Exits 0 with a message when no engine can be had, so CI goes on and the container tests skip saying why.
"""

from __future__ import annotations

import sys
import time

from shipyard.containers.base_image import BASE_IMAGE, BaseImageError, ensure_base_image
from shipyard.containers.daemon import EngineUnavailable, ensure_installed, provide_engine


def main() -> int:
    started = time.monotonic()
    try:
        provided = provide_engine()
        ensure_installed("docker-registry", "docker-registry")
        ensure_installed("debootstrap", "debootstrap")
    except EngineUnavailable as e:
        print(f"[container setup] no container engine here, container tests will skip: {e}")
        return 0
    try:
        image = ensure_base_image(provided.engine)
        what = "built" if image.built else "found"
        print(f"[container setup] {what} {BASE_IMAGE} in {image.seconds:.1f} s "
              f"(setup total {time.monotonic() - started:.1f} s)")
    except BaseImageError as e:
        print(f"[container setup] could not build {BASE_IMAGE}; the tests will try again and say why: {e}")
    finally:
        provided.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
