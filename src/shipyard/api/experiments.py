"""Experiment operations on the wire: experiments, trials, trial components and their associations.

Thin adapters over :mod:`shipyard.resources.experiment`, :mod:`~shipyard.resources.trial` and
:mod:`~shipyard.resources.trial_component` (where the rules, the associations and metric summaries live).
"""

from __future__ import annotations

from ..context import Services
from ..resources import experiment, trial, trial_component
from .registry import operation


@operation("sagemaker", "CreateExperiment")
def create_experiment(services: Services, params: dict) -> dict:
    return experiment.create(services, params)


@operation("sagemaker", "DescribeExperiment")
def describe_experiment(services: Services, params: dict) -> dict:
    return experiment.describe(experiment.get(services, params["ExperimentName"]))


@operation("sagemaker", "ListExperiments")
def list_experiments(services: Services, params: dict) -> dict:
    return experiment.list_experiments(services, params)


@operation("sagemaker", "UpdateExperiment")
def update_experiment(services: Services, params: dict) -> dict:
    return experiment.update(services, params)


@operation("sagemaker", "DeleteExperiment")
def delete_experiment(services: Services, params: dict) -> dict:
    return experiment.delete(services, params["ExperimentName"])


@operation("sagemaker", "CreateTrial")
def create_trial(services: Services, params: dict) -> dict:
    return trial.create(services, params)


@operation("sagemaker", "DescribeTrial")
def describe_trial(services: Services, params: dict) -> dict:
    return trial.describe(trial.get(services, params["TrialName"]))


@operation("sagemaker", "ListTrials")
def list_trials(services: Services, params: dict) -> dict:
    return trial.list_trials(services, params)


@operation("sagemaker", "UpdateTrial")
def update_trial(services: Services, params: dict) -> dict:
    return trial.update(services, params)


@operation("sagemaker", "DeleteTrial")
def delete_trial(services: Services, params: dict) -> dict:
    return trial.delete(services, params["TrialName"])


@operation("sagemaker", "CreateTrialComponent")
def create_trial_component(services: Services, params: dict) -> dict:
    return trial_component.create(services, params)


@operation("sagemaker", "DescribeTrialComponent")
def describe_trial_component(services: Services, params: dict) -> dict:
    return trial_component.describe(services, trial_component.get(services, params["TrialComponentName"]))


@operation("sagemaker", "ListTrialComponents")
def list_trial_components(services: Services, params: dict) -> dict:
    return trial_component.list_components(services, params)


@operation("sagemaker", "UpdateTrialComponent")
def update_trial_component(services: Services, params: dict) -> dict:
    return trial_component.update(services, params)


@operation("sagemaker", "DeleteTrialComponent")
def delete_trial_component(services: Services, params: dict) -> dict:
    return trial_component.delete(services, params["TrialComponentName"])


@operation("sagemaker", "AssociateTrialComponent")
def associate_trial_component(services: Services, params: dict) -> dict:
    return trial_component.associate(services, params["TrialComponentName"], params["TrialName"])


@operation("sagemaker", "DisassociateTrialComponent")
def disassociate_trial_component(services: Services, params: dict) -> dict:
    return trial_component.disassociate(services, params["TrialComponentName"], params["TrialName"])
