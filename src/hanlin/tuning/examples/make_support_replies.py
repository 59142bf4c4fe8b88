"""Generate the bundled example task: 翰林科技's fixed customer-service reply format.

Every reply must be exactly three lines (checked by :func:`follows_format`):

    【类别】<账户|支付|物流|售后|技术>
    【回复】您好，<one sentence>。——翰林客服
    【工单号】HL-<the customer's 6-digit order number>

The user message is a plain complaint; the format is never stated in the prompt, so a model can only follow
it if it learned it. Run ``python -m hanlin.tuning.examples.make_support_replies`` to rewrite the JSONL files.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).parent
SYSTEM = "你是翰林科技的客服助手。"
CATEGORIES = ("账户", "支付", "物流", "售后", "技术")

COMPLAINTS: dict[str, list[str]] = {
    "账户": ["我的账号登录不上了，一直提示密码错误", "手机号换了，账号怎么换绑", "账户被冻结了，不知道为什么",
             "想注销账号，找不到入口", "收不到登录验证码", "会员等级突然降了"],
    "支付": ["付款时扣了两次钱", "微信支付一直失败", "发票抬头开错了，需要重开", "优惠券付款时用不了",
             "退款到账金额不对", "银行卡扣款了但订单显示未支付"],
    "物流": ["快递三天没更新了", "包裹显示签收但我没收到", "收货地址写错了想改", "送货员态度很差",
             "外包装破损严重", "预计送达时间一拖再拖"],
    "售后": ["收到的商品有划痕想换货", "七天无理由退货被拒绝", "保修期内的耳机坏了", "少发了一个配件",
             "尺码不合适想换大一号", "商品和描述不一致"],
    "技术": ["软件更新后打不开了", "设备连不上家里的Wi-Fi", "App总是闪退", "数据同步失败",
             "打印机驱动装不上", "系统提示存储空间不足但其实还有"],
}
OPENERS = ["你好，", "客服在吗？", "麻烦问一下，", "急！", "", "您好，", "喂，"]
CLOSERS = ["", "请尽快处理。", "怎么办？", "谢谢。", "能帮我看看吗？"]
ACTIONS: dict[str, list[str]] = {
    "账户": ["我们已为您提交账户核查，请按短信提示重新验证身份", "请在“我的-安全中心”中完成换绑，我们已为您开通人工协助"],
    "支付": ["我们已核实扣款记录，多扣的款项将在3个工作日内原路退回", "我们已为您登记支付异常，财务将在1个工作日内处理"],
    "物流": ["我们已联系承运商加急核查，24小时内给您答复", "我们已为您登记物流异常，并安排专人跟进派送"],
    "售后": ["我们已为您开通换货通道，请在订单页提交申请", "我们已登记您的售后诉求，专员将在24小时内联系您"],
    "技术": ["请先重启设备并更新到最新版本，如仍有问题我们将安排工程师远程协助", "我们已记录该问题并转交技术团队，将尽快给您解决方案"],
}

FORMAT_RE = re.compile(r"^【类别】(账户|支付|物流|售后|技术)\n【回复】您好，[^\n]+——翰林客服\n【工单号】HL-(\d{6})$")
ORDER_RE = re.compile(r"订单号(?:是|为|：|:)?\s*(\d{6})")


def follows_format(reply: str, user_message: str) -> bool:
    """The code-checkable rule: three lines in the house format, and the ticket number copies the order number."""
    m = FORMAT_RE.match(reply.strip())
    order = ORDER_RE.search(user_message)
    return bool(m and order and m.group(2) == order.group(1))


def category_correct(reply: str, expected: str) -> bool:
    m = FORMAT_RE.match(reply.strip())
    return bool(m and m.group(1) == expected)


def make_example(rng: random.Random) -> tuple[dict[str, object], str]:
    category = rng.choice(CATEGORIES)
    order = f"{rng.randint(100000, 999999)}"
    complaint = rng.choice(COMPLAINTS[category])
    order_phrase = rng.choice([f"订单号{order}", f"订单号是{order}", f"订单号：{order}"])
    user = f"{rng.choice(OPENERS)}{complaint}，{order_phrase}。{rng.choice(CLOSERS)}".strip()
    reply = (f"【类别】{category}\n【回复】您好，{rng.choice(ACTIONS[category])}。——翰林客服\n"
             f"【工单号】HL-{order}")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user},
                {"role": "assistant", "content": reply}]
    return {"messages": messages}, category


def write_split(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            example, category = make_example(rng)
            example["metadata"] = {"category": category}
            f.write(json.dumps(example, ensure_ascii=False) + "\n")


def main() -> None:
    write_split(HERE / "support_replies.train.jsonl", 200, seed=10)
    write_split(HERE / "support_replies.heldout.jsonl", 40, seed=20260)


if __name__ == "__main__":
    main()
