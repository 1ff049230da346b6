"""The conformance suite's tiny data set: three shape classes drawn at 16x16, as ``.rec`` files
(``application/x-recordio``) or as images with ``.lst`` channels (``application/x-image``), and one request
of each inference content type."""

from __future__ import annotations

from ..base import SampleData, SampleRequest
from . import synthetic

CLASSES = 3
SIZE = 16


def make(content_type: str) -> SampleData:
    train = synthetic.images(90, CLASSES, SIZE, seed=1)
    val = synthetic.images(30, CLASSES, SIZE, seed=2)
    ct = content_type.split(";")[0]
    if ct == "application/x-recordio":
        channels = {"train": ({"train.rec": synthetic.rec_bytes(train)}, ct),
                    "validation": ({"val.rec": synthetic.rec_bytes(val, "png")}, ct)}
    elif ct == "application/x-image":
        train_files, train_lst = synthetic.lst_files(train)
        val_files, val_lst = synthetic.lst_files(val, fmt="png")
        channels = {"train": (train_files, ct), "validation": (val_files, ct),
                    "train_lst": ({"train.lst": train_lst}, ct),
                    "validation_lst": ({"validation.lst": val_lst}, ct)}
    else:
        raise ValueError(f"no sample for {content_type}")
    img = synthetic.images(3, CLASSES, 24, seed=3)
    jpeg, png = synthetic.encode(img[0][0], "jpeg"), synthetic.encode(img[1][0], "png")
    other = synthetic.encode(img[2][0], "jpeg")
    # One image per request; its JSON answer is the list of CLASSES probabilities.
    requests = [SampleRequest("image/jpeg", jpeg, CLASSES, singles=(jpeg,)),
                SampleRequest("image/png", png, CLASSES),
                SampleRequest("application/x-image", other, CLASSES)]
    return SampleData(channels, requests, {"num_training_samples": str(len(train))})
