"""SageMaker Projects' built-in templates: what each creates, and the seed code of its repository.

AWS provisions a project from a Service Catalog product (a CloudFormation stack); Shipyard has no Service
Catalog, so its templates are built in, each known by a fixed product id (:data:`templates.TEMPLATES`). The seed
code is package data under ``seeds/``. :mod:`shipyard.resources.project` provisions and deletes projects;
:mod:`shipyard.controllers.project` runs them (push -> pipeline, approval -> staging -> production).
"""
