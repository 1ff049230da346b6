"""AWS's Debugger rule evaluator images, which Shipyard runs as its own rule program (:mod:`.rule_job`)."""

from __future__ import annotations

import re

# AWS publishes the Debugger rule evaluators under these repositories (any account, region, tag)
RULE_IMAGE_REPOSITORIES = ("sagemaker-debugger-rules", "sagemaker-debugger-rule-evaluator")
_RULE_IMAGE = re.compile(r"(?:^|/)(?:" + "|".join(RULE_IMAGE_REPOSITORIES) + r")(?::[^/@]*)?(?:@sha256:[0-9a-f]+)?$")


def is_rule_image(image: str) -> bool:
    """Whether ``image`` is AWS's Debugger rule evaluator (``sagemaker.debugger.get_rule_container_image_uri``)."""
    return bool(_RULE_IMAGE.search((image or "").strip()))
