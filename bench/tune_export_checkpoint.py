"""Export the adapter of a training checkpoint (a run stopped early): ``python bench/tune_export_checkpoint.py
/tmp/tune-bench/checkpoint.pt /tmp/tune-bench/adapter-stepN.gguf``; prints the step and its losses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from hanlin.tuning.export import adapter_from_checkpoint

if __name__ == "__main__":
    models = Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache/hanlin/models"))
    info = adapter_from_checkpoint(sys.argv[1], models / "qwen2.5-coder-0.5b-instruct.gguf", sys.argv[2])
    print(json.dumps({k: info[k] for k in ("step", "adapted_weights", "val")} | {"last": info["history"][-3:]}))
