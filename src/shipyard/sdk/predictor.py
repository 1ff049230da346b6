"""Calling a deployed endpoint, and tearing it down."""

from __future__ import annotations

from typing import Any

from .serializers import accept_header
from .session import Session


class Predictor:
    """``predict(data)`` = serialize -> InvokeEndpoint -> deserialize; with no serializer the body is sent
    as given (bytes/str) and the raw response bytes are returned."""

    def __init__(self, endpoint_name: str, session: Session | None = None, serializer: Any = None,
                 deserializer: Any = None):
        self.endpoint_name = endpoint_name
        self.session = session or Session()
        self.serializer = serializer
        self.deserializer = deserializer
        self._model_names: list[str] | None = None
        self._config_name: str | None = None

    def predict(self, data: Any, content_type: str | None = None, accept: str | None = None,
                target_variant: str | None = None, custom_attributes: str | None = None) -> Any:
        body = self.serializer.serialize(data) if self.serializer is not None else data
        kwargs: dict[str, Any] = {"EndpointName": self.endpoint_name, "Body": body}
        ctype = content_type or getattr(self.serializer, "CONTENT_TYPE", None)
        if ctype:
            kwargs["ContentType"] = ctype
        acc = accept or accept_header(self.deserializer)
        if acc:
            kwargs["Accept"] = acc
        if target_variant:
            kwargs["TargetVariant"] = target_variant
        if custom_attributes:
            kwargs["CustomAttributes"] = custom_attributes
        resp = self.session.runtime_client.invoke_endpoint(**kwargs)
        payload = resp["Body"].read()
        if self.deserializer is None:
            return payload
        return self.deserializer.deserialize(payload, resp.get("ContentType", ""))

    # -- teardown ---------------------------------------------------------------------------------------
    def _lookup(self) -> None:
        if self._config_name is None:
            sm = self.session.sagemaker_client
            self._config_name = sm.describe_endpoint(EndpointName=self.endpoint_name)["EndpointConfigName"]
            cfg = sm.describe_endpoint_config(EndpointConfigName=self._config_name)
            self._model_names = [v["ModelName"] for v in cfg.get("ProductionVariants", []) if v.get("ModelName")]

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Delete the endpoint (and by default its configuration); the models are kept for delete_model()."""
        self._lookup()
        sm = self.session.sagemaker_client
        sm.delete_endpoint(EndpointName=self.endpoint_name)
        if delete_endpoint_config and self._config_name:
            sm.delete_endpoint_config(EndpointConfigName=self._config_name)

    def delete_model(self) -> None:
        """Delete the models the endpoint served (call before or after delete_endpoint)."""
        self._lookup()
        for name in self._model_names or []:
            self.session.sagemaker_client.delete_model(ModelName=name)
