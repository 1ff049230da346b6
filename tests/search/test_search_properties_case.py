"""SortBy and filter names accept the by-name views in AWS's lower-case spelling (``metrics.<name>.max``), as
AWS's own Experiments notebooks write them, and spell them as stored."""

from __future__ import annotations

import pytest

from shipyard.errors import ValidationError
from shipyard.search.properties import canonical
from shipyard.search.request import parse_search


def test_lower_case_metric_views_are_spelled_as_stored():
    assert canonical("metrics.validation:log_loss.min") == "Metrics.validation:log_loss.Min"
    assert canonical("Metrics.test:accuracy.stddev") == "Metrics.test:accuracy.StdDev"
    assert canonical("tags.team") == "Tags.team"
    assert canonical("TrialComponentName") == "TrialComponentName"


def test_search_request_sorts_by_the_canonical_metric_path():
    _, query = parse_search({"Resource": "ExperimentTrialComponent", "SortBy": "metrics.test:accuracy.max"})
    assert query.sort_by == "Metrics.test:accuracy.Max"
    with pytest.raises(ValidationError, match="SortBy"):
        parse_search({"Resource": "ExperimentTrialComponent", "SortBy": "NoSuchProperty"})
