// evalkit report: tables, filters and the sample viewer. Plain browser JavaScript, no libraries.
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const meta = JSON.parse($("#ek-meta").textContent);
  const PAGE = 100;

  function h(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");

  // ---- blobs: 7-bit text -> raw deflate bytes -> JSON (see evalkit/report/_pack.py) ----
  const UNSAFE = [0, 13, 60], WIDE = 0x100;
  function unpack7(text, n) {
    const out = new Uint8Array(n);
    let acc = 0, bits = 0, o = 0;
    const push = (v) => {
      acc = (acc << 7) | v; bits += 7;
      if (bits >= 8) { bits -= 8; if (o < n) out[o++] = (acc >> bits) & 255; acc &= (1 << bits) - 1; }
    };
    for (let i = 0; i < text.length && o < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 128) push(c);
      else { const d = c - WIDE; push(UNSAFE[d >> 7]); push(d & 127); }
    }
    return out;
  }
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return await new Response(stream).text();
  }
  async function loadBlob(node) { return JSON.parse(await inflate(unpack7(node.textContent, +node.dataset.n))); }

  const parsed = new Promise((ok) => {
    if (document.readyState !== "loading") ok(); else document.addEventListener("DOMContentLoaded", ok);
  });
  const chunkCache = new Map();
  async function chunk(i) {
    if (chunkCache.has(i)) return chunkCache.get(i);
    let node = document.getElementById("ek-c" + i);
    if (!node) { await parsed; node = document.getElementById("ek-c" + i); }
    const got = loadBlob(node);
    chunkCache.set(i, got);
    if (chunkCache.size > 8) chunkCache.delete(chunkCache.keys().next().value);
    return got;
  }

  // ---- state ----
  let ix = null;          // the index: tasks, models, problems (columns), samples (columns), kinds
  let P = [], S = [];     // rows as objects
  const multi = { task: false, model: false, budget: false };
  const st = { pSort: "id", pDir: 1, pShown: 200, sShown: PAGE, problem: null, textHits: null, textQuery: "" };

  function kindColor(k) { return (meta.kind_colors || {})[k] || "#ffe082"; }

  function columns(obj) {
    const keys = Object.keys(obj), n = keys.length ? obj[keys[0]].length : 0, rows = new Array(n);
    for (let i = 0; i < n; i++) { const r = { i }; for (const k of keys) r[k] = obj[k][i]; rows[i] = r; }
    return rows;
  }

  // ---- problems table ----
  const pCols = [
    ["task", "Task", (p) => ix.tasks[p.t], "task"], ["model", "Model", (p) => ix.models[p.m], "model"],
    ["id", "Problem", (p) => p.id], ["b", "Budget", (p) => p.b ?? "", "budget", true], ["gold", "Gold", (p) => p.gold ?? ""],
    ["n", "Samples", (p) => p.n, null, true], ["solved", "Solved", null, null, true],
    ["maj", "Majority answer", (p) => p.maj ?? ""], ["majs", "Majority share of answered", (p) => pct(p.majs), null, true],
    ["spread", "Distinct answers", (p) => p.spread, null, true], ["ntr", "Truncated", (p) => p.ntr, null, true],
  ];
  const natural = new Intl.Collator(undefined, { numeric: true }).compare;
  function cmp(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    return typeof a === "number" && typeof b === "number" ? a - b : natural(String(a), String(b));
  }
  function problemRows() {
    const q = $("#problem-filter").value.trim().toLowerCase(), solved = $("#problem-solved").value;
    let rows = P.filter((p) => {
      if (solved === "none" && !(p.solved === 0)) return false;
      if (solved === "some" && !(p.solved > 0 && p.solved < 1)) return false;
      if (solved === "all" && !(p.solved === 1)) return false;
      if (q && ![p.id, p.gold, p.maj].some((x) => x && String(x).toLowerCase().includes(q))) return false;
      return true;
    });
    const key = st.pSort, dir = st.pDir;
    const val = key === "task" ? (p) => ix.tasks[p.t] : key === "model" ? (p) => ix.models[p.m] : (p) => p[key];
    rows = rows.slice().sort((a, b) => {
      const va = val(a), vb = val(b);
      if (va === null || va === undefined || vb === null || vb === undefined) return cmp(va, vb);
      return dir * cmp(va, vb);
    });
    return rows;
  }
  function renderProblems() {
    const cols = pCols.filter(([k, , , m]) => !m || multi[m]);
    const thead = $("#problems-table thead");
    thead.replaceChildren(h("tr", null, cols.map(([k, label, , , num]) => h("th", {
      class: "sortable" + (num ? " num" : ""), "data-key": k,
      "aria-sort": st.pSort === k ? (st.pDir > 0 ? "ascending" : "descending") : null,
      onclick: () => { st.pDir = st.pSort === k ? -st.pDir : 1; st.pSort = k; renderProblems(); },
    }, label))));
    const rows = problemRows();
    $("#problem-count").textContent = `${rows.length} of ${P.length} ` + (multi.budget ? "problems × budgets" : "problems");
    const body = rows.slice(0, st.pShown).map((p) => h("tr", {
      class: "row", "data-id": p.id, "data-budget": p.b ?? null, title: "Show this problem's samples",
      onclick: () => { st.problem = p.i; st.sShown = PAGE; renderSamples(); $("#samples").scrollIntoView(); },
    }, cols.map(([k, , get, , num]) => k === "solved"
      ? h("td", { class: "num" }, p.solved === null ? "–" : [h("span", { class: "bar", style: `width:${Math.round(40 * p.solved)}px` }), pct(p.solved)])
      : h("td", { class: num ? "num" : "wrap" }, get(p)))));
    $("#problems-table tbody").replaceChildren(...body);
    const pager = $("#problems-pager");
    pager.replaceChildren(rows.length > st.pShown
      ? h("span", null, `Showing ${st.pShown} of ${rows.length}.`, h("button", { onclick: () => { st.pShown += 500; renderProblems(); } }, "Show more"))
      : "");
  }

  // ---- samples table ----
  // acts of reflection (the trace's markers; `aha` in the counts is a flag on acts, not an act)
  const markerTotal = (s) => s.nm || 0;
  function sampleRows() {
    const wrong = $("#f-wrong").checked, trunc = $("#f-truncated").checked, sc = $("#f-selfcorr").checked;
    const flipped = $("#f-flipped").checked;
    const kind = $("#f-kind").value, q = $("#f-text").value.trim().toLowerCase();
    const hits = st.textHits && st.textQuery === q ? st.textHits : null;
    return S.filter((s) => {
      if (st.problem !== null && s.p !== st.problem) return false;
      if (wrong && s.c !== 0) return false;
      if (trunc && !s.tr) return false;
      if (sc && !(s.w2r > 0)) return false;
      if (flipped && !(s.j && s.j.f)) return false;
      if (kind === "none" && markerTotal(s) > 0) return false;
      if (kind && kind !== "none" && !(s.mk && s.mk[kind] > 0)) return false;
      if (q) {
        const p = P[s.p];
        const inMeta = [p.id, s.a, s.r, p.gold].some((x) => x !== null && x !== undefined && String(x).toLowerCase().includes(q));
        if (!inMeta && !(hits && hits.has(s.i))) return false;
      }
      return true;
    });
  }
  function renderSamples() {
    const budgets = S.some((s) => s.b != null);
    const cols = [multi.task && "Task", multi.model && "Model", "Problem", "#", budgets && "Budget", "Verdict", "Answer", "Tokens", "Markers", "Self-corr."].filter(Boolean);
    $("#samples-table thead").replaceChildren(h("tr", null, cols.map((c) => h("th", { class: ["#", "Tokens", "Markers", "Self-corr."].includes(c) ? "num" : null }, c))));
    const rows = sampleRows();
    const searched = st.textHits && st.textQuery && st.textQuery === $("#f-text").value.trim().toLowerCase();
    $("#sample-count").textContent = `${rows.length} of ${S.length} samples` + (searched ? " (completions searched)" : "");
    const chip = $("#f-problem");
    chip.replaceChildren(st.problem === null ? "" : h("span", { class: "chip" }, "problem " + P[st.problem].id + (P[st.problem].b == null ? "" : ` · budget ${P[st.problem].b}`),
      h("button", { title: "Clear", onclick: () => { st.problem = null; renderSamples(); } }, "×")));
    const body = rows.slice(0, st.sShown).map((s) => {
      const p = P[s.p], reason = s.r || (s.c === 1 ? "correct" : s.c === 0 ? "wrong" : "unjudged");
      return h("tr", { class: "row", "data-sample": s.i, onclick: () => { location.hash = anchor(s); } },
        multi.task && h("td", { class: "wrap" }, ix.tasks[p.t]),
        multi.model && h("td", { class: "wrap" }, ix.models[p.m]),
        h("td", { class: "wrap" }, p.id), h("td", { class: "num" }, s.s),
        budgets && h("td", { class: "num" }, s.b ?? ""),
        h("td", null, h("span", { class: "badge " + reason }, reason)),
        h("td", { class: "wrap" }, s.a ?? h("span", { class: "muted" }, "none"),
          s.j ? h("span", { class: "judge-reply", title: "the judge's reply" }, (s.j.f ? " ⇐ judge: " : " · judge: ") + s.j.y) : null),
        h("td", { class: "num" }, s.tok ?? s.len + " ch"), h("td", { class: "num" }, markerTotal(s)),
        h("td", { class: "num" }, s.w2r ? `${s.w2r} w→r` : s.r2w ? `${s.r2w} r→w` : ""));
    });
    $("#samples-table tbody").replaceChildren(...body);
    $("#samples-pager").replaceChildren(rows.length > st.sShown
      ? h("span", null, `Showing ${st.sShown} of ${rows.length}.`, h("button", { onclick: () => { st.sShown += PAGE * 5; renderSamples(); } }, "Show more"))
      : "");
  }
  async function searchCompletions(q) {
    // Full-text search inflates every chunk in turn and keeps only the matching sample numbers.
    const hits = new Set(), byChunk = new Map();
    for (const s of S) { if (!byChunk.has(s.ch)) byChunk.set(s.ch, []); byChunk.get(s.ch)[s.ci] = s.i; }
    $("#sample-count").textContent = "searching completions…";
    for (let c = 0; c < meta.n_chunks; c++) {
      const data = await chunk(c), ids = byChunk.get(c) || [];
      data.samples.forEach((x, k) => { if (x.c.toLowerCase().includes(q)) hits.add(ids[k]); });
    }
    st.textHits = hits; st.textQuery = q;
  }

  // ---- sample viewer ----
  const anchor = (s) => "sample=" + [ix.tasks[P[s.p].t], ix.models[P[s.p].m], P[s.p].id, s.s].concat(s.b == null ? [] : [s.b]).map(encodeURIComponent).join("|");
  // Episodes (a check over its recomputation to its verdict, a doubt to what settles it) underline
  // their span; the acts inside are highlighted as marks.
  function withEpisodes(text, from, to, markers, episodes) {
    const out = [];
    let at = from;
    for (const [kind, start, end, settled] of episodes || []) {
      const a = Math.max(start, at), b = Math.min(end, to);
      if (b <= a) continue;
      if (a > at) append(out, highlighted(text, at, a, markers));
      out.push(h("span", { class: "ep", "data-episode": kind, title: `${kind} episode` + (settled ? " (settled)" : "") },
        highlighted(text, a, b, markers)));
      at = b;
    }
    if (at < to) append(out, highlighted(text, at, to, markers));
    return out;
  }
  function append(out, items) { for (const x of items) out.push(x); }  // no spread: a long trace has 100,000s
  // markers (sorted by start) -> the largest end among each marker and those before it, so a span finds its
  // first marker by bisection: a looping trace has tens of thousands of episodes and markers, and a scan of
  // every marker per episode took minutes to open
  const reach = new WeakMap();
  function firstMarker(markers, from) {
    let ends = reach.get(markers);
    if (!ends) {
      ends = [];
      let most = -Infinity;
      for (const m of markers) { most = Math.max(most, m[2]); ends.push(most); }
      reach.set(markers, ends);
    }
    let lo = 0, hi = markers.length;  // the first whose reach passes `from`: every one before ends at or before it
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ends[mid] <= from) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function highlighted(text, from, to, markers) {
    const out = [];
    let at = from;
    for (let i = firstMarker(markers, from); i < markers.length; i++) {
      const [k, start, end, rule] = markers[i];
      if (start >= to) break;
      const a = Math.max(start, at), b = Math.min(end, to);
      if (b <= a) continue;
      if (a > at) out.push(text.slice(at, a));
      const kind = ix.kinds[k];
      out.push(h("mark", { class: "mk", "data-kind": kind, style: `background:${kindColor(kind)}`, title: kind + (rule ? ` (${rule})` : "") }, text.slice(a, b)));
      at = b;
    }
    if (at < to) out.push(text.slice(at, to));
    return out;
  }
  function legend(markers) {
    const counts = new Map();
    for (const [k] of markers) counts.set(k, (counts.get(k) || 0) + 1);
    if (!counts.size) return h("p", { class: "note" }, "No reflection markers in this sample.");
    return h("div", { class: "legend", "aria-label": "Marker legend" }, [...counts].map(([k, n]) =>
      h("span", { "data-kind": ix.kinds[k] }, h("span", { class: "sw", style: `background:${kindColor(ix.kinds[k])}` }), `${ix.kinds[k]} (${n})`)));
  }
  function traceFacts(tr) {
    const rows = [];
    for (const [k, v] of Object.entries(tr || {})) {
      if (v === null || v === undefined || k === "markers") continue;
      if (typeof v === "object") { if (k === "trajectory") rows.push([k, JSON.stringify(v).slice(0, 600)]); else rows.push([k, JSON.stringify(v)]); }
      else rows.push([k, typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v)]);
    }
    return rows;
  }
  // ---- math: KaTeX, vendored and packed in the page, inflated the first time math is shown ----
  let katexReady = null;
  let mathOn = true;
  try { mathOn = localStorage.getItem("evalkit-math") !== "raw"; } catch (e) { /* file:// may refuse storage */ }
  function loadKatex() {
    if (!katexReady) katexReady = loadBlob(document.getElementById("ek-katex")).then((k) => {
      const style = document.createElement("style"); style.textContent = k.css; document.head.append(style);
      const script = document.createElement("script"); script.textContent = k.js; document.head.append(script);
    });
    return katexReady;
  }
  const DELIMITERS = [{ left: "$$", right: "$$", display: true }, { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false }];
  // Single-dollar math by pandoc's rule, so prices read as text ("sells each for $2, so 9 * $2 = $18"):
  // the opening $ is followed by a non-space, the closing $ follows a non-space and is not followed
  // by a digit; neither is escaped (\$) or part of $$, and the math stays on one line.
  const INLINE_DOLLAR = /(?<![\\$])\$(?![\s$])((?:[^$\\\n]|\\[^\n])*?)(?<![\s\\])\$(?![\d$])/g;
  function renderDollars(el) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, { acceptNode: (n) =>
      n.nodeValue.includes("$") && !n.parentElement.closest(".katex, .cut") ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT });
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const text = node.nodeValue, parts = [];
      let at = 0;
      for (const m of text.matchAll(INLINE_DOLLAR)) {
        if (m.index > at) parts.push(text.slice(at, m.index));
        const span = h("span", { class: "math-inline" });
        try { window.katex.render(m[1], span, { throwOnError: false }); } catch (e) { span.textContent = m[0]; }
        parts.push(span);
        at = m.index + m[0].length;
      }
      if (!parts.length) continue;
      if (at < text.length) parts.push(text.slice(at));
      node.replaceWith(...parts);
    }
  }
  async function renderMath(root) {
    if (!mathOn || !document.getElementById("ek-katex")) return;
    await loadKatex();
    // texts with delimiters (prompts, answers) and bare answers / golds (math without delimiters)
    for (const el of root.querySelectorAll(".math-src")) typesetCapped(el, el.dataset.what);
    for (const el of root.querySelectorAll(".math-bare")) {
      const tex = el.textContent;
      if (tex && tex !== "–" && tex !== "none") { try { window.katex.render(tex, el, { throwOnError: false }); } catch (e) { el.textContent = tex; } }
    }
    root.dataset.math = "1";
  }
  // A text (prompt, thinking, answer) is typeset only up to MAX_MATH expressions: a reply looping on tens of
  // thousands held the tab for 10-20 s, in its thinking or after it (shown raw, and said so).
  const MAX_MATH = 2000;
  function typesetCapped(el, what) {
    const text = el.textContent;  // `$…$` is two marks, `\(…\)` one opening
    const count = (text.match(/\$/g) || []).length / 2 + (text.match(/\\\(|\\\[/g) || []).length;
    if (count > MAX_MATH) {
      el.before(h("p", { class: "note math-skipped" }, `Math in this ${what} is shown as written: about ${Math.round(count).toLocaleString()} expressions are more than the ${MAX_MATH.toLocaleString()} typeset.`));
      return;
    }
    window.renderMathInElement(el, { delimiters: DELIMITERS, throwOnError: false, ignoredClasses: ["cut"] });
    renderDollars(el);
  }
  // The thinking is typeset when it is unfolded, not when the sample opens.
  async function renderThinking(details) {
    const pre = details.querySelector("pre.math-lazy");
    if (!details.open || !pre || pre.dataset.math) return;
    pre.dataset.math = "pending";
    if (mathOn && document.getElementById("ek-katex")) {
      await loadKatex();
      typesetCapped(pre, "thinking");
    }
    pre.dataset.math = "1";
  }
  function mathToggle(reopen) {
    return h("label", { class: "math-toggle" }, h("input", { type: "checkbox", id: "math-toggle", checked: mathOn ? "" : null, onchange: (e) => {
      mathOn = e.target.checked;
      try { localStorage.setItem("evalkit-math", mathOn ? "math" : "raw"); } catch (err) { /* not kept */ }
      reopen();
    } }), " render math");
  }

  // Thinking budgets: where each budget cut this trace (a mark in the thinking) and what it answered.
  function withCuts(text, from, to, markers, cuts, episodes) {
    const at = (cuts || []).filter((c) => c[1] != null && c[1] > from && c[1] <= to).sort((a, b) => a[1] - b[1]);
    const out = [];
    let pos = from;
    for (const [budget, cut, answer, correct] of at) {
      append(out, withEpisodes(text, pos, cut, markers, episodes));
      out.push(h("span", { class: "cut " + (correct === 1 ? "correct" : "wrong"), "data-budget": budget,
        title: `budget ${budget}: cut here; answered ${answer ?? "nothing"}` }, `✂ ${budget}`));
      pos = cut;
    }
    append(out, withEpisodes(text, pos, to, markers, episodes));
    return out;
  }
  // cuts are UTF-16 offsets into text (where the marks go); what a reader is told is characters
  function budgetList(cuts, waits, text) {
    return h("div", { class: "budgets" }, h("h3", null, "Thinking budgets"),
      waits ? h("p", { class: "note" }, `${waits} wait${waits === 1 ? "" : "s"} forced into this thinking.`) : "",
      h("table", { class: "cuts" }, h("thead", null, h("tr", null, ["Budget", "Cut", "Answered", "Verdict"].map((c) => h("th", null, c)))),
        h("tbody", null, cuts.map(([budget, cut, answer, correct, source]) => h("tr", { "data-budget": budget },
          h("td", { class: "num" }, budget),
          h("td", null, cut == null ? "thinking had finished"
            : `at character ${Array.from(text.slice(0, cut)).length.toLocaleString()}` + (source === "trajectory" ? " (trajectory)" : "")),
          h("td", null, answer == null ? h("span", { class: "muted" }, "nothing") : h("span", { class: "math-bare" }, answer)),
          h("td", null, h("span", { class: "badge " + (correct === 1 ? "correct" : correct === 0 ? "wrong" : "unjudged") }, correct === 1 ? "correct" : correct === 0 ? "wrong" : "unjudged")))))));
  }
  async function openSample(s) {
    const view = $("#sample-view"), p = P[s.p];
    view.hidden = false;
    view.replaceChildren(h("p", { class: "muted" }, "Opening…"));
    const data = await chunk(s.ch), x = data.samples[s.ci];
    const markers = (x.mk || []).slice().sort((a, b) => a[1] - b[1]);
    const reason = s.r || (s.c === 1 ? "correct" : s.c === 0 ? "wrong" : "unjudged");
    const text = x.c, split = x.a || 0;
    const inThink = markers.filter((m) => m[1] < split).length;
    // a program and its tests are text; any other answer and gold are typeset as math
    const bare = (ix.programs || []).includes(p.t) ? (t) => h("pre", { class: "text program" }, t) : (t) => h("span", { class: "math-bare" }, t);
    const facts = [["Verdict", h("span", { class: "badge " + reason }, reason)], ["Extracted answer", bare(s.a ?? "none")],
      ["Gold", bare(String(x.g ?? p.gold ?? "–"))], ["Score", s.sc ?? "–"], ["Detail", x.d || "–"],
      ["Tokens", s.tok ?? "–"], ["Finish reason", x.fr ?? "–"], ["Seed", x.seed ?? "–"]];
    if (x.j) facts.splice(2, 0, ["Judge", `${x.j.model} (${x.j.rubric})` + (x.j.flipped ? ", flipped the rule to correct" : "")],
      ["Judge reply", h("pre", { class: "text judge-reply" }, x.j.reply ?? x.j.error ?? "–")]);
    const parts = [
      h("button", { class: "close", title: "Close", "aria-label": "Close", onclick: closeSample }, "×"),
      h("h2", null, `${p.id} · sample ${s.s}` + (s.b == null ? "" : ` · budget ${s.b}`)),
      mathToggle(() => openSample(s)),
      h("p", { class: "muted" }, `${ix.tasks[p.t]} · ${ix.models[p.m]}`),
      h("dl", { class: "verdict" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    ];
    if (x.tests) parts.push(h("h3", null, `Tests (${x.tests.filter((t) => t.passed).length}/${x.tests.length} passed)`),
      h("ul", { class: "tests" }, x.tests.map((t, j) => h("li", { class: t.passed ? "pass" : "fail" }, `test ${j + 1}: ${t.reason || (t.passed ? "passed" : "failed")}`))));
    parts.push(h("details", { class: "prompt" }, h("summary", null, "Prompt"), h("pre", { class: "text math-src", "data-what": "prompt" }, data.prompts[x.pi] ?? "")));
    parts.push(h("h3", null, "Completion"), legend(markers));
    if (split > 0) {
      const [size, unit] = x.tl || [split, "characters"];
      const label = `Thinking: ${size.toLocaleString()} ${unit}, ${inThink} marker${inThink === 1 ? "" : "s"}` + (x.open ? (x.cut ? " — never closed (truncated)" : ` — never closed, though the reply ended (finish reason ${x.fr ?? "unknown"})`) : "");
      parts.push(h("details", { class: "think", ontoggle: (e) => renderThinking(e.currentTarget) }, h("summary", null, label),
        h("pre", { class: "text math-lazy" }, withCuts(text, 0, split, markers, x.cuts, x.ep))));
    }
    if (x.cuts) parts.splice(parts.length - (split > 0 ? 1 : 0), 0, budgetList(x.cuts, x.fw, text));
    const answerEnd = x.ae ?? text.length;
    if (split < answerEnd) parts.push(h("pre", { class: "text answer math-src", "data-what": "answer" }, withEpisodes(text, split, answerEnd, markers, x.ep)));
    if (answerEnd < text.length) parts.push(h("pre", { class: "text after-answer muted", title: "after the final answer, not part of it" }, text.slice(answerEnd)));
    const facts2 = traceFacts(x.tr);
    if (facts2.length) parts.push(h("details", null, h("summary", null, "Trace analysis"), h("dl", { class: "facts" }, facts2.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]))));
    view.replaceChildren(...parts);
    view.scrollTop = 0;
    await renderMath(view);
  }
  function closeSample() { $("#sample-view").hidden = true; if (location.hash.startsWith("#sample=")) history.replaceState(null, "", location.pathname + location.search); }
  function route() {
    const m = /^#sample=(.*)$/.exec(location.hash);
    if (!m || !ix) return;
    const decode = (x) => { try { return decodeURIComponent(x); } catch (e) { return null; } };  // `100%` is no escape
    const [task, model, pid, n, b] = m[1].split("|").map(decode);
    const s = [task, model, pid, n, b].includes(null) ? undefined : S.find((s) => { const p = P[s.p]; return String(s.s) === n && p.id === pid && ix.tasks[p.t] === task && ix.models[p.m] === model && (b === undefined || String(s.b) === b); });
    if (s) openSample(s);
    else { $("#sample-view").hidden = false; $("#sample-view").replaceChildren(h("p", null, "No such sample in this run: " + m[1])); }
  }

  async function start() {
    ix = await loadBlob($("#ek-index"));
    P = columns(ix.problems); S = columns(ix.samples);
    multi.task = ix.tasks.length > 1; multi.model = ix.models.length > 1; multi.budget = P.some((p) => p.b != null);
    const kindSel = $("#f-kind");
    for (const [k, name] of ix.kinds.entries()) kindSel.append(h("option", { value: String(k) }, name));
    kindSel.append(h("option", { value: "none" }, "none"));
    $("#problem-filter").addEventListener("input", () => { st.pShown = 200; renderProblems(); });
    $("#problem-solved").addEventListener("change", () => { st.pShown = 200; renderProblems(); });
    for (const id of ["#f-wrong", "#f-truncated", "#f-selfcorr", "#f-flipped", "#f-kind"]) $(id).addEventListener("change", () => { st.sShown = PAGE; renderSamples(); });
    const text = $("#f-text");
    text.addEventListener("input", () => { st.sShown = PAGE; renderSamples(); });
    text.addEventListener("keydown", async (e) => {
      const q = text.value.trim().toLowerCase();
      if (e.key !== "Enter" || !q) return;
      await searchCompletions(q); st.sShown = PAGE; renderSamples();
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeSample(); });
    window.addEventListener("hashchange", route);
    renderProblems(); renderSamples(); route();
    document.body.dataset.ready = "1";
  }
  start().catch((err) => {
    $("#problems-table tbody").replaceChildren(h("tr", null, h("td", { class: "muted" }, "Could not read the embedded data: " + err)));
    throw err;
  });
})();
