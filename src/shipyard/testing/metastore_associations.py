"""The lineage-association half of the metadata-store conformance suite (mixed into
``shipyard.testing.metastore.MetaStoreConformance``; uses its ``store`` fixture). A backend without
associations sets ``supports_associations = False``."""

from __future__ import annotations

import pytest

from ..errors import MissingResource, ValidationError
from ..metastore.base import Association, AssociationQuery

A = "arn:aws:sagemaker:us-east-1:123456789012:artifact/"


def _edge(src: str, dst: str, kind: str = "ContributedTo", **extra) -> Association:
    return Association(A + src, A + dst, kind, **extra)


class AssociationConformance:
    supports_associations = True

    @pytest.fixture
    def astore(self, store):
        if not self.supports_associations:
            pytest.skip("this backend does not store lineage associations (supports_associations = False)")
        return store

    def test_add_is_idempotent_and_keeps_types(self, astore):
        first = astore.add_association(_edge("a", "b", source_type="DataSet", destination_type="Model",
                                             source_name="raw"))
        again = astore.add_association(_edge("a", "b", "Produced"))
        assert again == first and first.association_type == "ContributedTo" and first.created > 0
        assert (first.source_type, first.destination_type, first.source_name) == ("DataSet", "Model", "raw")
        assert len(astore.list_associations().items) == 1

    def test_neighbours_in_each_direction(self, astore):
        for src, dst in (("a", "b"), ("b", "c"), ("x", "b"), ("c", "d")):
            astore.add_association(_edge(src, dst))
        ends = lambda edges: {(e.source_arn[len(A):], e.destination_arn[len(A):]) for e in edges}  # noqa: E731
        assert ends(astore.neighbours([A + "b"], "Descendants")) == {("b", "c")}
        assert ends(astore.neighbours([A + "b"], "Ascendants")) == {("a", "b"), ("x", "b")}
        assert ends(astore.neighbours([A + "b"], "Both")) == {("a", "b"), ("x", "b"), ("b", "c")}
        assert ends(astore.neighbours([A + "b", A + "c"], "Descendants")) == {("b", "c"), ("c", "d")}
        assert astore.neighbours([], "Both") == [] and astore.neighbours([A + "zz"], "Both") == []
        with pytest.raises(ValidationError):
            astore.neighbours([A + "b"], "Sideways")

    def test_neighbours_of_many_arns_at_once(self, astore):
        for i in range(1200):  # more ARNs than one IN list holds
            astore.add_association(_edge(f"s{i}", f"t{i}"))
        found = astore.neighbours([A + f"s{i}" for i in range(1200)], "Descendants")
        assert len(found) == 1200

    def test_list_filters_sorts_and_pages(self, astore):
        for i in range(7):
            astore.add_association(_edge("hub", f"n{i}", "Produced" if i % 2 else "ContributedTo",
                                         destination_type="Model" if i < 3 else "DataSet"))
        astore.add_association(_edge("other", "n0"))
        assert len(astore.list_associations(AssociationQuery(source_arn=A + "hub", max_results=100)).items) == 7
        assert len(astore.list_associations(AssociationQuery(destination_arn=A + "n0")).items) == 2
        assert len(astore.list_associations(AssociationQuery(destination_type="Model")).items) == 3
        assert len(astore.list_associations(AssociationQuery(association_type="Produced")).items) == 3
        seen, token = [], None
        for _ in range(10):
            page = astore.list_associations(AssociationQuery(source_arn=A + "hub", sort_by="destination_arn",
                                                             descending=False, max_results=3, next_token=token))
            assert len(page.items) <= 3
            seen += [a.destination_arn for a in page.items]
            token = page.next_token
            if token is None:
                break
        assert seen == sorted(A + f"n{i}" for i in range(7))
        with pytest.raises(ValidationError):
            astore.list_associations(AssociationQuery(sort_by="created", next_token="garbage"))

    def test_delete_one_and_all_of_an_arn(self, astore):
        for src, dst in (("a", "b"), ("b", "c"), ("c", "a"), ("d", "e")):
            astore.add_association(_edge(src, dst))
        astore.delete_association(A + "a", A + "b")
        with pytest.raises(MissingResource):
            astore.delete_association(A + "a", A + "b")
        assert astore.delete_associations_of(A + "c") == 2
        assert [(a.source_arn, a.destination_arn) for a in astore.list_associations().items] == [(A + "d", A + "e")]

    def test_reachable_edges_stop_at_depth_and_survive_cycles(self, astore):
        for src, dst in (("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "x"), ("x", "c")):
            astore.add_association(_edge(src, dst))

        def ends(direction: str, depth: int) -> set[tuple[str, str]]:
            return {(e.source_arn[len(A):], e.destination_arn[len(A):])
                    for e in astore.reachable_edges(A + "a", direction, depth)}

        assert ends("Descendants", 0) == set()
        assert ends("Descendants", 1) == {("a", "b"), ("a", "x")}
        assert ends("Descendants", 2) == {("a", "b"), ("a", "x"), ("b", "c"), ("x", "c")}
        assert ends("Descendants", 10) == {("a", "b"), ("a", "x"), ("b", "c"), ("x", "c"), ("c", "d"), ("d", "a")}
        assert ends("Ascendants", 1) == {("d", "a")}
        assert ends("Ascendants", 2) == {("d", "a"), ("c", "d")}
