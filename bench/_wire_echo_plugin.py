"""Benchmark-only Shipyard plugin: an endpoint router that echoes the body, so the wire path is measured alone."""


class EchoRouter:
    async def invoke(self, endpoint, body, content_type, accept, headers):
        return 200, body, content_type, {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}


def install(services):
    services.router = EchoRouter()  # what the runtime routes call (the controllers keep the real one)
