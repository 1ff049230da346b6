"""Batch transform: split input objects into records, send them to model servers in batches, assemble the output.

The data path is pure and streaming (:mod:`.split`, :mod:`.jsonpath`, :mod:`.dataprocessing`, :mod:`.engine`);
:mod:`.executor` runs a whole job as one runner job, like a training job, so it survives a server restart and
runs on Ray unchanged.
"""
