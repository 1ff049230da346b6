"""Ground Truth labeling, the pure part: input manifests, task types and templates, annotation consolidation
and the output manifest's layout. No I/O: :mod:`shipyard.resources.labeling_job` and
:mod:`shipyard.controllers.labeling` read and write the stores around these functions, so each rule here is
tested on plain values.
"""
