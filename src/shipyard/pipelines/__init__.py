"""SageMaker Pipelines, without a server: the definition JSON the SageMaker SDK emits, parsed and validated
(``definition``), its expressions evaluated (``expressions``: ``Get``, ``Std:Join``, ``Std:JsonGet``,
conditions), the step graph and what may run next (``dag``), cache keys (``caching``) and retry policies
(``retry``). Pure: it imports only ``errors`` and ``domain``; the pipeline controller supplies the I/O
(step properties, S3 reads) through a small resolver interface.
"""
