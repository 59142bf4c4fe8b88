"""Workbooks generated for the formula tests; the rows stay in Python so tests compute answers independently."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

import openpyxl

REGIONS = ["北京", "上海", "广州", "深圳"]
PRODUCTS = ["笔记本", "显示器", "键盘", "鼠标", "耳机"]
REPS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]
COLUMNS = ["订单号", "日期", "地区", "产品", "销售员", "数量", "单价", "销售额"]


def sales_rows(n: int = 60, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        qty, price = rnd.randrange(1, 50), rnd.choice([99.0, 199.0, 899.5, 1299.0, 2499.0])
        rows.append({"订单号": f"SO{1000 + i}",
                     "日期": dt.datetime(2024, 1, 1) + dt.timedelta(days=rnd.randrange(0, 360)),
                     "地区": rnd.choice(REGIONS), "产品": rnd.choice(PRODUCTS), "销售员": rnd.choice(REPS),
                     "数量": qty, "单价": price, "销售额": qty * price})
    return rows


def write_xlsx(rows: list[dict[str, Any]], path: Path, sheet: str = "销售") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(COLUMNS)
    for r in rows:
        ws.append([r[c] for c in COLUMNS])
    other = wb.create_sheet("员工")
    other.append(["姓名", "部门", "入职日期"])
    for i, name in enumerate(REPS):
        other.append([name, ["销售一部", "销售二部"][i % 2], dt.datetime(2018 + i, 3, 1 + i)])
    wb.save(path)
    return path


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r[c].strftime("%Y-%m-%d") if isinstance(r[c], dt.datetime) else r[c] for c in COLUMNS])
    return path
