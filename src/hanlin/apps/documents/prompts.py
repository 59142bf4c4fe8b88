"""Prompts for drafting 公文 content. The model writes content only; code numbers headings and lays out the page."""

from __future__ import annotations

from typing import Any

TYPE_GUIDE = {
    "通知": "通知用于发布、传达要求下级机关执行的事项。正文先写目的和依据，再分条写具体要求（时间、范围、责任）。",
    "请示": "请示用于向上级机关请求指示、批准。一文一事，只写一个主送机关（上级机关）。正文写请示缘由、请示事项，"
            "最后一段必须是“妥否，请批示。”",
    "报告": "报告用于向上级机关汇报工作、反映情况、回复询问。正文写基本情况、主要做法、存在问题和下一步打算，"
            "不得夹带请示事项，结尾写“特此报告。”",
    "函": "函用于不相隶属机关之间商洽工作、询问和答复问题。只写一个主送机关（对方单位）。正文写事由和具体事项，"
          "结尾写“请予函复。”或“特此函复。”",
    "纪要": "纪要用于记载会议主要情况和议定事项。不写主送机关（to 为空数组）。正文写会议时间地点、参会人员、"
            "会议议定的事项（分条），每条写清责任单位和完成时限。",
    "通报": "通报用于表彰先进、批评错误、传达重要精神和告知重要情况。正文写事实经过、性质评价、处理决定和工作要求。",
    "意见": "意见用于对重要问题提出见解和处理办法。正文写总体要求，再分条写主要任务和保障措施。",
    "决定": "决定用于对重要事项作出决策和部署、奖惩有关单位和人员。正文写决定的依据、决定事项和执行要求。",
}

SYSTEM = (
    "你是党政机关公文起草人员，熟悉《党政机关公文处理工作条例》。根据要求起草一份{doc_type}的内容，只输出 JSON。\n"
    "要求：\n"
    "1. title：公文标题，格式为“关于……的{doc_type}”，不要加书名号。\n"
    "2. to：主送机关名称列表（不带冒号）。\n"
    "3. paragraphs：正文段落，每段一个对象。level=0 为正文段落；level=1 为一级标题，level=2 为二级标题，"
    "level=3、4 为三、四级标题。标题文字不要自己写“一、”“（一）”“1.”等序号，程序会自动编号。\n"
    "4. attachments：附件名称列表，没有附件就给空数组。\n"
    "5. signature：发文机关署名；date：成文日期，用阿拉伯数字，如 2026年5月8日。\n"
    "6. 语言庄重、准确、简明，使用规范的书面语，不写与事项无关的内容。\n"
    "{guide}"
)


def build_messages(doc_type: str, brief: str, *, org: str = "", to: list[str] | None = None,
                   date: str = "") -> list[dict[str, Any]]:
    facts = [f"文种：{doc_type}", f"事项：{brief.strip()}"]
    if org:
        facts.append(f"发文机关：{org}")
    if to:
        facts.append("主送机关：" + "、".join(to))
    if date:
        facts.append(f"成文日期：{date}")
    return [
        {"role": "system", "content": SYSTEM.format(doc_type=doc_type, guide=TYPE_GUIDE.get(doc_type, ""))},
        {"role": "user", "content": "\n".join(facts) + "\n请起草这份公文的内容。"},
    ]
