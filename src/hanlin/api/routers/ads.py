"""REST for ad copy: POST /v1/apps/ad."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from hanlin.api.deps import AdsDep, Metered, PrincipalDep
from hanlin.serving.schemas import ValidText

router = APIRouter(tags=["apps"])


class AdBody(ValidText):
    product: str = Field(min_length=1, max_length=2000)
    platform: Literal["朋友圈", "公众号", "抖音", "小红书", "搜索广告"] = "朋友圈"
    n: int = Field(3, ge=1, le=10)
    model: str | None = None


@router.post("/v1/apps/ad", dependencies=[Metered])
async def create_ad(body: AdBody, ads: AdsDep, principal: PrincipalDep) -> dict[str, Any]:
    """Ad copy variants checked for the platform's length limits and banned absolute terms."""
    from hanlin.apps.ads.app import AdRequest

    result: dict[str, Any] = await ads.create(
        AdRequest(product=body.product, platform=body.platform, n=body.n), body.model, principal=principal)
    return result
