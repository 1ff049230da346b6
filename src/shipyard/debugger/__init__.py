"""SageMaker Debugger and profiler on Shipyard.

- :mod:`.records`, :mod:`.writer`, :mod:`.trial`: smdebug's trial layout (TFRecord-framed Event protobufs,
  index and collection files), written and read without smdebug (which pins an old protobuf);
- :mod:`.hook`: the small hook training scripts save scalars and tensors through;
- :mod:`.job_side`: what a training job does around its program (config files, uploads as the folder grows);
- :mod:`.profiler`: the per-second system monitor (CPU, memory, GPU) in AWS's system-metrics JSON lines;
- :mod:`.rules`, :mod:`.rule_job`: the built-in rules and the program a rule's processing job runs.

Kept light to import: nothing here imports numpy until a tensor is read or written.
"""
