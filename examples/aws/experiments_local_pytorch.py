"""Track an experiment while training a PyTorch model locally, with SageMaker Experiments' ``Run``, as a script.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-experiments/local_experiment_tracking/pytorch_experiment.ipynb

Creates an experiment and a run that logs the data set's sizes and its raw files, trains a small CNN on
handwritten digits inside ``load_run`` (parameters, per-epoch train/test loss and accuracy, a confusion
matrix), then four more runs over hidden channels x optimizer. Adaptations are marked ``# SHIPYARD:``.
"""

import gzip
import logging
import os
import sys

import numpy as np
import torch
from sagemaker.experiments.run import Run, load_run
from sagemaker.session import Session
from sagemaker.utils import unique_name_from_base

logger = logging.getLogger(__name__)
logger.setLevel(logging.DEBUG)
logger.addHandler(logging.StreamHandler(sys.stdout))


experiment_name = unique_name_from_base("local-experiment-example")
run_name = "experiment-run"
print(experiment_name)


# SHIPYARD: the notebook downloads MNIST with torchvision (not installed here, and no downloads). The same
# schema is built from scikit-learn's bundled 8x8 digits, scaled up to 28x28 uint8 images with labels 0-9,
# written as the MNIST idx files under mnist_data/MNIST/raw (the files the notebook logs) and served by a
# small Dataset with the notebook's ToTensor + Normalize((0.1307,), (0.3081,)) transform.
class DigitsAsMNIST(torch.utils.data.Dataset):
    def __init__(self, root, train):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.kron(digits.images, np.ones((3, 3)))  # 8x8 -> 24x24
        images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # -> 28x28, as MNIST's centred digits
        images = np.clip(images * 255.0 / 16.0, 0, 255).astype(np.uint8)
        split = 1500
        sl = slice(0, split) if train else slice(split, None)
        self.data = torch.from_numpy(images[sl])
        self.targets = torch.from_numpy(digits.target[sl].astype(np.int64))
        self.raw_folder = os.path.join(root, "MNIST", "raw")
        os.makedirs(self.raw_folder, exist_ok=True)
        prefix = "train" if train else "t10k"
        with gzip.open(os.path.join(self.raw_folder, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(np.array([2051, len(self.data), 28, 28], dtype=">i4").tobytes() + self.data.numpy().tobytes())
        with gzip.open(os.path.join(self.raw_folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(np.array([2049, len(self.targets)], dtype=">i4").tobytes()
                    + self.targets.numpy().astype(np.uint8).tobytes())

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image = self.data[index].float().div(255.0).unsqueeze(0)
        return (image - 0.1307) / 0.3081, int(self.targets[index])


train_set = DigitsAsMNIST("mnist_data", train=True)
test_set = DigitsAsMNIST("mnist_data", train=False)

# create an experiment and start a new run
with Run(experiment_name=experiment_name, run_name=run_name, sagemaker_session=Session()) as run:
    run.log_parameters(
        {"num_train_samples": len(train_set.data), "num_test_samples": len(test_set.data)}
    )
    for f in os.listdir(train_set.raw_folder):
        print("Logging", train_set.raw_folder + "/" + f)
        run.log_file(train_set.raw_folder + "/" + f, name=f, is_output=False)


# Based on https://github.com/pytorch/examples/blob/master/mnist/main.py
class Net(torch.nn.Module):
    def __init__(self, hidden_channels, kernel_size, drop_out):
        super(Net, self).__init__()
        self.conv1 = torch.nn.Conv2d(1, hidden_channels, kernel_size=kernel_size)
        self.conv2 = torch.nn.Conv2d(hidden_channels, 20, kernel_size=kernel_size)
        self.conv2_drop = torch.nn.Dropout2d(p=drop_out)
        self.fc1 = torch.nn.Linear(320, 50)
        self.fc2 = torch.nn.Linear(50, 10)

    def forward(self, x):
        x = torch.nn.functional.relu(torch.nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.nn.functional.relu(
            torch.nn.functional.max_pool2d(self.conv2_drop(self.conv2(x)), 2)
        )
        x = x.view(-1, 320)
        x = torch.nn.functional.relu(self.fc1(x))
        x = torch.nn.functional.dropout(x, training=self.training)
        x = self.fc2(x)
        return torch.nn.functional.log_softmax(x, dim=1)


def log_performance(model, data_loader, device, epoch, run, metric_type="Test"):
    model.eval()
    loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in data_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            loss += torch.nn.functional.nll_loss(
                output, target, reduction="sum"
            ).item()  # sum up batch loss
            # get the index of the max log-probability
            pred = output.max(1, keepdim=True)[1]
            correct += pred.eq(target.view_as(pred)).sum().item()
    loss /= len(data_loader.dataset)
    accuracy = 100.0 * correct / len(data_loader.dataset)
    # log metrics
    run.log_metric(name=metric_type + ":loss", value=loss, step=epoch)
    run.log_metric(name=metric_type + ":accuracy", value=accuracy, step=epoch)
    return accuracy  # SHIPYARD: returned for the sanity check at the end


def train_model(
    run, train_set, test_set, data_dir="mnist_data", optimizer="sgd", epochs=10, hidden_channels=10
):
    """Trains the CNN classifier to identify the digits, logging parameters, metrics and a confusion matrix."""

    # log the parameters of your model
    run.log_parameter("device", "cpu")
    run.log_parameters(
        {
            "data_dir": data_dir,
            "optimizer": optimizer,
            "epochs": epochs,
            "hidden_channels": hidden_channels,
        }
    )

    # train the model on the CPU (no GPU)
    device = torch.device("cpu")

    # set the seed for generating random numbers
    torch.manual_seed(42)

    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, shuffle=True)
    model = Net(hidden_channels, kernel_size=5, drop_out=0.5).to(device)
    model = torch.nn.DataParallel(model)
    momentum = 0.5
    lr = 0.01
    if optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    for epoch in range(1, epochs + 1):
        print("Training Epoch:", epoch)
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader, 1):  # noqa: B007 (the notebook's loop)
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = torch.nn.functional.nll_loss(output, target)
            loss.backward()
            optimizer.step()

        log_performance(model, train_loader, device, epoch, run, "Train")
        test_accuracy = log_performance(model, test_loader, device, epoch, run, "Test")
    # log confusion matrix
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            pred = output.max(1, keepdim=True)[1]
            run.log_confusion_matrix(target, pred, "Confusion-Matrix-Test-Data")
    return test_accuracy


with load_run(
    experiment_name=experiment_name, run_name=run_name, sagemaker_session=Session()
) as run:
    first_accuracy = train_model(
        run=run,
        train_set=train_set,
        test_set=test_set,
        epochs=5,
        hidden_channels=2,
        optimizer="adam",
    )

# define the list of parameters to train the model with
num_hidden_channel_param = [5, 10]
optimizer_param = ["adam", "sgd"]
run_id = 0
# train the model using SageMaker Experiments to track the model parameters,
# metrics and performance
sm_session = Session()
for i, num_hidden_channel in enumerate(num_hidden_channel_param):  # noqa: B007 (the notebook's loop)
    for k, optimizer in enumerate(optimizer_param):  # noqa: B007 (the notebook's loop)
        run_id += 1
        run_name = "experiment-run-" + str(run_id)
        print(run_name)
        print(
            f"Training model with: {num_hidden_channel} hidden channels and {optimizer} as optimizer"
        )
        # Defining an experiment run for each model training run
        with Run(
            experiment_name=experiment_name, run_name=run_name, sagemaker_session=sm_session
        ) as run:
            train_model(
                run=run,
                train_set=train_set,
                test_set=test_set,
                epochs=5,
                hidden_channels=num_hidden_channel,
                optimizer=optimizer,
            )

# SHIPYARD: sanity checks in place of the notebook's look at the Experiments UI: five runs in the experiment,
# the first with its parameters, its raw input files, its Test:accuracy series and its confusion matrix.
from sagemaker.experiments import list_runs  # noqa: E402

print(f"first run's test accuracy: {first_accuracy:.1f} %")
assert first_accuracy > 50  # SHIPYARD: sanity check
runs = list_runs(experiment_name=experiment_name, sagemaker_session=sm_session)
assert sorted(r.run_name for r in runs) == ["experiment-run"] + [f"experiment-run-{i}" for i in range(1, 5)], runs
first = next(r for r in runs if r.run_name == "experiment-run")
tc_name = first._trial_component.trial_component_name
tc = sm_session.sagemaker_client.describe_trial_component(TrialComponentName=tc_name)
print(tc["Parameters"])
assert tc["Parameters"]["num_train_samples"]["NumberValue"] == 1500  # SHIPYARD: sanity check
assert tc["Parameters"]["optimizer"]["StringValue"] == "adam"  # SHIPYARD: sanity check
assert "train-images-idx3-ubyte.gz" in tc["InputArtifacts"], tc["InputArtifacts"]  # SHIPYARD: sanity check
assert any(m["MetricName"] == "Test:accuracy" for m in tc.get("Metrics", [])), tc.get("Metrics")  # SHIPYARD
# SHIPYARD: log_confusion_matrix stores a lineage artifact associated with the run's trial component.
assoc = sm_session.sagemaker_client.list_associations(SourceArn=tc["TrialComponentArn"])["AssociationSummaries"]
print([a.get("DestinationName") for a in assoc])
assert any(a.get("DestinationName") == "Confusion-Matrix-Test-Data" for a in assoc), assoc  # SHIPYARD
print("OK")
