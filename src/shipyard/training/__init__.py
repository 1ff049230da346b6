"""Running one training job: the executor process and its parts (staging, script mode, packing, status).

The controller writes ``job.json`` into a job folder and starts ``python -m shipyard.training.executor
<job-dir>`` through the runner; the executor stages data, runs the program under the ``/opt/ml`` contract
and uploads the results, recording progress in ``status.json``. Nothing here touches the metadata store:
the executor could run on any host that reaches the object store.
"""
