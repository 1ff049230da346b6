"""MNIST training and hosting with the SageMaker PyTorch estimator (script mode, 2 instances, gloo).

Source notebook: aws/amazon-sagemaker-examples, sagemaker-python-sdk/pytorch_mnist/pytorch_mnist.ipynb

The notebook's flow: upload the data, ``PyTorch(entry_point="mnist.py", instance_count=2, hyperparameters=
{"epochs": ..., "backend": "gloo"}).fit({"training": inputs})``, ``estimator.deploy()``, predict an image with the
PyTorch predictor's default numpy serializer (application/x-npy both ways), ``argmax``, delete the endpoint.
The training/hosting script is pytorch_mnist/mnist.py (model_fn; the container's default input/predict/output).
Adaptations are marked ``# SHIPYARD:``.
"""

import os
from pathlib import Path

import numpy as np
import sagemaker
from sagemaker.pytorch import PyTorch
from sklearn import datasets

sagemaker_session = sagemaker.Session()

bucket = sagemaker_session.default_bucket()
prefix = "sagemaker/DEMO-pytorch-mnist"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads MNIST with torchvision; here scikit-learn's bundled 8x8 digits, scaled 3x
# to 24x24 and padded to MNIST's 28x28, normalized with MNIST's mean and std, in one npz file.
digits = datasets.load_digits()
images = np.kron(digits.images / 16.0, np.ones((3, 3)))
images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
images = ((images - 0.1307) / 0.3081).astype(np.float32)[:, None, :, :]
labels = digits.target.astype(np.int64)
rng = np.random.default_rng(0)
order = rng.permutation(len(images))
test_idx, train_idx = order[:100], order[100:]
os.makedirs("data", exist_ok=True)
np.savez("data/digits.npz", x=images[train_idx], y=labels[train_idx])

inputs = sagemaker_session.upload_data(path="data", bucket=bucket, key_prefix=prefix)
print("input spec (in this case, just an S3 path): {}".format(inputs))

# SHIPYARD: the notebook's script sits next to it; here it is in pytorch_mnist/ beside this file.
source_dir = str(Path(__file__).resolve().parent / "pytorch_mnist")

estimator = PyTorch(
    entry_point="mnist.py",
    source_dir=source_dir,
    role=role,
    framework_version="2.1",
    py_version="py310",
    instance_count=2,
    instance_type="ml.c4.xlarge",
    # SHIPYARD: digits has 1,697 training images, not MNIST's 60,000: more epochs (the notebook runs 1) and a
    # larger learning rate (the script's default is 0.01) for a comparable amount of learning.
    hyperparameters={"epochs": 4, "backend": "gloo", "lr": 0.05},
    sagemaker_session=sagemaker_session,
)

estimator.fit({"training": inputs})

predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")

# SHIPYARD: the notebook draws a digit in an HTML canvas; here held-out digits, one at a time as there.
correct = 0
for i in test_idx[:20]:
    image = np.array([images[i]], dtype=np.float32)
    response = predictor.predict(image)
    prediction = response.argmax(axis=1)[0]
    correct += int(prediction == labels[i])
print(f"{correct} of 20 held-out digits predicted correctly; last: predicted {prediction}, label {labels[i]}")

# The whole batch in one request (the default serializer sends any array as application/x-npy).
response = predictor.predict(images[test_idx])
accuracy = float(np.mean(response.argmax(axis=1) == labels[test_idx]))
print(f"held-out accuracy: {accuracy:.3f}")
assert accuracy > 0.5, accuracy  # SHIPYARD: the script checks what the notebook shows by eye (chance: 0.1)

estimator.delete_endpoint()
