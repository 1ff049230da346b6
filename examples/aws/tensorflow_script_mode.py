"""TensorFlow script mode training and serving (MNIST with Keras), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-python-sdk/tensorflow_script_mode_training_and_serving/tensorflow_script_mode_training_and_serving.ipynb

The notebook's flow: ``TensorFlow(entry_point="mnist.py", instance_count=2, distribution={"parameter_server":
{"enabled": True}}).fit(training_data_uri)``, ``deploy()`` to a TensorFlow Serving endpoint, predict 50 training
images with the TensorFlowPredictor (JSON, TF Serving's REST contract) and compare with the labels, delete the
endpoint. The training script is tensorflow_script_mode/mnist.py (the notebook's own). Adaptations are marked
``# SHIPYARD:``.
"""

import os
from pathlib import Path

import numpy as np
import sagemaker
from sagemaker.tensorflow import TensorFlow
from sklearn import datasets

sagemaker_session = sagemaker.Session()

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
region = sagemaker_session.boto_session.region_name

# SHIPYARD: the notebook trains on s3://sagemaker-example-files-prod-<region>/datasets/image/MNIST/numpy
# (train_data.npy, train_labels.npy, eval_data.npy, eval_labels.npy: 28x28 images as 784 floats in [0, 1]).
# No downloads here: scikit-learn's bundled 8x8 digits scaled 3x to 24x24 and padded to 28x28, as the same four
# .npy files, uploaded to the session's default bucket.
digits = datasets.load_digits()
images = np.pad(np.kron(digits.images / 16.0, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
images = images.reshape(len(images), 784).astype(np.float32)
labels = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(images))
train_idx, eval_idx = order[:1500], order[1500:]
os.makedirs("data", exist_ok=True)
np.save("data/train_data.npy", images[train_idx])
np.save("data/train_labels.npy", labels[train_idx])
np.save("data/eval_data.npy", images[eval_idx])
np.save("data/eval_labels.npy", labels[eval_idx])
training_data_uri = sagemaker_session.upload_data(path="data", key_prefix="datasets/image/MNIST/numpy")

from sagemaker.tensorflow import TensorFlow  # noqa: E402,F811 - the notebook's own import cell

mnist_estimator = TensorFlow(
    entry_point="mnist.py",
    # SHIPYARD: the notebook's script sits next to it; here it is in tensorflow_script_mode/ beside this file.
    source_dir=str(Path(__file__).resolve().parent / "tensorflow_script_mode"),
    role=role,
    instance_count=2,
    instance_type="ml.p3.2xlarge",
    framework_version="2.13",  # SHIPYARD: the notebook names 2.1.0/py3, which Shipyard's image list (AWS's) retired
    py_version="py310",
    distribution={"parameter_server": {"enabled": True}},
    sagemaker_session=sagemaker_session,  # SHIPYARD: the session above (the notebook uses the default one)
)

mnist_estimator.fit(training_data_uri)

# SHIPYARD: ml.m5.xlarge, not the notebook's ml.p2.xlarge: the SDK itself refuses P2 for TensorFlow >= 2.6.
predictor = mnist_estimator.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")

# SHIPYARD: the notebook downloads train_data.npy/train_labels.npy with the AWS CLI; they are local here.
train_data = np.load("data/train_data.npy")
train_labels = np.load("data/train_labels.npy")

predictions = predictor.predict(train_data[:50])
matched = 0
for i in range(0, 50):
    prediction = np.argmax(predictions["predictions"][i])
    label = train_labels[i]
    matched += int(prediction == label)
    print("prediction is {}, label is {}, matched: {}".format(prediction, label, prediction == label))
print(f"{matched} of 50 matched")
assert matched >= 40, matched  # SHIPYARD: the script checks what the notebook shows by eye

predictor.delete_endpoint()
