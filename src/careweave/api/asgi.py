"""ASGI entry point for uvicorn workers: settings come from the environment."""

from careweave.api.app import create_app
from careweave.settings import Settings

app = create_app(Settings.from_env(), long_running=True)
