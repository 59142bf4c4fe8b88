"""Multiple-choice suites: C-Eval (val), CMMLU, FewCLUE tasks.

The model's reply is constrained to one of the choice letters, so the answer is always a choice and never parsed
out of free text; decoding is greedy. Three scoring modes (``--option mode=...``):

- ``logprobs`` (default for in-process llama.cpp): one token under a GBNF grammar of the bare letters, and the
  log-probability of every letter at that position (llama.cpp reports the distribution before the grammar). The
  letters' probabilities are then *batch-calibrated* (see :func:`calibrate`): small models have a strong prior
  for one letter (the 0.5B answers "B" to 82% of C-Eval), and dividing each letter's probability by its mean
  over the run's items removes that prior without using any labels. Both numbers are reported:
  ``accuracy`` (calibrated) and ``accuracy_uncalibrated`` (the plain constrained answer).
  ``--option calibrate=none`` turns the calibration off.
- ``grammar``: the constrained letter only (no log-probabilities, no calibration).
- ``json`` (default for upstream servers): a JSON schema whose root is an enum of the letters.

Prompt (``--option prompt=...``): ``completion`` (default for in-process llama.cpp) writes the exam the way the
C-Eval authors do — "以下是中国关于…考试的单项选择题，请选出其中的正确答案。", the questions, "答案：" — as plain text,
and the model continues it; ``chat`` (default elsewhere, and the only choice for upstreams and custom apps) sends
the same text as a user message after a system prompt. Measured on the first 200 C-Eval items (docs/evals.md): the
completion prompt scored 52.5% vs 44.0% (1.5B) and 27.0% vs 25.0% (0.5B) before calibration.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.engine.base import Engine
from hanlin.errors import BadRequest, EngineError
from hanlin.evals.base import EvalContext, EvalResult, get_suite, map_items, suite

SYSTEM = "你是考试答题助手。只回答正确选项的字母。"
MAX_TOKENS = 5
TOP_LOGPROBS = 20  # the letters are nearly always in the top 20 right after "答案："
MISSING_LOGPROB = -30.0  # a letter outside the reported top tokens
MIN_CALIBRATION_ITEMS = 20  # fewer items estimate the letter prior too noisily: report uncalibrated
MODES = ("logprobs", "grammar", "json")
PROMPTS = ("completion", "chat")

# From the data READMEs (hkust-nlp/ceval README, CMMLU README_EN.md): published, not measured here.
CEVAL_PUBLISHED = {  # zero-shot | five-shot accuracy %, validation split, answer-only
    "GPT-4": (66.7, 69.9), "Claude-v1.3": (52.1, 55.5), "ChatGPT": (50.8, 53.5), "GLM-130B": (44.2, 40.8),
    "ChatGLM-6B": (39.7, 37.1), "LLaMA-65B": (38.6, 39.8), "MOSS": (35.1, 28.9), "Chinese-Alpaca-13B": (32.0, 27.2),
}
CMMLU_PUBLISHED = {  # zero-shot | five-shot average %
    "GPT4": (68.90, 70.95), "ChatGPT": (53.22, 55.51), "Qwen-7B": (57.57, 58.66), "Qwen1.5-7B": (71.05, 72.50),
    "Qwen2.5-72B": (84.70, 85.67), "Baichuan-13B": (54.63, 55.82), "ChatGLM2-6B": (49.95, 48.80),
    "Baichuan-7B": (42.33, 44.43), "ChatGLM-6B": (40.79, 37.48),
}
CEVAL_SUBJECT_ZH = {
    "accountant": "注册会计师", "advanced_mathematics": "高等数学", "art_studies": "艺术学",
    "basic_medicine": "基础医学", "business_administration": "工商管理", "chinese_language_and_literature": "中国语言文学",
    "civil_servant": "公务员", "clinical_medicine": "临床医学", "college_chemistry": "大学化学",
    "college_economics": "大学经济学", "college_physics": "大学物理", "college_programming": "大学编程",
    "computer_architecture": "计算机组成", "computer_network": "计算机网络", "discrete_mathematics": "离散数学",
    "education_science": "教育学", "electrical_engineer": "注册电气工程师",
    "environmental_impact_assessment_engineer": "环境影响评价工程师", "fire_engineer": "注册消防工程师",
    "high_school_biology": "高中生物", "high_school_chemistry": "高中化学", "high_school_chinese": "高中语文",
    "high_school_geography": "高中地理", "high_school_history": "高中历史", "high_school_mathematics": "高中数学",
    "high_school_physics": "高中物理", "high_school_politics": "高中政治",
    "ideological_and_moral_cultivation": "思想道德修养与法律基础", "law": "法学", "legal_professional": "法律职业资格",
    "logic": "逻辑学", "mao_zedong_thought": "毛泽东思想和中国特色社会主义理论体系概论", "marxism": "马克思主义基本原理",
    "metrology_engineer": "注册计量师", "middle_school_biology": "初中生物", "middle_school_chemistry": "初中化学",
    "middle_school_geography": "初中地理", "middle_school_history": "初中历史", "middle_school_mathematics": "初中数学",
    "middle_school_physics": "初中物理", "middle_school_politics": "初中政治", "modern_chinese_history": "近代史纲要",
    "operating_system": "操作系统", "physician": "医师资格", "plant_protection": "植物保护",
    "probability_and_statistics": "概率统计", "professional_tour_guide": "导游资格", "sports_science": "体育学",
    "tax_accountant": "税务师", "teacher_qualification": "教师资格", "urban_and_rural_planner": "注册城乡规划师",
    "veterinary_medicine": "兽医学",
}


def published_for(table: dict[str, tuple[float, float]], shots: int, source: str) -> dict[str, dict[str, float]]:
    col = 0 if shots == 0 else 1
    label = "zero-shot" if shots == 0 else "five-shot"
    return {f"{name} ({label}; {source})": {"accuracy": vals[col] / 100} for name, vals in table.items()}


@dataclass
class MCQItem:
    id: str
    subject: str
    question: str
    choices: list[str]
    answer: int  # index into choices
    category: str = ""  # one or more, joined by "|"
    subject_zh: str = ""
    instruction: str = ""  # replaces the default "以下是关于…的单项选择题" line

    @property
    def letters(self) -> str:
        return "ABCDEFGHIJKLMNOP"[: len(self.choices)]


# ---- prompts and scoring ---------------------------------------------------------------------------------------
def format_question(item: MCQItem, with_answer: bool) -> str:
    lines = [item.question.strip()]
    lines += [f"{letter}. {choice}" for letter, choice in zip(item.letters, item.choices, strict=True)]
    lines.append("答案：" + (item.letters[item.answer] if with_answer else ""))
    return "\n".join(lines)


def build_messages(item: MCQItem, exemplars: list[MCQItem]) -> list[dict[str, str]]:
    head = item.instruction or f"以下是关于{item.subject_zh or item.subject}的单项选择题，请直接给出正确答案的选项。"
    parts = [head]
    parts += [format_question(ex, with_answer=True) for ex in exemplars]
    parts.append(format_question(item, with_answer=False))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def letter_grammar(item: MCQItem) -> str:
    """GBNF of the bare choice letters: the answer is the very next token."""
    return "root ::= " + " | ".join(f'"{x}"' for x in item.letters)


def build_prompt(item: MCQItem, exemplars: list[MCQItem]) -> str:
    """The exam as plain text for a completion: the C-Eval authors' instruction line, exemplars, the question."""
    head = item.instruction or f"以下是中国关于{item.subject_zh or item.subject}考试的单项选择题，请选出其中的正确答案。"
    parts = [head, *(format_question(ex, with_answer=True) for ex in exemplars),
             format_question(item, with_answer=False)]
    return "\n\n".join(parts)


def completion_request(item: MCQItem, exemplars: list[MCQItem], mode: str) -> dict[str, Any]:
    """A llama.cpp completion body: the letter grammar, and in ``logprobs`` mode the top-token probabilities."""
    body: dict[str, Any] = {"prompt": build_prompt(item, exemplars), "max_tokens": 1, "temperature": 0.0, "seed": 0,
                            "grammar": letter_grammar(item)}
    if mode == "logprobs":
        body["n_probs"] = TOP_LOGPROBS
    return body


def answer_request(item: MCQItem, exemplars: list[MCQItem], mode: str = "grammar") -> dict[str, Any]:
    """The chat body that constrains the reply to one of ``item.letters``.

    grammar: a GBNF of the bare letters (llama.cpp): the letter is the very next token after "答案：".
    logprobs: the same grammar, one token, plus the top log-probabilities at that position.
    json: a JSON schema whose root is an enum of the letters (any server with json_schema support); its output
    is the quoted letter.
    """
    body: dict[str, Any] = {"messages": build_messages(item, exemplars), "max_tokens": MAX_TOKENS,
                            "temperature": 0.0, "seed": 0}
    if mode in ("grammar", "logprobs"):
        body["grammar"] = letter_grammar(item)
    if mode == "logprobs":
        body.update(max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
    if mode == "json":
        schema = {"type": "string", "enum": list(item.letters)}
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return body


def parse_answer(content: str, letters: str) -> str | None:
    """Read the constrained reply ("B" or '"B"'); None when it is not one of the letters."""
    text = (content or "").strip().strip('"').strip()
    return text if len(text) == 1 and text in letters else None


def letter_logprobs(resp: dict[str, Any], letters: str) -> dict[str, float] | None:
    """Each letter's log-probability at the answer position, from an OpenAI-style ``logprobs`` block; a letter
    missing from the top tokens gets MISSING_LOGPROB. None when the engine reported no log-probabilities."""
    try:
        top = resp["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    out: dict[str, float] = {}
    for t in top or []:
        tok = str(t.get("token", "")).strip()
        if len(tok) == 1 and tok in letters and tok not in out:  # "B" and " B": the likelier spelling counts
            out[tok] = float(t["logprob"])
    if not out:
        return None
    return {x: round(out.get(x, MISSING_LOGPROB), 5) for x in letters}


async def score_item(engine: Engine, item: MCQItem, exemplars: list[MCQItem], mode: str,
                     prompt: str = "chat") -> dict[str, Any]:
    if prompt == "completion":
        body, call = completion_request(item, exemplars, mode), engine.complete
    else:
        body, call = answer_request(item, exemplars, mode), engine.chat
    try:
        resp = await call(body)
    except EngineError:  # an upstream blip (timeout, 5xx) should not end a long run: one retry, then fail
        await asyncio.sleep(1.0)
        resp = await call(body)
    choice = resp["choices"][0]
    content = (choice.get("text") if prompt == "completion" else choice["message"].get("content")) or ""
    pred = parse_answer(content, item.letters)
    gold = item.letters[item.answer]
    usage = resp.get("usage") or {}
    lp = letter_logprobs(resp, item.letters) if mode == "logprobs" else None
    return {"subject": item.subject, "category": item.category, "pred": pred, "gold": gold,
            "correct": pred == gold, "prompt_tokens": usage.get("prompt_tokens", 0),
            **({"logprobs": lp} if lp else {}), **({} if pred else {"raw": content[:80]})}


def _probs(lp: dict[str, float], letters: str) -> list[float]:
    vals = [lp.get(x, MISSING_LOGPROB) for x in letters]
    top = max(vals)
    exp = [math.exp(v - top) for v in vals]
    total = sum(exp)
    return [e / total for e in exp]


def calibrate(results: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Batch calibration (Zhou et al., "Batch Calibration", ICLR 2024): estimate the model's letter prior as the
    mean of its letter probabilities over the items of the run, and pick argmax p(letter | item) / prior(letter).
    Uses no labels. Items are grouped by their number of choices. Returns the results with ``pred``/``correct``
    replaced by the calibrated ones (the constrained answer kept as ``pred_uncalibrated``), or None when some item
    has no log-probabilities or a group is too small to estimate a prior."""
    if not results or any(not r.get("logprobs") for r in results):
        return None
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(results):
        groups["".join(sorted(r["logprobs"]))].append(i)
    out = [dict(r) for r in results]
    for letters, idx in groups.items():
        if len(idx) < MIN_CALIBRATION_ITEMS:
            return None
        probs = [_probs(results[i]["logprobs"], letters) for i in idx]
        prior = [max(1e-9, sum(p[j] for p in probs) / len(probs)) for j in range(len(letters))]
        for i, p in zip(idx, probs, strict=True):
            scores = [math.log(max(pj, 1e-12)) - math.log(q) for pj, q in zip(p, prior, strict=True)]
            pred = letters[max(range(len(letters)), key=lambda j: scores[j])]
            out[i].update(pred_uncalibrated=results[i]["pred"], pred=pred, correct=pred == results[i]["gold"])
    return out


# ---- aggregation ----------------------------------------------------------------------------------------------
@dataclass
class Tally:
    n: int = 0
    correct: int = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.correct += int(ok)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass
class Summary:
    overall: Tally = field(default_factory=Tally)
    subjects: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    categories: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    invalid: int = 0


def summarise(results: Iterable[dict[str, Any]]) -> Summary:
    s = Summary()
    for r in results:
        ok = bool(r["correct"])
        s.overall.add(ok)
        s.subjects[r["subject"]].add(ok)
        for cat in (r.get("category") or "").split("|"):
            if cat:
                s.categories[cat].add(ok)
        s.invalid += int(r.get("pred") is None)
    return s


def to_result(name: str, ctx: EvalContext, results: list[dict[str, Any]], chance: float,
              published: dict[str, dict[str, float]], notes: str, ids: list[str] | None = None) -> EvalResult:
    raw_accuracy = sum(bool(r["correct"]) for r in results) / max(1, len(results))
    raw_share = Counter(r.get("pred") for r in results if r.get("pred")).most_common(1)
    calibrated = calibrate(results) if str(ctx.options.get("calibrate", "batch")) != "none" else None
    if calibrated is not None:
        results = calibrated
        notes = (f"{notes} Letters batch-calibrated over the {len(results)} items (label-free: each letter's "
                 "probability divided by its mean over the run); accuracy_uncalibrated is the plain constrained answer.")
    s = summarise(results)
    subject_accs = [t.accuracy for t in s.subjects.values()]
    n = max(1, s.overall.n)
    preds = Counter(r.get("pred") for r in results if r.get("pred"))
    golds = Counter(r["gold"] for r in results)
    metrics = {"accuracy": round(s.overall.accuracy, 4), "correct": s.overall.correct,
               "subject_mean_accuracy": round(sum(subject_accs) / len(subject_accs), 4) if subject_accs else 0.0,
               "chance": round(chance, 4), "invalid": s.invalid,
               # floors that expose letter bias: always answering the commonest gold letter scores this much,
               # and this share of the model's answers is its favourite letter
               "best_constant_accuracy": round(max(golds.values(), default=0) / n, 4),
               "top_letter_share": round(max(preds.values(), default=0) / n, 4),
               "calibrated": calibrated is not None}
    if calibrated is not None:
        metrics["accuracy_uncalibrated"] = round(raw_accuracy, 4)
        metrics["top_letter_share_uncalibrated"] = round(raw_share[0][1] / n if raw_share else 0.0, 4)
    breakdown: dict[str, dict[str, float]] = {}
    for cat, t in sorted(s.categories.items()):
        breakdown[f"[{cat}]"] = {"accuracy": round(t.accuracy, 4), "n": t.n, "correct": t.correct}
    for subj, t in sorted(s.subjects.items()):
        breakdown[subj] = {"accuracy": round(t.accuracy, 4), "n": t.n, "correct": t.correct}
    details = [r for r in results if not r["correct"]][:50]
    items = {i: bool(r["correct"]) for i, r in zip(ids, results, strict=True)} if ids else {}
    return EvalResult(suite=name, model=ctx.model, n=s.overall.n, metrics=metrics, published=published,
                      breakdown=breakdown, details=details, notes=notes, items=items)


# ---- item order, exemplars, the common loop --------------------------------------------------------------------
def interleave(by_subject: dict[str, list[MCQItem]]) -> list[MCQItem]:
    """Round-robin over subjects so a --limit sample covers every subject; deterministic, so a larger limit
    extends a smaller one (and reuses its cache)."""
    order: list[MCQItem] = []
    queues = [list(v) for _, v in sorted(by_subject.items())]
    i = 0
    while any(i < len(q) for q in queues):
        order += [q[i] for q in queues if i < len(q)]
        i += 1
    return order


def select_subjects(by_subject: dict[str, list[MCQItem]], ctx: EvalContext) -> dict[str, list[MCQItem]]:
    wanted = ctx.options.get("subject") or ctx.options.get("task")
    if not wanted:
        return by_subject
    names = {w.strip() for w in str(wanted).split(",") if w.strip()}
    unknown = names - set(by_subject)
    if unknown:
        raise BadRequest(f"Unknown subject(s) {', '.join(sorted(unknown))}. Subjects: {', '.join(sorted(by_subject))}",
                         param="subject")
    return {k: v for k, v in by_subject.items() if k in names}


async def run_mcq(name: str, ctx: EvalContext, items: list[MCQItem], exemplar_pool: dict[str, list[MCQItem]],
                  chance: float, published: dict[str, dict[str, float]], notes: str) -> EvalResult:
    in_process = ctx.engine.info.kind == "llamacpp"
    mode = str(ctx.options.get("mode") or ("logprobs" if in_process else "json"))
    if mode not in MODES:
        raise BadRequest("option mode must be 'logprobs' (llama.cpp: letter grammar + letter log-probabilities, "
                         "calibrated), 'grammar' (llama.cpp GBNF, the letter only) or 'json' (schema enum, any engine)",
                         param="mode")
    prompt = str(ctx.options.get("prompt") or ("completion" if in_process else "chat"))
    if prompt not in PROMPTS:
        raise BadRequest("option prompt must be 'completion' (plain-text exam, llama.cpp) or 'chat'", param="prompt")
    if prompt == "completion" and (not in_process or mode == "json"):
        raise BadRequest("prompt=completion needs an in-process llama.cpp model and mode logprobs or grammar; "
                         "upstream servers and custom apps are evaluated with prompt=chat", param="prompt")
    if str(ctx.options.get("calibrate", "batch")) not in ("batch", "none"):
        raise BadRequest("option calibrate must be 'batch' (default) or 'none'", param="calibrate")
    if ctx.limit:
        items = items[: ctx.limit]
    if not items:
        raise BadRequest(f"No items to evaluate for '{name}' (check --data, --split and --task)")

    def exemplars(item: MCQItem) -> list[MCQItem]:
        pool = [ex for ex in exemplar_pool.get(item.subject, []) if ex.id != item.id]
        return pool[: ctx.shots]

    results = await map_items(ctx, items, lambda it: it.id,
                              lambda it: score_item(ctx.engine, it, exemplars(it), mode, prompt), stage=name)
    notes = f"{notes} Scoring: mode={mode}, prompt={prompt}."
    return to_result(name, ctx, results, chance, published, notes, ids=[it.id for it in items])


# ---- C-Eval ---------------------------------------------------------------------------------------------------
def _split_ceval_question(text: str) -> tuple[str, list[str]]:
    """"question\nA. ..\nB. ..\nC. ..\nD. .." -> (question, 4 choices); a choice may span lines."""
    cuts: list[int] = []
    end = len(text)
    for letter in "DCBA":
        at = text.rfind(f"\n{letter}.", 0, end)
        if at < 0:
            return text, []
        cuts.insert(0, at)
        end = at
    bounds = [*cuts, len(text)]
    choices = [text[bounds[i] + 3: bounds[i + 1]].strip() for i in range(4)]
    return text[: cuts[0]], choices


def load_ceval(folder: Path) -> dict[str, list[MCQItem]]:
    by_subject: dict[str, list[MCQItem]] = {}
    for path in sorted(folder.glob("*/*.jsonl")):
        category, subject = path.parent.name, path.stem
        items = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            question, choices = _split_ceval_question(rec["inputs_pretokenized"])
            if len(choices) != 4:
                continue  # malformed row; counted out rather than guessed
            items.append(MCQItem(id=f"{subject}/{rec['id']}", subject=subject, category=category,
                                 subject_zh=CEVAL_SUBJECT_ZH.get(subject, ""),
                                 question=question, choices=choices, answer=int(rec["label"])))
        by_subject[subject] = items
    return by_subject


@suite("ceval", "C-Eval validation: 52 subjects, 1,346 four-choice questions (accuracy)", "ceval_val",
       splits=("val",))
async def ceval(ctx: EvalContext) -> EvalResult:
    get_suite("ceval").split(ctx.options)  # only 'val' here: the test labels are not public
    by_subject = select_subjects(load_ceval(ctx.data_dir / "ceval_val"), ctx)
    notes = ("C-Eval has no dev exemplars in this copy: few-shot examples are the first other items of the "
             "same subject in val." if ctx.shots else "zero-shot, answer-only.")
    return await run_mcq("ceval", ctx, interleave(by_subject), by_subject, 0.25,
                         published_for(CEVAL_PUBLISHED, ctx.shots, "C-Eval README, full val"), notes)


# ---- CMMLU ----------------------------------------------------------------------------------------------------
def cmmlu_categories(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(subject -> category names joined by '|', subject -> Chinese name) from the upstream categories.py."""
    path = folder / "categories.py.txt"
    if not path.exists():
        return {}, {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    sub_of = values.get("subcategories", {})
    cats = values.get("categories", {})
    out: dict[str, str] = {}
    for subject, subs in sub_of.items():
        names = [c for c, members in cats.items() if any(s in members for s in subs)]
        out[subject] = "|".join(names)
    return out, values.get("name_en2zh", {})


def load_cmmlu_split(folder: Path, split: str) -> dict[str, list[MCQItem]]:
    cats, zh = cmmlu_categories(folder)
    by_subject: dict[str, list[MCQItem]] = {}
    for path in sorted((folder / "data" / split).glob("*.csv")):
        subject = path.stem
        items: list[MCQItem] = []
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                answer = (row.get("Answer") or "").strip()
                if answer not in ("A", "B", "C", "D"):
                    continue
                items.append(MCQItem(id=f"{subject}/{split}/{row.get('') or len(items)}", subject=subject,
                                     category=cats.get(subject, ""), subject_zh=zh.get(subject, ""),
                                     question=row["Question"], choices=[row[x] for x in "ABCD"],
                                     answer="ABCD".index(answer)))
        by_subject[subject] = items
    return by_subject


@suite("cmmlu", "CMMLU: 67 subjects, 11,582 four-choice questions, dev exemplars for few-shot (accuracy)", "cmmlu",
       splits=("test", "dev"))
async def cmmlu(ctx: EvalContext) -> EvalResult:
    split = get_suite("cmmlu").split(ctx.options)
    folder = ctx.data_dir / "cmmlu"
    by_subject = select_subjects(load_cmmlu_split(folder, split), ctx)
    dev = load_cmmlu_split(folder, "dev") if ctx.shots else {}
    return await run_mcq("cmmlu", ctx, interleave(by_subject), dev, 0.25,
                         published_for(CMMLU_PUBLISHED, ctx.shots, "CMMLU README, full test"),
                         f"split {split}; exemplars from dev" if ctx.shots else f"split {split}; zero-shot")


# ---- FewCLUE ---------------------------------------------------------------------------------------------------
FEWCLUE_SPLITS = ("test_public", "dev_few_all", "train_few_all")
FEWCLUE_TASKS = {
    "ocnli": "FewCLUE OCNLI: natural language inference, 3 classes (accuracy)",
    "cluewsc": "FewCLUE CLUEWSC: pronoun coreference, yes/no (accuracy)",
    "chid": "FewCLUE CHID: idiom cloze, 7 candidates (accuracy)",
    "bustm": "FewCLUE BUSTM: short-text paraphrase, yes/no (accuracy)",
    "eprstmt": "FewCLUE EPRSTMT: e-commerce review sentiment, 2 classes (accuracy)",
    "tnews": "FewCLUE TNEWS: news headline topic, 15 classes (accuracy)",
}
# FewCLUE README: per-task model tables are images; these are the only numbers stated in text.
FEWCLUE_PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "cluewsc": {"human (FewCLUE README, approx.)": {"accuracy": 0.98},
                "2021 few-shot models (FewCLUE README, approx.)": {"accuracy": 0.50}},
}
FEWCLUE_SUITE_PUBLISHED = {"human average over tasks (FewCLUE README)": {"accuracy": 0.8249},
                           "best 2021 few-shot model, average (FewCLUE README)": {"accuracy": 0.5434}}
NLI = {"entailment": 0, "neutral": 1, "contradiction": 2}
CHID_WINDOW = 120  # characters kept either side of the blank: the passages are long, the answer is local


def _fewclue_item(task: str, rec: dict[str, Any], n: int, tnews: list[tuple[str, str]]) -> MCQItem | None:
    rid = f"{task}/{rec.get('id', rec.get('idx', n))}"
    if task == "ocnli":
        if rec.get("label") not in NLI:
            return None
        q = f"前提：{rec['sentence1']}\n假设：{rec['sentence2']}\n根据前提，假设成立吗？"
        return MCQItem(rid, task, q, ["一定成立（蕴含）", "可能成立（中立）", "不成立（矛盾）"], NLI[rec["label"]],
                       instruction="判断两句话的推理关系，选出正确选项。")
    if task == "cluewsc":
        t = rec["target"]
        q = f"{rec['text']}\n这段话中的“{t['span2_text']}”指的是“{t['span1_text']}”吗？"
        return MCQItem(rid, task, q, ["是", "不是"], 0 if str(rec["label"]) == "true" else 1,
                       instruction="判断代词指代，选出正确选项。")
    if task == "chid":
        content = str(rec["content"])
        at = content.find("#idiom#")
        if at < 0:
            return None
        snippet = content[max(0, at - CHID_WINDOW): at + 7 + CHID_WINDOW].replace("#idiom#", "____")
        return MCQItem(rid, task, f"{snippet}\n横线处应填入哪个成语？", list(rec["candidates"]), int(rec["answer"]),
                       instruction="成语填空，选出最恰当的成语。")
    if task == "bustm":
        q = f"句子一：{rec['sentence1']}\n句子二：{rec['sentence2']}\n两句话意思相同吗？"
        return MCQItem(rid, task, q, ["相同", "不同"], 0 if str(rec["label"]) == "1" else 1,
                       instruction="判断两句话是否同义，选出正确选项。")
    if task == "eprstmt":
        q = f"评论：{rec['sentence']}\n这条评论的情感是？"
        return MCQItem(rid, task, q, ["正面", "负面"], 0 if rec["label"] == "Positive" else 1,
                       instruction="判断商品评论的情感倾向，选出正确选项。")
    if task == "tnews":
        codes = [c for c, _ in tnews]
        if str(rec["label"]) not in codes:
            return None
        return MCQItem(rid, task, f"新闻标题：{rec['sentence']}\n这条新闻属于哪个类别？", [zh for _, zh in tnews],
                       codes.index(str(rec["label"])), instruction="给新闻标题分类，选出正确类别。")
    raise BadRequest(f"Unknown FewCLUE task '{task}'", param="task")


def fewclue_items(task: str, folder: Path, split: str) -> list[MCQItem]:
    if split not in FEWCLUE_SPLITS:  # never join an unchecked value into a path
        raise BadRequest(f"FewCLUE splits: {', '.join(FEWCLUE_SPLITS)} (got {split[:80]!r})", param="split")
    path = folder / f"{split}.json"
    if not path.exists():
        raise BadRequest(f"No split '{split}' for {task} in the eval data", param="split")
    tnews: list[tuple[str, str]] = []
    if task == "tnews":
        for line in (folder / "label_index2en2zh.json").read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                tnews.append((str(rec["label"]), rec["label_zh"]))
    items: list[MCQItem] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            item = _fewclue_item(task, json.loads(line), n, tnews)
            if item:
                items.append(item)
    return items


# ---- FewCLUE suites --------------------------------------------------------------------------------------------
def _fewclue_suite(task: str, description: str) -> None:
    async def run(ctx: EvalContext) -> EvalResult:
        split = get_suite(task).split(ctx.options)
        folder = ctx.data_dir / "fewclue" / task
        items = fewclue_items(task, folder, split)
        pool = {task: fewclue_items(task, folder, "train_few_all")} if ctx.shots else {}
        chance = 1 / len(items[0].letters) if items else 0.0
        return await run_mcq(task, ctx, items, pool, chance, FEWCLUE_PUBLISHED.get(task, {}),
                             f"FewCLUE {task}, split {split}" + (", exemplars from train_few_all" if ctx.shots else ""))

    run.__name__ = f"fewclue_{task}"
    suite(task, description, "fewclue", splits=FEWCLUE_SPLITS)(run)


for _task, _desc in FEWCLUE_TASKS.items():
    _fewclue_suite(_task, _desc)
