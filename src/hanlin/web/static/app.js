/* Hanlin console: plain JS, no build step. Talks only to the /v1 API with the key kept in localStorage. */
"use strict";
const $ = (s) => document.querySelector(s);
const $$ = (s) => Array.from(document.querySelectorAll(s));
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

const EN = {
  "tab.chat": "Chat", "tab.minutes": "Minutes", "tab.sheet": "Spreadsheet", "tab.doc": "Documents",
  "tab.kb": "Knowledge", "tab.apps": "Custom apps", "tab.usage": "Keys & usage", "logout": "Log out",
  "login.title": "Log in with an API key", "login.help": "The key stays in this browser. No key? Ask an admin to run hanlin keys create.",
  "login.ph": "hl-…", "login.go": "Log in",
  "login.open": "This server does not require keys (loopback only).", "login.nokey": "Enter without a key", "chat.model": "Model", "chat.system": "System prompt",
  "chat.system.ph": "optional: you are a careful office assistant", "chat.kb": "Knowledge base", "chat.clear": "Clear",
  "chat.ph": "Ask something; Enter sends, Shift+Enter for a new line", "send": "Send",
  "minutes.title": "Upload a meeting transcript to get minutes", "minutes.help": "A meeting recording (.wav / .mp3 / .m4a / .ogg / .webm / .mp4: transcribed with speakers) or a transcript (.txt / .vtt / .srt / .docx, one 'Speaker: text' per line).",
  "minutes.instr": "optional: extra instructions, e.g. focus on action items", "minutes.go": "Make minutes",
  "sheet.title": "Upload an Excel sheet", "formula.title": "Write a formula", "formula.ph": "e.g. total sales in Beijing",
  "formula.go": "Make formula", "chart.title": "Make a chart", "chart.ph": "e.g. monthly sales as a line chart", "chart.go": "Make chart",
  "doc.title": "Official document (GB/T 9704)", "doc.type": "Type", "doc.ph": "Brief: issuing body, matter, dates, requirements…",
  "doc.go": "Generate and download .docx", "kb.title": "Knowledge bases", "kb.new": "new knowledge base", "kb.create": "Create",
  "kb.upload": "Upload documents", "kb.ph": "a question or keywords", "kb.search": "Search", "kb.ask": "Ask",
  "apps.title": "Custom apps on the base model", "apps.help": "Any OpenAI client calls them as model=\"app:NAME\"; editing creates a new version.",
  "apps.name": "name", "apps.kb": "knowledge base (optional)", "apps.prompt": "system prompt", "apps.save": "Save (new version)",
  "usage.title": "Usage (last 30 days)", "keys.title": "API keys", "keys.name": "name", "keys.create": "Create key",
  "working": "working…", "done": "done", "failed": "failed", "pick.file": "Choose a file first.", "revoke": "revoke",
  "shown.once": "New key (shown only once, copy it now):", "no.data": "No data yet.", "requests": "requests", "tokens": "tokens",
};
const ZH = {"working": "处理中…", "done": "完成", "failed": "失败", "pick.file": "请先选择文件。", "revoke": "吊销",
  "shown.once": "新密钥（只显示这一次，请立即复制）：", "no.data": "暂无数据。", "requests": "请求", "tokens": "tokens"};
let lang = localStorage.getItem("hanlin_lang") || "zh";
const zhText = new Map();
const t = (k) => (lang === "en" ? EN[k] : ZH[k]) || zhText.get(k) || EN[k] || k;

function applyLang() {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  $$("[data-i18n]").forEach((el) => {
    const k = el.dataset.i18n;
    if (!zhText.has(k)) zhText.set(k, el.textContent);
    el.textContent = lang === "en" ? EN[k] || zhText.get(k) : zhText.get(k);
  });
  $$("[data-i18n-ph]").forEach((el) => {
    const k = el.dataset.i18nPh;
    if (!zhText.has("ph:" + k)) zhText.set("ph:" + k, el.placeholder);
    el.placeholder = lang === "en" ? EN[k] || el.placeholder : zhText.get("ph:" + k);
  });
  $("#lang").textContent = lang === "en" ? "中文" : "English";
}

// --- API -----------------------------------------------------------------------------------------------------
const state = {key: localStorage.getItem("hanlin_key") || "", me: null, sheet: null};
function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.key) h["Authorization"] = "Bearer " + state.key;
  return h;
}
async function api(path, opts = {}) {
  const o = Object.assign({}, opts);
  o.headers = headers(o.headers);
  if (o.json !== undefined) { o.body = JSON.stringify(o.json); o.headers["Content-Type"] = "application/json"; delete o.json; }
  const r = await fetch(path, o);
  if (r.status === 401 && path !== "/v1/me") { logout(); throw new Error("401"); }
  const type = r.headers.get("content-type") || "";
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { const j = await r.json(); msg = (j.error && j.error.message) || j.detail || msg; } catch (e) { /* not JSON */ }
    const err = new Error(msg); err.status = r.status; throw err;
  }
  if (opts.raw) return r;
  return type.includes("json") ? r.json() : r.text();
}
function toast(msg) { const el = $("#toast"); el.textContent = msg; el.hidden = !msg; if (msg) setTimeout(() => { el.hidden = true; }, 8000); }
async function busy(btn, fn) {
  if (btn) btn.disabled = true;
  try { return await fn(); } catch (e) { if (e.message !== "401") toast(e.message); } finally { if (btn) btn.disabled = false; }
}

// --- login ---------------------------------------------------------------------------------------------------
async function login(key) {
  state.key = key;
  const me = await api("/v1/me");
  state.me = me;
  if (key) localStorage.setItem("hanlin_key", key);
  $("#login").hidden = true; $("#nav").hidden = false; $("#logout").hidden = !key;
  $("#who").textContent = me.tenant_id + (me.is_admin ? " · admin" : "") + (me.key ? " · " + me.key.display : "");
  $("#key-form").hidden = !me.is_admin;
  show(location.hash.slice(1) || "chat");
  loadModels();
}
function logout() {
  localStorage.removeItem("hanlin_key"); state.key = ""; state.me = null;
  $("#login").hidden = false; $("#nav").hidden = true; $("#logout").hidden = true; $("#who").textContent = "";
  $$(".tab").forEach((s) => { s.hidden = true; });
}
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try { await login($("#login-key").value.trim()); } catch (err) { state.key = ""; $("#login-error").textContent = err.message; }
});
$("#logout").addEventListener("click", logout);
$("#lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh" : "en"; localStorage.setItem("hanlin_lang", lang); applyLang();
  const tab = location.hash.slice(1);
  if (state.me && loaders[tab]) loaders[tab]();  // redraw what was built with the other language
});

const loaders = {usage: loadUsage, kb: loadKbs, apps: loadApps};
function show(tab) {
  if (!$("#tab-" + tab)) tab = "chat";
  $$(".tab").forEach((s) => { s.hidden = s.id !== "tab-" + tab; });
  $$("#nav button").forEach((b) => b.classList.toggle("on", b.dataset.tab === tab));
  history.replaceState(null, "", "#" + tab);
  if (loaders[tab]) loaders[tab]();
}
$$("#nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));

// --- chat (streaming) -----------------------------------------------------------------------------------------
const history_ = [];
async function loadModels() {
  const sel = $("#chat-model");
  const models = await api("/v1/models").catch(() => ({data: []}));
  const apps = await api("/v1/custom-apps").catch(() => ({data: []}));
  const ids = models.data.map((m) => m.id).filter((id) => !/e5|embed/i.test(id)).concat(apps.data.map((a) => a.id));
  sel.innerHTML = ids.map((id) => `<option>${esc(id)}</option>`).join("");
}
function bubble(role, text) {
  const d = document.createElement("div");
  d.className = "msg " + role; d.textContent = text;
  $("#chat-log").appendChild(d); $("#chat-log").scrollTop = 1e9;
  return d;
}
async function* sse(resp) {
  const reader = resp.body.getReader(); const dec = new TextDecoder(); let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      for (const line of ev.split("\n")) if (line.startsWith("data: ")) yield line.slice(6);
    }
  }
}
async function sendChat() {
  const text = $("#chat-input").value.trim();
  if (!text) return;
  $("#chat-input").value = "";
  history_.push({role: "user", content: text}); bubble("user", text);
  const out = bubble("assistant", "");
  const msgs = ($("#chat-system").value.trim() ? [{role: "system", content: $("#chat-system").value.trim()}] : []).concat(history_);
  const body = {model: $("#chat-model").value || undefined, messages: msgs, stream: true, max_tokens: 1024,
    stream_options: {include_usage: true}};
  if ($("#chat-kb").value.trim()) body.knowledge_base = $("#chat-kb").value.trim();
  const started = performance.now(); let answer = ""; let usage = null;
  try {
    const r = await api("/v1/chat/completions", {method: "POST", json: body, raw: true});
    for await (const data of sse(r)) {
      if (data === "[DONE]") break;
      const c = JSON.parse(data);
      if (c.error) throw new Error(c.error.message);
      if (c.usage) usage = c.usage;
      const delta = c.choices && c.choices[0] && c.choices[0].delta;
      if (delta && delta.content) { answer += delta.content; out.textContent = answer; $("#chat-log").scrollTop = 1e9; }
      if (c.citations) out.dataset.citations = JSON.stringify(c.citations);
    }
    history_.push({role: "assistant", content: answer});
    const cites = JSON.parse(out.dataset.citations || "[]");
    cites.forEach((c, i) => {
      const p = document.createElement("div");
      p.className = "cite"; p.textContent = `[${i + 1}] ${c.document || ""}${c.page ? ` · 第 ${c.page} 页` : ""} · ${String(c.text || "").slice(0, 120)}`;
      out.appendChild(p);
    });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    $("#chat-meta").textContent = usage ? `${usage.prompt_tokens} + ${usage.completion_tokens} tokens · ${secs} s` : secs + " s";
  } catch (e) { out.classList.add("error"); out.textContent = e.message; history_.pop(); }
}
$("#chat-form").addEventListener("submit", (e) => { e.preventDefault(); busy($("#chat-send"), sendChat); });
$("#chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#chat-form").requestSubmit(); } });
$("#chat-clear").addEventListener("click", () => { history_.length = 0; $("#chat-log").innerHTML = ""; $("#chat-meta").textContent = ""; });

// --- jobs -------------------------------------------------------------------------------------------------------
async function waitJob(job, bar) {
  bar.hidden = false;
  for (;;) {
    bar.querySelector("div").style.width = Math.round((job.progress || 0) * 100) + "%";
    bar.querySelector("span").textContent = `${Math.round((job.progress || 0) * 100)}% ${job.stage || ""}`;
    if (job.state === "succeeded") return job.result;
    if (job.state === "failed" || job.state === "cancelled") throw new Error(job.error || job.state);
    await new Promise((res) => setTimeout(res, 1000));
    job = await api("/v1/jobs/" + job.id);
  }
}
async function resultOf(resp, bar) {  // 200 with the result, or 202 with a job to poll
  const job = resp.job || (resp.object === "job" ? resp : null);
  return job ? waitJob(job, bar) : resp;
}

// --- minutes ----------------------------------------------------------------------------------------------------
function renderMinutes(m) {
  const li = (items, f) => items && items.length ? "<ul>" + items.map((x) => "<li>" + f(x) + "</li>").join("") + "</ul>" : "<p class=muted>—</p>";
  const st = m.line_stamps || {};  // minutes from a recording: lines carry "00:12:31 发言人2"
  const cite = (l) => l && l.length ? ` <span class="cite">[${l.map((i) => st[i] ? esc(st[i]) : i).join(", ")}]</span>` : "";
  return `<div class="card minutes"><h3>${esc(m.title)}</h3><p>${esc(m.summary)}</p>
    <h4>${lang === "en" ? "Chapters" : "议程"}</h4>${li(m.chapters, (c) => `<b>${esc(c.title)}</b>${cite([c.start_line, c.end_line])} ${esc(c.summary)}`)}
    <h4>${lang === "en" ? "Views" : "各方观点"}</h4>${li(m.views, (v) => `<b>${esc(v.speaker)}</b>：` + (v.points || []).map((p) => esc(p.text) + cite(p.lines)).join("；"))}
    <h4>${lang === "en" ? "Decisions" : "决议"}</h4>${li(m.decisions, (d) => esc(d.text) + cite(d.lines))}
    <h4>${lang === "en" ? "Action items" : "待办事项"}</h4>${li(m.action_items, (a) => `<b>${esc(a.owner)}</b>：${esc(a.task)} ${a.due ? "（" + esc(a.due) + "）" : ""}` + cite(a.lines))}
    <details><summary>JSON</summary><pre>${esc(JSON.stringify(m, null, 2))}</pre></details></div>`;
}
$("#minutes-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const f = $("#minutes-file").files[0];
    if (!f) throw new Error(t("pick.file"));
    const fd = new FormData(); fd.append("file", f);
    if ($("#minutes-instruction").value.trim()) fd.append("instruction", $("#minutes-instruction").value.trim());
    $("#minutes-out").innerHTML = `<p class=muted>${t("working")}</p>`;
    let resp;
    try { resp = await api("/v1/apps/minutes", {method: "POST", body: fd}); } catch (err) {
      if (err.status !== 400 && err.status !== 422) throw err;  // a server that takes the text as JSON
      if (/\.(wav|mp3|m4a|aac|ogg|opus|webm|mp4|flac)$/i.test(f.name)) throw err;  // a recording is not text
      const body = {transcript: await f.text(), filename: f.name};
      if ($("#minutes-instruction").value.trim()) body.instruction = $("#minutes-instruction").value.trim();
      resp = await api("/v1/apps/minutes", {method: "POST", json: body});
    }
    const result = await resultOf(resp, $("#minutes-progress"));
    const m = result.minutes || result;
    $("#minutes-out").innerHTML = renderMinutes(m);
  }).finally(() => { if (!$("#minutes-out").querySelector(".minutes")) $("#minutes-out").innerHTML = ""; });
});

// --- spreadsheet: formula and chart -------------------------------------------------------------------------------
function sheetForm(extra) {
  const f = $("#sheet-file").files[0];
  if (!f) throw new Error(t("pick.file"));
  const fd = new FormData(); fd.append("file", f);
  for (const [k, v] of Object.entries(extra)) fd.append(k, v);
  return fd;
}
$("#formula-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const req = $("#formula-request").value.trim();
    const resp = await api("/v1/apps/formula", {method: "POST", body: sheetForm({request: req})});
    const r = await resultOf(resp, $("#minutes-progress"));
    $("#formula-out").innerHTML = `<p><code>${esc(r.formula)}</code> <span class="${r.verified ? "ok" : "bad"}">${r.verified ? "✔ verified" : "✘ not verified"}</span></p>
      <p>${lang === "en" ? "Value" : "计算结果"}：<b>${esc(JSON.stringify(r.value))}</b></p><p class=muted>${esc(r.explanation)}</p>`;
  });
});
$("#chart-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const resp = await api("/v1/apps/chart", {method: "POST", body: sheetForm({ask: $("#chart-ask").value.trim(), format: "png"})});
    const r = await resultOf(resp, $("#minutes-progress"));
    const charts = r.charts && r.charts.length ? r.charts : [r];
    const imgs = charts.map((c) => (String(c.output || "").startsWith("data:image/") ?
      `<figure><img alt="${esc(c.chart_type)}" style="max-width:100%" src="${esc(c.output)}"><figcaption class=muted>${esc(c.chart_type)}</figcaption></figure>` : "")).join("");
    const notes = (r.notes || []).map((n) => `<p class=muted>${esc(n)}</p>`).join("");
    $("#chart-out").innerHTML = imgs + notes + `<details><summary>Vega-Lite</summary><pre>${esc(JSON.stringify(r.spec, null, 2))}</pre></details>`;
  });
});

// --- documents ----------------------------------------------------------------------------------------------------
async function download(resp, fallbackName) {
  const blob = await resp.blob();
  const cd = resp.headers.get("content-disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)/i.exec(cd);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = m ? decodeURIComponent(m[1]) : fallbackName;
  document.body.appendChild(a); a.click(); a.remove();
  return a.download;
}
$("#doc-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const body = {type: $("#doc-type").value, brief: $("#doc-brief").value.trim()};
    const resp = await api("/v1/apps/document", {method: "POST", json: body, raw: true});
    const type = resp.headers.get("content-type") || "";
    if (!type.includes("json")) {
      const name = await download(resp, body.type + ".docx");
      $("#doc-out").innerHTML = `<p class=ok>✔ ${esc(name)}</p>`;
      return;
    }
    const r = await resultOf(await resp.json(), $("#minutes-progress"));
    const checks = Object.entries(r.checks || {}).map(([k, v]) => `<li class="${v ? "ok" : "bad"}">${v ? "✔" : "✘"} ${esc(k)}</li>`).join("");
    let link = "";
    const url = r.download_url || r.url || (r.output ? "/v1/apps/document/files/" + encodeURIComponent(String(r.output).split("/").pop()) : "");
    if (url) {
      const file = await api(url, {raw: true});
      const name = await download(file, body.type + ".docx");
      link = `<p class=ok>✔ ${esc(name)}</p>`;
    }
    $("#doc-out").innerHTML = link + `<ul>${checks}</ul>`;
  });
});

// --- knowledge bases ----------------------------------------------------------------------------------------------
async function loadKbs() {
  const r = await api("/v1/knowledge-bases").catch(() => ({data: []}));
  const names = (r.data || []).map((k) => k.name || k.id);
  $("#kb-select").innerHTML = names.map((n) => `<option>${esc(n)}</option>`).join("");
  showKbDocs();
}
async function showKbDocs() {
  const kb = $("#kb-select").value;
  if (!kb) { $("#kb-docs").textContent = ""; return; }
  const r = await api(`/v1/knowledge-bases/${encodeURIComponent(kb)}/documents`).catch(() => ({data: []}));
  $("#kb-docs").textContent = (r.data || []).map((d) => d.name || d.filename || d.id).join(" · ");
}
$("#kb-select").addEventListener("change", showKbDocs);
$("#kb-create").addEventListener("click", (e) => busy(e.target, async () => {
  const name = $("#kb-new").value.trim();
  if (!name) return;
  await api("/v1/knowledge-bases", {method: "POST", json: {name}});
  $("#kb-new").value = ""; await loadKbs(); $("#kb-select").value = name; showKbDocs();
}));
$("#kb-upload").addEventListener("click", (e) => busy(e.target, async () => {
  const kb = $("#kb-select").value; const files = $("#kb-files").files;
  if (!kb || !files.length) throw new Error(t("pick.file"));
  const fd = new FormData();
  for (const f of files) fd.append("files", f);
  const resp = await api(`/v1/knowledge-bases/${encodeURIComponent(kb)}/documents`, {method: "POST", body: fd});
  await resultOf(resp, $("#minutes-progress")).catch((err) => toast(err.message));
  showKbDocs();
}));
$("#kb-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const act = e.submitter.dataset.act; const kb = $("#kb-select").value; const q = $("#kb-query").value.trim();
  busy(e.submitter, async () => {
    if (!kb || !q) return;
    const base = `/v1/knowledge-bases/${encodeURIComponent(kb)}`;
    if (act === "search") {
      const r = await api(base + "/search", {method: "POST", json: {query: q}});
      $("#kb-out").innerHTML = (r.results || []).map((x) => `<div class=card><b>${esc(x.document)}</b>${x.page ? ` <span class=cite>第 ${x.page} 页</span>` : ""} <span class=cite>${esc(x.chunk_id)} · ${Number(x.score).toFixed(3)}</span><p>${esc(x.text)}</p></div>`).join("") || `<p class=muted>${t("no.data")}</p>`;
    } else {
      // grounded chat: a chat request that names a knowledge base answers with citations
      const r0 = await api("/v1/chat/completions", {method: "POST", json: {messages: [{role: "user", content: q}], knowledge_base: kb, max_tokens: 512}});
      const r = {answer: r0.choices[0].message.content, citations: r0.citations || []};
      $("#kb-out").innerHTML = `<div class=card><p>${esc(r.answer)}</p>` + (r.citations || []).map((c, i) => `<p class=cite>[${i + 1}] ${esc(c.document)}${c.page ? ` · 第 ${c.page} 页` : ""} · ${esc(c.text).slice(0, 160)}</p>`).join("") + "</div>";
    }
  });
});

// --- custom apps --------------------------------------------------------------------------------------------------
async function loadApps() {
  const r = await api("/v1/custom-apps").catch(() => ({data: []}));
  $("#apps-list").innerHTML = r.data.length ? `<table><tr><th>model</th><th>v</th><th>base</th><th>kb</th><th>prompt</th></tr>` + r.data.map((a) =>
    `<tr><td><code>${esc(a.id)}</code></td><td>${a.version}</td><td>${esc(a.base_model || "")}</td><td>${esc(a.knowledge_base || "")}</td><td>${esc(a.system_prompt).slice(0, 80)}</td></tr>`).join("") + "</table>" : `<p class=muted>${t("no.data")}</p>`;
}
$("#app-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const name = $("#app-name").value.trim();
    const body = {system_prompt: $("#app-prompt").value};
    if ($("#app-kb").value.trim()) body.knowledge_base = $("#app-kb").value.trim();
    if ($("#app-temp").value.trim()) body.params = {temperature: Number($("#app-temp").value)};
    try { await api("/v1/custom-apps", {method: "POST", json: Object.assign({name}, body)}); } catch (err) {
      if (err.status !== 409) throw err;
      await api("/v1/custom-apps/" + encodeURIComponent(name), {method: "PATCH", json: body});
    }
    await loadApps(); loadModels();
  });
});

// --- keys and usage -----------------------------------------------------------------------------------------------
function barChart(rows) {
  const byDay = {};
  rows.forEach((r) => { byDay[r.day] = (byDay[r.day] || 0) + r.total_tokens; });
  const days = Object.keys(byDay).sort();
  if (!days.length) return `<p class=muted>${t("no.data")}</p>`;
  const max = Math.max(...Object.values(byDay), 1); const w = 640; const h = 160; const bw = Math.min(40, (w - 40) / days.length - 4);
  const bars = days.map((d, i) => {
    const bh = Math.round((byDay[d] / max) * (h - 44)); const x = 40 + i * (bw + 4);
    return `<rect x="${x}" y="${h - 20 - bh}" width="${bw}" height="${bh}" fill="#c0504d"><title>${d}: ${byDay[d]} tokens</title></rect>` +
      `<text x="${x}" y="${h - 6}">${d.slice(5)}</text><text x="${x}" y="${h - 24 - bh}">${byDay[d]}</text>`;
  }).join("");
  return `<svg width="100%" viewBox="0 0 ${w} ${h}" role="img" aria-label="tokens per day">${bars}</svg>`;
}
async function loadUsage() {
  const u = await api("/v1/usage?since=30d");
  $("#usage-chart").innerHTML = barChart(u.data);
  $("#usage-table").innerHTML = `<table><tr><th>day</th><th>model</th><th>${t("requests")}</th><th>errors</th><th>prompt</th><th>completion</th><th>total</th></tr>` +
    u.data.map((r) => `<tr><td>${r.day}</td><td>${esc(r.model || "—")}</td><td>${r.requests}</td><td>${r.errors}</td><td>${r.prompt_tokens}</td><td>${r.completion_tokens}</td><td>${r.total_tokens}</td></tr>`).join("") +
    `<tr><th colspan=2>Σ</th><th>${u.totals.requests}</th><th>${u.totals.errors}</th><th>${u.totals.prompt_tokens}</th><th>${u.totals.completion_tokens}</th><th>${u.totals.total_tokens}</th></tr></table>`;
  const admin = state.me && state.me.is_admin;
  const keys = await api(admin ? "/v1/admin/keys" : "/v1/keys");
  $("#keys-list").innerHTML = `<table><tr><th>prefix</th><th>tenant</th><th>name</th><th>status</th><th>rpm</th><th></th></tr>` + keys.data.map((k) =>
    `<tr><td><code>${esc(k.prefix)}</code></td><td>${esc(k.tenant_id)}</td><td>${esc(k.name)}${k.is_admin ? " (admin)" : ""}</td><td>${k.status}</td><td>${k.rpm || ""}</td>` +
    `<td>${admin && k.status === "active" ? `<button class="link" data-revoke="${esc(k.id)}">${t("revoke")}</button>` : ""}</td></tr>`).join("") + "</table>";
  $$("[data-revoke]").forEach((b) => b.addEventListener("click", () => busy(b, async () => {
    await api(`/v1/admin/keys/${b.dataset.revoke}/revoke`, {method: "POST"}); loadUsage();
  })));
}
$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  busy(e.submitter, async () => {
    const body = {tenant: $("#key-tenant").value.trim() || "default", name: $("#key-name").value.trim()};
    if ($("#key-rpm").value.trim()) body.rpm = Number($("#key-rpm").value);
    if ($("#key-expires").value.trim()) body.expires = $("#key-expires").value.trim();
    const k = await api("/v1/admin/keys", {method: "POST", json: body});
    $("#key-new").hidden = false; $("#key-new").textContent = t("shown.once") + " " + k.key;
    loadUsage();
  });
});

// --- start --------------------------------------------------------------------------------------------------------
applyLang();
$("#login-nokey").addEventListener("click", () => login("").catch((e) => { $("#login-error").textContent = e.message; }));
if (state.key) login(state.key).catch(() => logout());
else fetch("/v1/me").then((r) => { $("#login-open").hidden = !r.ok; }).catch(() => {});
