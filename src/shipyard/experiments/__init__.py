"""Experiment tracking beyond the API: each job's trial component (:mod:`.tracking`) and the comparison of an
experiment's runs (:mod:`.compare`, behind ``shipyard experiments compare``)."""
