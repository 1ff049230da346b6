"""Describing one training channel: where its data is and how to read it (SageMaker's ``TrainingInput``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainingInput:
    s3_data: str
    content_type: str | None = None
    distribution: str = "FullyReplicated"
    s3_data_type: str = "S3Prefix"
    input_mode: str | None = None
    compression: str | None = None
    record_wrapping: str | None = None
    shuffle_seed: int | None = None

    def channel(self, name: str) -> dict[str, Any]:
        """The ``InputDataConfig`` entry for this input under channel ``name``."""
        ch: dict[str, Any] = {
            "ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": self.s3_data_type, "S3Uri": self.s3_data,
                                            "S3DataDistributionType": self.distribution}},
        }
        if self.content_type:
            ch["ContentType"] = self.content_type
        if self.input_mode:
            ch["InputMode"] = self.input_mode
        if self.compression:
            ch["CompressionType"] = self.compression
        if self.record_wrapping:
            ch["RecordWrapperType"] = self.record_wrapping
        if self.shuffle_seed is not None:
            ch["ShuffleConfig"] = {"Seed": self.shuffle_seed}
        return ch


def channels(inputs: Any) -> list[dict[str, Any]]:
    """``str`` -> one ``training`` channel (as the SageMaker SDK does); ``dict`` -> one channel per key."""
    if inputs is None:
        return []
    if isinstance(inputs, (str, TrainingInput)):
        inputs = {"training": inputs}
    if not isinstance(inputs, dict):
        raise TypeError("inputs must be an S3 URI, a TrainingInput, or a dict of channel name -> either")
    out = []
    for name, value in inputs.items():
        spec = value if isinstance(value, TrainingInput) else TrainingInput(str(value))
        out.append(spec.channel(name))
    return out
