"""Shipyard's stand-in for the parts of AWS's ``sagemaker_xgboost_container`` that user scripts import.

The XGBoost framework image ships this package; inference scripts written for it do
``import sagemaker_xgboost_container.encoder as xgb_encoders`` and call ``xgb_encoders.libsvm_to_dmatrix``,
``csv_to_dmatrix`` or ``decode``. Shipyard copies this package into every framework environment.
"""

__version__ = "shipyard"
