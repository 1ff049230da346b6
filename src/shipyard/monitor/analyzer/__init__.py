"""Model Monitor's analyzer: what AWS's ``sagemaker-model-monitor-analyzer`` image does, as a Python program.

A processing job on that image runs ``python -m shipyard.monitor.analyzer`` (:mod:`.program`), which reads the
data set (:mod:`.datasets`, :mod:`.capture`), profiles it (:mod:`.statistics`, KLL sketches in :mod:`.sketch`),
and writes AWS's documents: ``statistics.json`` and suggested ``constraints.json`` (:mod:`.constraints`) for a
baseline, ``constraint_violations.json`` (:mod:`.violations`, :mod:`.model_quality`) for a monitoring run.
Pure: it imports nothing of Shipyard's but errors.
"""
