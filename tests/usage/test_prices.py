"""The price table: defaults, derived sizes, the operator's overrides, and refused files."""

import json

import pytest

from shipyard.errors import ValidationError
from shipyard.usage import prices


def test_listed_types_use_the_published_figure():
    assert prices.price_per_hour("ml.m5.large") == 0.115
    assert prices.price_per_hour("ml.g5.xlarge") == 1.408


def test_a_missing_size_is_priced_from_its_family_per_vcpu():
    # ml.c5.large is 0.102 for 2 vCPUs; a 24xlarge (96 vCPUs) is 48 times that, by the family's cheapest vCPU.
    per_vcpu = min(p / prices.vcpus(t) for t, p in prices.DEFAULT_PRICES.items() if t.startswith("ml.c5."))
    assert prices.price_per_hour("ml.c5.24xlarge") == round(per_vcpu * 96, 4)
    assert prices.price_per_hour("ml.zz9.xlarge") == round(prices.DEFAULT_PER_VCPU * 4, 4)


def test_local_and_malformed_types_cost_nothing():
    assert prices.price_per_hour("local") == 0.0
    assert prices.price_per_hour("ml.m5") == 0.0


def test_cost_is_by_the_second():
    assert prices.cost("ml.m5.large", 90) == pytest.approx(0.115 * 90 / 3600)


def test_operator_file_overrides_and_adds(tmp_path, monkeypatch):
    monkeypatch.delenv("SHIPYARD_PRICES", raising=False)
    (tmp_path / "prices.json").write_text(json.dumps({"ml.m5.large": 0.05, "ml.x9.xlarge": 1}))
    table = prices.load_table(tmp_path)
    assert prices.price_per_hour("ml.m5.large", table) == 0.05
    assert prices.price_per_hour("ml.x9.xlarge", table) == 1.0
    assert prices.price_per_hour("ml.c5.large", table) == 0.102


@pytest.mark.parametrize("text", ["{not json", json.dumps({"ml.m5.large": -1}), json.dumps(["ml.m5.large"])])
def test_a_bad_operator_file_is_refused_with_its_path(tmp_path, monkeypatch, text):
    path = tmp_path / "p.json"
    path.write_text(text)
    monkeypatch.setenv("SHIPYARD_PRICES", str(path))
    with pytest.raises(ValidationError, match="p.json"):
        prices.load_table()
