"""Optimizing an XGBoost model with SageMaker Neo (built-in XGBoost, multi-class digits), converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker_neo_compilation_jobs/xgboost_neo/xgboost_neo.ipynb

Trains the built-in XGBoost algorithm (``multi:softmax``) on handwritten digits in LibSVM format, compiles the
model with ``estimator.compile_model(target_instance_family="ml_c5", ...)`` (a CreateCompilationJob: on
Shipyard the model becomes ONNX served by onnxruntime), deploys the compiled model and the uncompiled one,
sends LibSVM rows to both and checks that they agree. Adaptations are marked ``# SHIPYARD:``.
"""

import os
import tempfile

import numpy as np
import sagemaker
from sagemaker import image_uris
from sagemaker.deserializers import CSVDeserializer
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import LibSVMSerializer
from sklearn.datasets import load_digits

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
sess = sagemaker.Session()
region = sess.boto_region_name
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-xgboost-neo"

# SHIPYARD: the notebook downloads MNIST (mnist.pkl.gz, 784 features) from a public bucket; scikit-learn bundles
# the 8x8 digits (64 features), written here in the same LibSVM layout the notebook writes.
digits = load_digits()
rng = np.random.default_rng(0)
order = rng.permutation(len(digits.target))
X, y = digits.data[order].astype(np.float32) / 16.0, digits.target[order]
n_train, n_val = int(0.7 * len(y)), int(0.15 * len(y))
splits = {"train": (X[:n_train], y[:n_train]), "validation": (X[n_train:n_train + n_val], y[n_train:n_train + n_val]),
          "test": (X[n_train + n_val:], y[n_train + n_val:])}


def to_libsvm(path, features, labels):
    with open(path, "w") as f:
        for row, label in zip(features, labels):
            f.write(f"{int(label)} " + " ".join(f"{i}:{v:g}" for i, v in enumerate(row) if v != 0) + "\n")


tmp = tempfile.mkdtemp()
for channel in ("train", "validation"):
    local = os.path.join(tmp, channel)
    to_libsvm(local, *splits[channel])
    sess.upload_data(local, bucket=bucket, key_prefix=f"{prefix}/{channel}")

container = image_uris.retrieve("xgboost", region, "1.7-1")  # SHIPYARD: the notebook's "latest" is retired
xgb = Estimator(container, role, instance_count=1, instance_type="ml.m4.xlarge",
                output_path=f"s3://{bucket}/{prefix}/output", sagemaker_session=sess)
xgb.set_hyperparameters(max_depth=5, eta=0.2, gamma=4, min_child_weight=6, silent=0, objective="multi:softmax",
                        num_class=10, num_round=25)  # SHIPYARD: 25 rounds instead of 10 on the smaller data
xgb.fit({"train": TrainingInput(f"s3://{bucket}/{prefix}/train", content_type="libsvm"),
         "validation": TrainingInput(f"s3://{bucket}/{prefix}/validation", content_type="libsvm")})

# Compile the model for a C5 instance. SHIPYARD: input shape of the 64-feature digits, not MNIST's 784.
output_path = f"s3://{bucket}/{prefix}/output"
compiled_model = xgb.compile_model(target_instance_family="ml_c5", input_shape={"data": [1, 64]}, role=role,
                                   framework="xgboost", framework_version="1.7", output_path=output_path)
print("compiled model:", compiled_model.model_data, "served with", compiled_model.image_uri)

compiled_predictor = compiled_model.deploy(initial_instance_count=1, instance_type="ml.c5.4xlarge",
                                           serializer=LibSVMSerializer(), deserializer=CSVDeserializer())
# SHIPYARD: the notebook deploys only the compiled model; the original is deployed too, to compare answers.
original_predictor = xgb.deploy(initial_instance_count=1, instance_type="ml.c5.4xlarge", use_compiled_model=False,
                                serializer=LibSVMSerializer(), deserializer=CSVDeserializer())

test_X, test_y = splits["test"]
libsvm_rows = [" ".join(f"{i}:{v:g}" for i, v in enumerate(row) if v != 0) for row in test_X[:50]]
compiled = [float(v) for row in compiled_predictor.predict("\n".join(libsvm_rows)) for v in row if v.strip()]
original = [float(v) for row in original_predictor.predict("\n".join(libsvm_rows)) for v in row if v.strip()]
accuracy = np.mean(np.array(compiled) == test_y[:50])
print(f"compiled endpoint: {compiled[:10]} ... accuracy on 50 test digits {accuracy:.2f}")
assert compiled == original, (compiled, original)
assert accuracy > 0.8, accuracy
print("the compiled and the original endpoint agree on all 50 digits")

compiled_predictor.delete_endpoint()
original_predictor.delete_endpoint()
