"""(Being built: issue 6.)"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    return APIRouter(route_class=route_class, include_in_schema=False)
