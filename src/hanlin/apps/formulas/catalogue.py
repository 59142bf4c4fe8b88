"""The Excel function catalogue: name, category, syntax, Chinese/English description, executable flag.

``data/functions.psv`` is written from Microsoft's function reference; ``executable`` is true when the
``formulas`` engine (the verifier) implements the name (``formulas.get_functions()``), so the catalogue says
honestly which functions a verified formula may use.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data") / "functions.psv"

# Request words (Chinese and English) that point at functions, for prompt grounding.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "SUMIFS": ("求和", "总和", "合计", "总额", "总计", "sum", "total"),
    "AVERAGEIFS": ("平均", "均值", "average", "mean"),
    "COUNTIFS": ("数量", "个数", "多少", "几个", "几笔", "次数", "count", "how many", "number of"),
    "MAXIFS": ("最大", "最高", "最多", "max", "highest", "largest"),
    "MINIFS": ("最小", "最低", "最少", "min", "lowest", "smallest"),
    "XLOOKUP": ("查找", "查询", "对应", "匹配", "lookup", "look up", "find", "match"),
    "INDEX": ("index",), "MATCH": ("match", "位置"),
    "VLOOKUP": ("vlookup",),
    "YEAR": ("年份", "哪一年", "year"), "MONTH": ("月份", "month"), "DAY": ("日", "day"),
    "WEEKDAY": ("星期", "周几", "weekday"), "DATEDIF": ("相差", "间隔", "天数", "days between"),
    "TEXT": ("格式", "format"), "LEFT": ("前", "左", "left", "first"), "RIGHT": ("后", "右", "right", "last"),
    "MID": ("中间", "mid"), "LEN": ("长度", "字数", "length"), "UPPER": ("大写", "upper"),
    "LOWER": ("小写", "lower"), "TRIM": ("空格", "trim"), "CONCAT": ("连接", "合并", "拼接", "concat", "join"),
    "IF": ("如果", "是否", "判断", "if"), "ROUND": ("四舍五入", "保留", "round"), "RANK.EQ": ("排名", "rank"),
    "TODAY": ("今天", "today"), "SUBSTITUTE": ("替换", "replace"), "UNIQUE": ("去重", "唯一", "unique"),
    "MEDIAN": ("中位数", "median"), "STDEV.S": ("标准差", "std"),
}


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    category: str
    syntax: str
    description: str  # Chinese
    description_en: str
    executable: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, lang: str = "zh") -> str:
        return self.description_en if lang == "en" else self.description


class Catalogue:
    def __init__(self, entries: list[FunctionInfo]) -> None:
        self.entries = entries
        self.by_name = {e.name: e for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> FunctionInfo | None:
        n = name.upper().replace("_XLFN.", "").replace("_XLWS.", "")
        return self.by_name.get(n)

    def search(self, text: str = "", category: str | None = None, limit: int | None = None,
               executable_only: bool = False) -> list[FunctionInfo]:
        """Entries whose name, syntax or description contain ``text``; exact name first."""
        q = text.strip().lower()
        scored: list[tuple[int, str, FunctionInfo]] = []
        for e in self.entries:
            if category and e.category != category:
                continue
            if executable_only and not e.executable:
                continue
            name = e.name.lower()
            if not q:
                score = 0
            elif name == q:
                score = -3
            elif name.startswith(q):
                score = -2
            elif q in name:
                score = -1
            elif q in e.description.lower() or q in e.description_en.lower():
                score = 0
            else:
                continue
            scored.append((score, e.name, e))
        scored.sort(key=lambda t: (t[0], t[1]))
        out = [e for _, _, e in scored]
        return out[:limit] if limit else out

    def relevant(self, request: str, limit: int = 8) -> list[FunctionInfo]:
        """Functions a request probably needs: keyword hits and names written in the request."""
        low = request.lower()
        hits: list[str] = []
        for name, words in KEYWORDS.items():
            if any(w in low for w in words):
                hits.append(name)
        for word in re.findall(r"[A-Za-z][A-Za-z0-9.]+", request):
            if word.upper() in self.by_name and word.upper() not in hits:
                hits.insert(0, word.upper())
        out = [self.by_name[h] for h in hits if h in self.by_name]
        return out[:limit]

    def categories(self) -> dict[str, int]:
        cats: dict[str, int] = {}
        for e in self.entries:
            cats[e.category] = cats.get(e.category, 0) + 1
        return cats

    def stats(self) -> dict[str, Any]:
        n_exec = sum(e.executable for e in self.entries)
        return {"functions": len(self.entries), "executable": n_exec, "not_executable": len(self.entries) - n_exec,
                "categories": self.categories()}


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    from hanlin.apps.formulas.verify import known_functions

    engine = known_functions()
    entries: list[FunctionInfo] = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, cat, syntax, zh, en = (p.strip() for p in line.split("|"))
        entries.append(FunctionInfo(name, cat, syntax, zh, en, name in engine))
    return Catalogue(entries)
