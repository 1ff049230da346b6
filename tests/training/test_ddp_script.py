"""Script mode on 2 instances with PyTorch DDP (gloo): the job gives torch.distributed what it expects
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK), so `init_process_group("gloo")` just works, and
both ranks see the same averaged gradients and end with the same weights."""

from __future__ import annotations

import json

import pytest

from training_helpers import script_job, unique, untar, wait_status

pytest.importorskip("torch", reason="torch is in the test extra: pip install -e '.[test]'")

DDP = """
    import json, os
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = DDP(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    X = torch.randn(64, 4, generator=gen)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    grads = []
    for step in range(20):
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        grads.append(model.module.weight.grad.flatten().tolist())
        opt.step()
    local = torch.autograd.grad(((model.module(X) - y) ** 2).mean(), model.module.weight)[0]
    out = {"rank": rank, "world": world, "local_rank": int(os.environ["LOCAL_RANK"]), "grads": grads,
           "weights": model.module.weight.flatten().tolist(), "local_grad": local.flatten().tolist()}
    name = os.path.join(os.environ["SM_MODEL_DIR"], f"rank-{rank}.json")
    json.dump(out, open(name, "w"))
    print("rank", rank, "of", world, "loss", float(loss.detach()), flush=True)
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # skip interpreter teardown: gloo's threads can abort it ("terminate called ...")
"""


def test_ddp_on_two_instances_averages_gradients(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("ddp")
    params = script_job(s3, "ddp-tests", name, DDP, hps={"sagemaker_pytorch_ddp_enabled": "true"},
                        max_runtime=120)
    params["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5}
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    files = untar(s3.get_object(Bucket="ddp-tests", Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    r0, r1 = json.loads(files["rank-0.json"]), json.loads(files["rank-1.json"])
    assert (r0["world"], r1["world"], r0["local_rank"], r1["local_rank"]) == (2, 2, 0, 0)
    # DDP all-reduces: both ranks applied the same averaged gradient at every step ...
    flat = [[g for step in r["grads"] for g in step] for r in (r0, r1)]
    assert len(flat[0]) == 80 and flat[0] == pytest.approx(flat[1], abs=1e-6)
    assert r0["weights"] == pytest.approx(r1["weights"], abs=1e-6)
    # ... which differs from what each rank's own data alone would give
    assert r0["local_grad"] != pytest.approx(r1["local_grad"], abs=1e-4)
