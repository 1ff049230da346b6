"""What a processing job does, without a server: its program (:mod:`.program`), the executor that runs on each
host (:mod:`.executor`), input staging (:mod:`.inputs`), output upload (:mod:`.outputs`) and the
bring-your-own image launch (:mod:`.container`). The controller (``controllers/processing.py``) starts one
executor per host through the runner."""
