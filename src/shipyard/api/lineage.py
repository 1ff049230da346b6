"""Lineage operations on the wire: artifacts, actions, contexts, associations and QueryLineage.

Thin adapters over :mod:`shipyard.resources.lineage_entities` (the entities) and
:mod:`shipyard.resources.lineage_graph` (the edges and the walk).
"""

from __future__ import annotations

from ..context import Services
from ..resources import lineage_graph
from ..resources.lineage_entities import ACTION, ARTIFACT, CONTEXT, create, delete, describe, get, list_entities, update
from .registry import operation

for _ek in (ARTIFACT, ACTION, CONTEXT):
    def _register(ek=_ek) -> None:
        key = ek.arn_key if ek is ARTIFACT else ek.name_key
        operation("sagemaker", f"Create{ek.noun}")(lambda services, params: create(services, ek, params))
        operation("sagemaker", f"Describe{ek.noun}")(
            lambda services, params: describe(ek, get(services, ek, params[key])))
        operation("sagemaker", f"List{ek.noun}s")(lambda services, params: list_entities(services, ek, params))
        operation("sagemaker", f"Update{ek.noun}")(
            lambda services, params: update(services, ek, params[key], params))
        operation("sagemaker", f"Delete{ek.noun}")(lambda services, params: delete(services, ek, params))

    _register()


@operation("sagemaker", "AddAssociation")
def add_association(services: Services, params: dict) -> dict:
    return lineage_graph.add(services, params)


@operation("sagemaker", "DeleteAssociation")
def delete_association(services: Services, params: dict) -> dict:
    return lineage_graph.delete(services, params)


@operation("sagemaker", "ListAssociations")
def list_associations(services: Services, params: dict) -> dict:
    return lineage_graph.list_associations(services, params)


@operation("sagemaker", "QueryLineage")
def query_lineage(services: Services, params: dict) -> dict:
    return lineage_graph.query(services, params)
