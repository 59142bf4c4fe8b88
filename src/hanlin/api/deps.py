"""FastAPI dependencies: the service container and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from hanlin.platform.principal import Principal
from hanlin.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_principal(request: Request, authorization: Annotated[str | None, Header()] = None,
                  x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    services: Services = request.app.state.services
    principal = services.auth.authenticate(authorization, x_api_key)
    request.state.principal = principal
    return principal


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    from hanlin.errors import PermissionDenied

    if not principal.is_admin:
        raise PermissionDenied("This route needs an admin key (`hanlin keys create --admin`).")
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
