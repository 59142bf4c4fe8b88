"""Render Vega-Lite with vl-convert (PNG/SVG/HTML), with a CJK font registered so Chinese renders as glyphs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from hanlin.config import Settings
from hanlin.errors import BadRequest, UnprocessableInput

FONT_DIRS = ["/usr/share/fonts/opentype/noto",
             "/usr/share/fonts/truetype/noto", "/usr/share/fonts/opentype/noto-cjk", "/usr/share/fonts/noto-cjk",
             "/usr/share/fonts/truetype/wqy", "/usr/share/fonts/truetype/arphic"]
FORMATS = ("png", "svg", "html")


@lru_cache(maxsize=1)
def cjk_font_dir() -> str | None:
    """Register the first folder holding a CJK font with vl-convert (HANLIN_CJK_FONT_DIR first, then the usual
    system folders); None when none is installed."""
    import vl_convert as vlc

    for d in (Settings().cjk_font_dir, *FONT_DIRS):
        if d and Path(d).is_dir() and any(p.suffix.lower() in (".ttc", ".otf", ".ttf") and
                                          any(k in p.name.lower() for k in ("cjk", "wqy", "uming", "ukai", "han"))
                                          for p in Path(d).iterdir()):
            vlc.register_font_directory(d)
            return d
    return None


def format_of(path: str | Path) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise BadRequest(f"Output must end in .png, .svg or .html (got '{Path(path).name}').", param="output")
    return ext


def render_bytes(spec: dict[str, Any], fmt: str) -> bytes:
    import vl_convert as vlc

    cjk_font_dir()
    try:
        if fmt == "png":
            return bytes(vlc.vegalite_to_png(spec, scale=2))
        if fmt == "svg":
            return str(vlc.vegalite_to_svg(spec)).encode()
        if fmt == "html":
            return str(vlc.vegalite_to_html(spec, bundle=True)).encode()
    except Exception as e:  # noqa: BLE001 - vl-convert raises ValueError with the Vega message
        raise UnprocessableInput(f"The chart could not be rendered: {str(e)[:300]}") from None
    raise BadRequest(f"Unknown output format '{fmt}'. Use png, svg or html.", param="format")


def render(spec: dict[str, Any], out: str | Path) -> str:
    out = Path(out)
    data = render_bytes(spec, format_of(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return str(out)
