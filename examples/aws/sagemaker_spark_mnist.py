"""SageMaker Spark: k-means on MNIST from a Spark DataFrame, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples, sagemaker-spark/pyspark_mnist/pyspark_mnist_kmeans.ipynb

The notebook's sagemaker_pyspark code with ``shipyard.spark`` in its place: a ``KMeansSageMakerEstimator``
fits on a DataFrame (the data goes to S3 as RecordIO-protobuf, a training job runs, an endpoint comes up), the
model's ``transform`` clusters the test DataFrame through the endpoint; then the same endpoint is attached
with ``SageMakerModel(existingEndpointName=...)``, a model is re-created from its S3 artifacts and from its
training job; a ``Pipeline`` of Spark's PCA and k-means on SageMaker; everything is cleaned up at the end.
Adaptations are marked ``# SHIPYARD:``.
"""

import os
import sys

from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession
from sklearn.datasets import load_digits

# SHIPYARD: `import sagemaker_pyspark` and its classpath jars (the Scala half) are not needed: shipyard.spark is
# the same Python API over boto3. The module paths differ (sagemaker_pyspark.algorithms, .transformation...).
from shipyard.spark import (
    EndpointCreationPolicy,
    IAMRole,
    KMeansProtobufResponseRowDeserializer,
    KMeansSageMakerEstimator,
    ProtobufRequestRowSerializer,
    RandomNamePolicy,
    RandomNamePolicyFactory,
    S3DataPath,
    SageMakerModel,
    SageMakerResourceCleanup,
)

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: executors run this interpreter (so they import shipyard); two local cores, no Spark UI.
os.environ["PYSPARK_PYTHON"] = sys.executable
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

# SHIPYARD: the notebook reads MNIST in LibSVM from s3a://sagemaker-sample-data-<region>/spark/mnist/ (784
# features). No downloads at run time: scikit-learn's bundled 8x8 digits (64 features), as a label column and
# a dense features Vector column, the schema Spark's libsvm reader gives.
digits = load_digits()
rows = [(float(y), Vectors.dense((x / 16.0).tolist())) for x, y in zip(digits.data, digits.target)]
trainingData = spark.createDataFrame(rows[:1500], ["label", "features"])
testData = spark.createDataFrame(rows[1500:], ["label", "features"])
trainingData.show(3)

# Create K-Means Estimator
kmeans_estimator = KMeansSageMakerEstimator(
    sagemakerRole=IAMRole(role),
    trainingInstanceType="ml.m4.xlarge",  # Instance type to train K-means on SageMaker
    trainingInstanceCount=1,
    endpointInstanceType="ml.t2.large",  # Instance type to serve model (endpoint) for inference
    endpointInitialInstanceCount=1,
    namePolicyFactory=RandomNamePolicyFactory("sparksm-1a-"),
)

# Set parameters for K-Means
kmeans_estimator.setFeatureDim(64)  # SHIPYARD: 64 features (8x8 digits), not 784
kmeans_estimator.setK(10)

# Train
initialModel = kmeans_estimator.fit(trainingData)
initialModelEndpointName = initialModel.endpointName
print(initialModelEndpointName)

# Run inference on the test data and show some results
transformedData = initialModel.transform(testData)
transformedData.show()

# SHIPYARD: the notebook draws each cluster's images with matplotlib; this prints the true digits per cluster.
collected = transformedData.select("label", "closest_cluster").collect()
for cluster in range(10):
    labels = [int(r["label"]) for r in collected if int(r["closest_cluster"]) == cluster]
    print(f"Cluster {cluster}: {len(labels)} images, most common digit "
          f"{max(set(labels), key=labels.count) if labels else '-'}")
assert len(collected) == testData.count() and len({r["closest_cluster"] for r in collected}) > 5  # SHIPYARD

# Re-using existing endpoints or models to create a SageMakerModel
ENDPOINT_NAME = initialModelEndpointName
print(ENDPOINT_NAME)

attachedModel = SageMakerModel(
    existingEndpointName=ENDPOINT_NAME,
    endpointInstanceType=None,
    endpointInitialInstanceCount=None,
    requestRowSerializer=ProtobufRequestRowSerializer(),
    responseRowDeserializer=KMeansProtobufResponseRowDeserializer(
        distance_to_cluster_column_name="distance_to_cluster", closest_cluster_column_name="closest_cluster"),
)
print(attachedModel.transform(testData).select("label", "closest_cluster").show(5))

# Create a model and endpoint from the model data
MODEL_S3_PATH = S3DataPath(initialModel.modelPath.bucket, initialModel.modelPath.objectPath)
MODEL_ROLE_ARN = initialModel.modelExecutionRoleARN
MODEL_IMAGE_PATH = initialModel.modelImage
print(MODEL_S3_PATH.bucket + MODEL_S3_PATH.objectPath)
print(MODEL_ROLE_ARN)
print(MODEL_IMAGE_PATH)

retrievedModel = SageMakerModel(
    modelPath=MODEL_S3_PATH,
    modelExecutionRoleARN=MODEL_ROLE_ARN,
    modelImage=MODEL_IMAGE_PATH,
    endpointInstanceType="ml.t2.medium",
    endpointInitialInstanceCount=1,
    requestRowSerializer=ProtobufRequestRowSerializer(),
    responseRowDeserializer=KMeansProtobufResponseRowDeserializer(),
    predictionsSchema=None,
    namePolicy=RandomNamePolicy("sparksm-1b-"),
    endpointCreationPolicy=EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
)
print(retrievedModel.endpointName)
retrievedModel.transform(testData).show(5)
same = [r["closest_cluster"] for r in retrievedModel.transform(testData).collect()]
assert same == [r["closest_cluster"] for r in collected]  # SHIPYARD: the same model answers the same

# Create a model and endpoint from a training job
TRAINING_JOB_NAME = initialModel.getCreatedResources().trainingJobName  # SHIPYARD: from the model, not a literal
modelFromJob = SageMakerModel.fromTrainingJob(
    trainingJobName=TRAINING_JOB_NAME,
    modelImage=MODEL_IMAGE_PATH,
    modelExecutionRoleARN=MODEL_ROLE_ARN,
    endpointInstanceType="ml.t2.medium",
    endpointInitialInstanceCount=1,
    requestRowSerializer=ProtobufRequestRowSerializer(),
    responseRowDeserializer=KMeansProtobufResponseRowDeserializer(),
    namePolicy=RandomNamePolicy("sparksm-1c-"),
)
print(modelFromJob.endpointName)
modelFromJob.transform(testData).show(5)

# A pipeline: Spark's PCA, then k-means on SageMaker on the projected features
from pyspark.ml import Pipeline  # noqa: E402
from pyspark.ml.feature import PCA  # noqa: E402

pca = PCA(k=16, inputCol="features", outputCol="projectedFeatures")  # SHIPYARD: 16 of 64, not 50 of 784
kmeansEstimator = KMeansSageMakerEstimator(
    sagemakerRole=IAMRole(role),
    trainingInstanceType="ml.m4.xlarge",
    trainingInstanceCount=1,
    endpointInstanceType="ml.t2.large",
    endpointInitialInstanceCount=1,
    namePolicyFactory=RandomNamePolicyFactory("sparksm-2-"),
    endpointCreationPolicy=EndpointCreationPolicy.CREATE_ON_TRANSFORM,
    trainingSparkDataFormatOptions={"featuresColumnName": "projectedFeatures"},
    requestRowSerializer=ProtobufRequestRowSerializer(featuresColumnName="projectedFeatures"),
)
kmeansEstimator.setK(10).setFeatureDim(16)
pipelineModel = Pipeline(stages=[pca, kmeansEstimator]).fit(trainingData)
pipelineModel.transform(testData).select("label", "closest_cluster").show(5)

# Clean-up
resource_cleanup = SageMakerResourceCleanup(initialModel.sagemakerClient)


def cleanUp(model):
    resource_cleanup.deleteResources(model.getCreatedResources())


for model in [initialModel, retrievedModel, modelFromJob, pipelineModel.stages[-1]]:
    cleanUp(model)
spark.stop()
