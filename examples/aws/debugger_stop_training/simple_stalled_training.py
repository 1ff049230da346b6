"""A simple training script whose training stalls, for SageMaker Debugger's StopTraining action.

The PyTorch counterpart of AWS's src/simple_stalled_training.py (sagemaker-debugger/tensorflow_action_on_rule):
a two-weight linear model learns y = x @ [1, 1] from weights [10, 10] with Adam, saving its loss to the
``losses`` collection through the Debugger hook, which reads the job's debughookconfig.json. After ``--steps``
steps the training stalls: the learning rate has decayed to zero, so the batches keep coming but the model
no longer improves, and the loss stops decreasing. AWS's script stalls by sleeping for 10 minutes; this one
keeps stepping for 10 minutes, as a job whose optimizer is stuck does, until a rule's action stops it.
"""

# Standard Library
import argparse
import time

# Third Party
import numpy as np
import torch

# SHIPYARD: AWS's script imports smdebug (`import smdebug.pytorch as smd`; `smd.Hook.create_from_json_file()`).
# smdebug pins protobuf 3.20 and cannot be installed beside the SageMaker SDK, so the hook is Shipyard's, which
# writes the same smdebug layout from the same configuration file.
from shipyard.debugger.hook import Hook


def str2bool(v):
    if isinstance(v, bool):
        return v
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected.")


parser = argparse.ArgumentParser()
parser.add_argument("--model_dir", type=str, help="S3 path for the model")
parser.add_argument("--lr", type=float, help="Learning Rate", default=0.05)
parser.add_argument("--steps", type=int, help="Number of steps to run before the training stalls", default=100)
parser.add_argument("--batch_size", type=int, default=256)
parser.add_argument("--scale", type=float, help="Scaling factor for inputs", default=1.0)
parser.add_argument("--stall_seconds", type=float, help="How long the stalled training goes on", default=600)
parser.add_argument("--random_seed", type=str2bool, default=True)
args, _ = parser.parse_known_args()

rng = np.random.default_rng(2 if args.random_seed else None)
if args.random_seed:
    torch.manual_seed(2)

w = torch.nn.Parameter(torch.tensor([[10.0], [10.0]]))
w0 = torch.tensor([[1.0], [1.0]])
optimizer = torch.optim.Adam([w], lr=args.lr)

hook = Hook.create_from_json_file()
hook.set_mode("TRAIN")


def train_step(step):
    x = torch.tensor(rng.random((args.batch_size, 2)) * args.scale, dtype=torch.float32)
    loss = torch.mean((x @ w - x @ w0) ** 2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    hook.save_scalar("loss", loss.item(), step=step, collection="losses")
    return loss.item()


for i in range(args.steps):
    print(f"Step={i}, Loss={train_step(i)}", flush=True)

print("The learning rate decayed to zero: the training stalls", flush=True)
for group in optimizer.param_groups:
    group["lr"] = 0.0
deadline = time.monotonic() + args.stall_seconds
step = args.steps
while time.monotonic() < deadline:
    loss = train_step(step)
    if step % 20 == 0:
        print(f"Step={step}, Loss={loss}", flush=True)
    step += 1
    time.sleep(0.05)
hook.close()
print("Waking up and exiting")
