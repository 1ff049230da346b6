"""Ensemble Predictions from Multiple Models (XGBoost + Linear Learner, census income), as a script.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_applying_machine_learning/ensemble_modeling/EnsembleLearnerCensusIncome.ipynb

Adult census income: built-in XGBoost on CSV and built-in Linear Learner on RecordIO-protobuf, both through
the generic Estimator and image_uris.retrieve, both deployed; their test-set predictions are averaged.
Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os

import boto3
import numpy as np
import pandas as pd
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker.deserializers import JSONDeserializer
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import CSVSerializer

sess = sagemaker.Session()
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-xgboost-ll-census-ensemble"  # SHIPYARD: the notebook asks for a bucket/prefix

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads adult.data from the UCI repository (32,561 rows). No downloads at run
# time: a generated frame with the same 15 columns, 1,000 rows.
rng = np.random.default_rng(6)
n = 1000
pick = lambda values: rng.choice(values, size=n)  # noqa: E731
data = pd.DataFrame({
    "Age": rng.integers(17, 90, n),
    "Workclass": pick(["Private", "Self-emp-not-inc", "Local-gov", "State-gov", "Federal-gov", "?"]),
    "fnlwgt": rng.integers(20000, 500000, n),
    "Education": pick(["Bachelors", "HS-grad", "Some-college", "Masters", "Doctorate", "11th"]),
    "Education-Num": rng.integers(1, 17, n),
    "Marital Status": pick(["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed"]),
    "Occupation": pick(["Tech-support", "Craft-repair", "Sales", "Exec-managerial", "Prof-specialty", "Other-service"]),
    "Relationship": pick(["Husband", "Wife", "Own-child", "Not-in-family", "Unmarried"]),
    "Race": pick(["White", "Black", "Asian-Pac-Islander", "Other"]),
    "Sex": pick(["Male", "Female"]),
    "Capital Gain": np.where(rng.random(n) < 0.1, rng.integers(1000, 20000, n), 0),
    "Capital Loss": np.where(rng.random(n) < 0.05, rng.integers(100, 2000, n), 0),
    "Hours per week": rng.integers(10, 80, n),
    "Country": pick(["United-States", "Mexico", "India", "Germany", "Canada"]),
})
score = 0.08 * (data["Education-Num"] - 10) + 0.03 * (data["Age"] - 38) + 0.03 * (data["Hours per week"] - 40) \
    + (data["Capital Gain"] > 0) * 1.5 + (data["Marital Status"] == "Married-civ-spouse") * 0.8 + rng.normal(0, 0.7, n)
data["Income"] = np.where(score > 0.8, ">50K", "<=50K")
print(data.head())

# Prepare the data: one-hot encode the categorical columns, label first
data["Income"] = np.where(data["Income"] == ">50K", 1, 0)
model_data = pd.get_dummies(data).astype(float)  # SHIPYARD: .astype(float): pandas 2 dummies are booleans
# SHIPYARD: the notebook splits with np.split(model_data.sample(...), [...]); with numpy 2.4 / pandas 3 that
# returns bare arrays, so the same split is done with iloc (not a Shipyard matter).
shuffled = model_data.sample(frac=1, random_state=1729)
cut1, cut2 = int(0.7 * len(model_data)), int(0.9 * len(model_data))
train_data, validation_data, test_data = shuffled.iloc[:cut1], shuffled.iloc[cut1:cut2], shuffled.iloc[cut2:]

pd.concat([train_data["Income"], train_data.drop(["Income"], axis=1)], axis=1).to_csv(
    "train.csv", index=False, header=False)
pd.concat([validation_data["Income"], validation_data.drop(["Income"], axis=1)], axis=1).to_csv(
    "validation.csv", index=False, header=False)

boto3.Session().resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train/train.csv")).upload_file(
    "train.csv")
boto3.Session().resource("s3").Bucket(bucket).Object(
    os.path.join(prefix, "validation/validation.csv")).upload_file("validation.csv")

# XGBoost
container = sagemaker.image_uris.retrieve("xgboost", boto3.Session().region_name, "1.7-1")

s3_input_train = TrainingInput(s3_data=f"s3://{bucket}/{prefix}/train", content_type="csv")
s3_input_validation = TrainingInput(s3_data=f"s3://{bucket}/{prefix}/validation/", content_type="csv")

xgb = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.m4.xlarge",
    output_path=f"s3://{bucket}/{prefix}/output",
    sagemaker_session=sess,
)
xgb.set_hyperparameters(
    max_depth=5,
    eta=0.2,
    gamma=4,
    min_child_weight=6,
    subsample=0.8,
    silent=0,
    objective="binary:logistic",
    num_round=100,
)

xgb.fit({"train": s3_input_train, "validation": s3_input_validation})

xgb_predictor = xgb.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge", serializer=CSVSerializer())

test_X = test_data.drop(["Income"], axis=1).to_numpy()
test_y = test_data["Income"].to_numpy()


def predict(data, rows=500):
    split_array = np.array_split(data, int(data.shape[0] / float(rows) + 1))
    predictions = ""
    for array in split_array:
        predictions = ",".join([predictions, xgb_predictor.predict(array).decode("utf-8")])

    return np.fromstring(predictions[1:].replace("\n", ","), sep=",")  # SHIPYARD: 1.7-1 answers one per line


xgb_predictions = predict(test_X)
print("XGBoost accuracy:", np.mean((xgb_predictions > 0.5) == test_y))

# Linear Learner
train_X = train_data.drop(["Income"], axis=1).to_numpy().astype("float32")
train_y = train_data["Income"].to_numpy().astype("float32")
val_X = validation_data.drop(["Income"], axis=1).to_numpy().astype("float32")
val_y = validation_data["Income"].to_numpy().astype("float32")

train_file = "linear_train.data"
f = io.BytesIO()
smac.write_numpy_to_dense_tensor(f, train_X, train_y)
f.seek(0)
boto3.Session().resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train_ll", train_file)).upload_fileobj(f)

validation_file = "linear_validation.data"
f = io.BytesIO()
smac.write_numpy_to_dense_tensor(f, val_X, val_y)
f.seek(0)
boto3.Session().resource("s3").Bucket(bucket).Object(
    os.path.join(prefix, "validation_ll", validation_file)).upload_fileobj(f)

ll_container = sagemaker.image_uris.retrieve("linear-learner", boto3.Session().region_name)
linear = sagemaker.estimator.Estimator(
    ll_container,
    role,
    instance_count=1,
    instance_type="ml.c4.xlarge",
    output_path=f"s3://{bucket}/{prefix}/output",
    sagemaker_session=sess,
)
linear.set_hyperparameters(
    feature_dim=train_X.shape[1],
    mini_batch_size=100,
    predictor_type="binary_classifier",
    epochs=10,
    num_models=32,
    loss="logistic",
)
linear.fit({"train": f"s3://{bucket}/{prefix}/train_ll/", "validation": f"s3://{bucket}/{prefix}/validation_ll/"})

linear_predictor = linear.deploy(
    initial_instance_count=1, instance_type="ml.m4.xlarge", serializer=CSVSerializer(),
    deserializer=JSONDeserializer())

ll_predictions = []
for array in np.array_split(test_X, 5):
    result = linear_predictor.predict(array)
    ll_predictions += [r["score"] for r in result["predictions"]]
ll_predictions = np.array(ll_predictions)
print("Linear Learner accuracy:", np.mean((ll_predictions > 0.5) == test_y))

# Ensemble: the average of the two models' scores
ensemble = (xgb_predictions + ll_predictions) / 2
print("Ensemble accuracy:", np.mean((ensemble > 0.5) == test_y))
assert len(xgb_predictions) == len(ll_predictions) == len(test_y)  # SHIPYARD: sanity check

xgb_predictor.delete_endpoint()
linear_predictor.delete_endpoint()
