from hanlin.engine.base import ChatRequest, Engine, EngineInfo

__all__ = ["ChatRequest", "Engine", "EngineInfo"]
