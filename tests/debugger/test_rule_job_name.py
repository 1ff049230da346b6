"""A rule's processing job is named as AWS names it, so that AWS's notebooks find its log stream by rebuilding
the name (``training_job_name[:26]-rule[:26]-<last 8 of the ARN>``)."""

from shipyard.resources.debug_rules import rule_job_name


def test_name_is_job_head_rule_head_and_a_digest_as_on_aws():
    job = "smdebugger-demo-mnist-pytorch-2019-12-03-00-40-11-123"
    name = rule_job_name(job, "VanishingGradient")
    head, rule, digest = name[:26], name[27:-9], name[-8:]
    assert head == job[:26] == "smdebugger-demo-mnist-pyto"
    assert rule == "VanishingGradient" and name[26] == "-" and name[-9] == "-"
    assert len(digest) == 8 and int(digest, 16) >= 0
    assert len(name) <= 63


def test_names_of_jobs_sharing_a_head_differ_and_stay_stable():
    a = rule_job_name("demo-smdebug-xgboost-regression-2026-12-07-16-22-22-686", "LossNotDecreasing")
    b = rule_job_name("demo-smdebug-xgboost-regression-2026-12-07-16-22-23-001", "LossNotDecreasing")
    assert a != b and a[:-8] == b[:-8]
    assert a == rule_job_name("demo-smdebug-xgboost-regression-2026-12-07-16-22-22-686", "LossNotDecreasing")


def test_long_rule_names_and_odd_characters_keep_the_name_valid():
    import re

    name = rule_job_name("a" * 63, "My_Custom.Rule_With_A_Very_Long_Configuration_Name")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
