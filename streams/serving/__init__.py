"""``pioneer serve`` on the wire: the HTTP app, the inference-log shipper with its disk spill, the release follower."""

from streams.serving.app import create_app
from streams.serving.follower import ReleaseFollower
from streams.serving.metrics import ServingMetrics
from streams.serving.runtime import Answered, ServeConfig, ServingRuntime
from streams.serving.server import BackgroundServer, serve, uvicorn_config
from streams.serving.shipper import EventShipper, ShipperState

__all__ = [
    "Answered",
    "BackgroundServer",
    "EventShipper",
    "ReleaseFollower",
    "ServeConfig",
    "ServingMetrics",
    "ServingRuntime",
    "ShipperState",
    "create_app",
    "serve",
    "uvicorn_config",
]
