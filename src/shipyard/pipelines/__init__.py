"""SageMaker Pipelines, without a server: the definition JSON the SageMaker SDK emits, parsed and validated
(``definition``), its expressions evaluated (``expressions``: ``Get``, ``Std:Join``, ``Std:JsonGet``,
conditions), the step graph and what may run next (``dag``), cache keys (``caching``) and retry policies
(``retry``); property paths (``paths``: ``Outputs['train']``, ``[0]``) and ISO-8601 durations (``durations``)
are shared by the others. Pure: it imports only ``errors`` and ``domain``; the pipeline controller supplies the I/O
(step properties, S3 reads) through a small resolver interface.
"""
