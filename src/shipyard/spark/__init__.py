"""SageMaker Spark: Estimator/Model stages on Spark DataFrames that train and host through the SageMaker API.

The Python API of AWS's sagemaker-spark library (``sagemaker_pyspark``), with its class and parameter names, so
that code ports by changing the import: ``SageMakerEstimator(...).fit(df)`` writes the DataFrame to S3 from the
executors, trains, hosts, and returns a ``SageMakerModel`` whose ``transform(df)`` calls the endpoint from the
executors. It talks to the server only through boto3 (the usual credential chain and ``AWS_ENDPOINT_URL``).
"""

from .algorithms import (
    KMeansSageMakerEstimator,
    LinearLearnerBinaryClassifier,
    LinearLearnerRegressor,
    PCASageMakerEstimator,
    XGBoostSageMakerEstimator,
)
from .estimator import IAMRole, SageMakerEstimator
from .model import SageMakerModel, SageMakerSparkError
from .policies import (
    CreatedResources,
    CustomNamePolicyFactory,
    EndpointCreationPolicy,
    RandomNamePolicy,
    RandomNamePolicyFactory,
    S3AutoCreatePath,
    S3DataPath,
    SageMakerResourceCleanup,
)
from .serializers import (
    CSVRequestRowSerializer,
    KMeansProtobufResponseRowDeserializer,
    LibSVMRequestRowSerializer,
    LinearLearnerBinaryClassifierProtobufResponseRowDeserializer,
    LinearLearnerRegressorProtobufResponseRowDeserializer,
    PCAProtobufResponseRowDeserializer,
    ProtobufRequestRowSerializer,
    RequestRowSerializer,
    ResponseRowDeserializer,
    XGBoostCSVRowDeserializer,
)

__all__ = [
    "CSVRequestRowSerializer", "CreatedResources", "CustomNamePolicyFactory", "EndpointCreationPolicy", "IAMRole",
    "KMeansProtobufResponseRowDeserializer", "KMeansSageMakerEstimator", "LibSVMRequestRowSerializer",
    "LinearLearnerBinaryClassifier", "LinearLearnerBinaryClassifierProtobufResponseRowDeserializer",
    "LinearLearnerRegressor", "LinearLearnerRegressorProtobufResponseRowDeserializer",
    "PCAProtobufResponseRowDeserializer", "PCASageMakerEstimator", "ProtobufRequestRowSerializer",
    "RandomNamePolicy", "RandomNamePolicyFactory", "RequestRowSerializer", "ResponseRowDeserializer",
    "S3AutoCreatePath", "S3DataPath", "SageMakerEstimator", "SageMakerModel", "SageMakerResourceCleanup",
    "SageMakerSparkError", "XGBoostCSVRowDeserializer", "XGBoostSageMakerEstimator",
]
