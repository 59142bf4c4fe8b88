"""FastAPI dependencies: the service container, the calling principal (authenticated once per request), one
dependency per feature (``KnowledgeDep``…; 503 ``Unavailable`` when the feature is off), and ``Metered`` for the
routes that generate besides chat (quotas before, a usage row with their tokens after)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from hanlin.apps.ads.app import AdService
from hanlin.apps.charts.app import ChartService
from hanlin.apps.documents.app import DocumentService
from hanlin.apps.formulas.app import FormulaService
from hanlin.apps.minutes.app import MinutesService
from hanlin.errors import HanlinError, PermissionDenied, Unavailable
from hanlin.evals.service import EvalService
from hanlin.knowledge.service import KnowledgeService
from hanlin.platform.auth import Authenticator
from hanlin.platform.files import FileStore
from hanlin.platform.service import Platform
from hanlin.principal import Principal
from hanlin.services import Services
from hanlin.tuning.service import TuningService

T = TypeVar("T")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request for nothing
    return services_of(request)


async def get_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer …`` or ``X-API-Key`` (read straight from the headers: declaring
    them as FastAPI ``Header`` parameters cost a parameter-resolution pass per dependency per request)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = await authenticate(services_of(request).auth, request.headers.get("authorization"),
                                   request.headers.get("x-api-key"))
    request.state.principal = principal
    return principal


async def authenticate(auth: Authenticator, authorization: str | None, x_api_key: str | None) -> Principal:
    """No key, the bootstrap admin key or a key looked up recently: answered at once. Else the key is looked up
    in the database off the event loop."""
    principal = auth.cached(authorization, x_api_key)
    if principal is None:
        principal = await asyncio.to_thread(auth.authenticate, authorization, x_api_key)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("This route needs an admin key (`hanlin keys create --admin`).")
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]


def http_status(exc: BaseException) -> int:
    """The status the app's error handlers will answer ``exc`` with."""
    if isinstance(exc, HanlinError):
        return exc.status
    if isinstance(exc, RequestValidationError):
        return 400
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


async def _metered(request: Request, principal: PrincipalDep, services: ServicesDep) -> AsyncIterator[None]:
    if services.platform is None:
        yield
        return
    async with services.platform.metered(principal, request.url.path.removeprefix("/v1/")) as set_status:
        try:
            yield
        except BaseException as e:
            set_status(http_status(e))
            raise


# Declare on a route: ``@router.post(..., dependencies=[Metered])``. It runs around the route function (the usage
# row is queued before the response goes out; see UsageMeter).
Metered = Depends(_metered, scope="function")


def _need(svc: T | None, what: str) -> T:
    if svc is None:
        raise Unavailable(f"{what} is not enabled on this server.")
    return svc


async def get_platform(services: ServicesDep) -> Platform:
    return _need(services.platform, "The platform (tenants, keys, quotas, usage)")


async def get_files(services: ServicesDep) -> FileStore:
    return _need(services.files, "The Files API")


async def get_knowledge(services: ServicesDep) -> KnowledgeService:
    return _need(services.knowledge, "The knowledge base feature")


async def get_minutes(services: ServicesDep) -> MinutesService:
    return _need(services.minutes, "The minutes app")


async def get_formulas(services: ServicesDep) -> FormulaService:
    return _need(services.formulas, "The formula app")


async def get_charts(services: ServicesDep) -> ChartService:
    return _need(services.charts, "The chart app")


async def get_documents(services: ServicesDep) -> DocumentService:
    return _need(services.documents, "The 公文 documents app")


async def get_ads(services: ServicesDep) -> AdService:
    return _need(services.ads, "The ad copy app")


async def get_evals(services: ServicesDep) -> EvalService:
    return _need(services.evals, "Evaluations")


async def get_tuning(services: ServicesDep) -> TuningService:
    return _need(services.tuning, "Fine-tuning")


PlatformDep = Annotated[Platform, Depends(get_platform)]
FilesDep = Annotated[FileStore, Depends(get_files)]
KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
MinutesDep = Annotated[MinutesService, Depends(get_minutes)]
FormulasDep = Annotated[FormulaService, Depends(get_formulas)]
ChartsDep = Annotated[ChartService, Depends(get_charts)]
DocumentsDep = Annotated[DocumentService, Depends(get_documents)]
AdsDep = Annotated[AdService, Depends(get_ads)]
EvalsDep = Annotated[EvalService, Depends(get_evals)]
TuningDep = Annotated[TuningService, Depends(get_tuning)]
