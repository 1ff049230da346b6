"""``shipyard cleanup``: find what costs money or space and nothing uses, and delete it on confirmation.

Three parts, so the decision is testable without a server:

- :mod:`.plan`: pure. A :class:`~.plan.Snapshot` of what the APIs said (endpoints with their invocation
  counts, configs, models, notebook instances, S3 objects of the SageMaker default buckets, log streams) in,
  a :class:`~.plan.Plan` of candidates out, each with its reason and the usage it would save.
- :mod:`.collect`: reads a snapshot through boto3 clients (SageMaker, CloudWatch, S3, CloudWatch Logs), so it
  works against any Shipyard server (and AWS).
- :mod:`.apply`: deletes a plan's candidates in a safe order (endpoints, configs, models, notebooks, S3
  objects, log streams), exactly the listed ones.

It lives in its own package rather than ``resources/``: the resource layer works on the server's stores, while
clean-up is a client of the public APIs, like the SDK.
"""
