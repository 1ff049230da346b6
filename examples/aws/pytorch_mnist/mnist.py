"""Training and hosting script for the PyTorch MNIST example (examples/aws/pytorch_mnist.py).

Follows the structure of the notebook's ``mnist.py``: a small two-convolution network for 28x28 grey images,
trained with torch.distributed (backend from the ``backend`` hyperparameter, gloo on CPU) across the job's hosts
(``SM_HOSTS`` / ``SM_CURRENT_HOST``), saved as a ``state_dict`` in ``SM_MODEL_DIR``, and a ``model_fn`` that
hosting uses to rebuild the network; input, prediction and output use the PyTorch container's defaults.
Written for Shipyard's example, not copied from the notebook.

SHIPYARD: the notebook reads MNIST through torchvision; here the ``training`` channel holds ``digits.npz``
(``x``: N x 1 x 28 x 28 float32, normalized; ``y``: labels), made from scikit-learn's bundled digits.
"""

import argparse
import json
import logging
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
logger.addHandler(logging.StreamHandler(sys.stdout))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def _load(channel_dir):
    with np.load(os.path.join(channel_dir, "digits.npz")) as data:
        return torch.from_numpy(data["x"]), torch.from_numpy(data["y"]).long()


def train(args):
    world_size = len(args.hosts)
    is_distributed = world_size > 1 and args.backend is not None
    rank = 0
    if is_distributed:
        os.environ["WORLD_SIZE"] = str(world_size)
        rank = args.hosts.index(args.current_host)
        os.environ["RANK"] = str(rank)
        dist.init_process_group(backend=args.backend, rank=rank, world_size=world_size)
        logger.info("Initialized the distributed environment: '%s' backend on %d nodes. Current host rank is %d.",
                    args.backend, dist.get_world_size(), dist.get_rank())
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    x, y = _load(args.data_dir)
    x_train, y_train = x[rank::world_size], y[rank::world_size]  # each host its shard
    logger.info("Processes %d/%d of train data", len(x_train), len(x))

    model = Net().to(device)
    if is_distributed:
        model = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    generator = torch.Generator().manual_seed(args.seed + rank)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for batch_idx, start in enumerate(range(0, len(order), args.batch_size)):
            idx = order[start:start + args.batch_size]
            data, target = x_train[idx].to(device), y_train[idx].to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                logger.info("Train Epoch: %d [%d/%d]\tLoss: %.6f", epoch, start, len(x_train), loss.item())
    test(model, x, y, device)
    if rank == 0:
        save_model(model.module if is_distributed else model, args.model_dir)
    if is_distributed:
        dist.barrier()
        dist.destroy_process_group()


def test(model, x, y, device):
    model.eval()
    with torch.no_grad():
        output = model(x.to(device))
        loss = F.nll_loss(output, y.to(device), reduction="sum").item() / len(x)
        correct = output.argmax(dim=1).eq(y.to(device)).sum().item()
    logger.info("Test set: Average loss: %.4f, Accuracy: %d/%d (%.0f%%)", loss, correct, len(x),
                100.0 * correct / len(x))


def model_fn(model_dir):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Net()
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f, map_location=device))
    return model.to(device)


def save_model(model, model_dir):
    logger.info("Saving the model.")
    torch.save(model.cpu().state_dict(), os.path.join(model_dir, "model.pth"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=100)
    parser.add_argument("--backend", type=str, default=None)
    parser.add_argument("--hosts", type=json.loads, default=os.environ["SM_HOSTS"])
    parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--data-dir", type=str, default=os.environ["SM_CHANNEL_TRAINING"])
    parser.add_argument("--num-gpus", type=int, default=int(os.environ.get("SM_NUM_GPUS", 0)))
    train(parser.parse_args())
