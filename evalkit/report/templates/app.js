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
  const multi = { task: false, model: false };
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
    ["id", "Problem", (p) => p.id], ["gold", "Gold", (p) => p.gold ?? ""],
    ["n", "Samples", (p) => p.n, null, true], ["solved", "Solved", null, null, true],
    ["maj", "Majority answer", (p) => p.maj ?? ""], ["majs", "Majority share", (p) => pct(p.majs), null, true],
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
    $("#problem-count").textContent = `${rows.length} of ${P.length} problems`;
    const body = rows.slice(0, st.pShown).map((p) => h("tr", {
      class: "row", "data-id": p.id, title: "Show this problem's samples",
      onclick: () => { st.problem = p.i; st.sShown = PAGE; renderSamples(); $("#samples").scrollIntoView(); },
    }, cols.map(([k, , get, , num]) => k === "solved"
      ? h("td", { class: "num" }, p.solved === null ? "–" : [h("span", { class: "bar", style: `width:${Math.round(40 * p.solved)}px` }), pct(p.solved)])
      : h("td", { class: num ? "num" : null }, get(p)))));
    $("#problems-table tbody").replaceChildren(...body);
    const pager = $("#problems-pager");
    pager.replaceChildren(rows.length > st.pShown
      ? h("span", null, `Showing ${st.pShown} of ${rows.length}.`, h("button", { onclick: () => { st.pShown += 500; renderProblems(); } }, "Show more"))
      : "");
  }

  // ---- samples table ----
  function markerTotal(s) { if (!s.mk) return 0; let t = 0; for (const v of Object.values(s.mk)) t += v; return t; }
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
    const cols = [multi.task && "Task", multi.model && "Model", "Problem", "#", "Verdict", "Answer", "Tokens", "Markers", "Self-corr."].filter(Boolean);
    $("#samples-table thead").replaceChildren(h("tr", null, cols.map((c) => h("th", { class: ["#", "Tokens", "Markers", "Self-corr."].includes(c) ? "num" : null }, c))));
    const rows = sampleRows();
    $("#sample-count").textContent = `${rows.length} of ${S.length} samples` + (st.textHits && st.textQuery ? " (completions searched)" : "");
    const chip = $("#f-problem");
    chip.replaceChildren(st.problem === null ? "" : h("span", { class: "chip" }, "problem " + P[st.problem].id,
      h("button", { title: "Clear", onclick: () => { st.problem = null; renderSamples(); } }, "×")));
    const body = rows.slice(0, st.sShown).map((s) => {
      const p = P[s.p], reason = s.r || (s.c === 1 ? "correct" : s.c === 0 ? "wrong" : "unjudged");
      return h("tr", { class: "row", "data-sample": s.i, onclick: () => { location.hash = anchor(s); } },
        multi.task && h("td", null, ix.tasks[p.t]), multi.model && h("td", null, ix.models[p.m]),
        h("td", null, p.id), h("td", { class: "num" }, s.s),
        h("td", null, h("span", { class: "badge " + reason }, reason)),
        h("td", null, s.a ?? h("span", { class: "muted" }, "none"),
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
  const anchor = (s) => "sample=" + [ix.tasks[P[s.p].t], ix.models[P[s.p].m], P[s.p].id, s.s].map(encodeURIComponent).join("|");
  // Episodes (a check over its recomputation to its verdict, a doubt to what settles it) underline
  // their span; the acts inside are highlighted as marks.
  function withEpisodes(text, from, to, markers, episodes) {
    const out = [];
    let at = from;
    for (const [kind, start, end, settled] of episodes || []) {
      const a = Math.max(start, at), b = Math.min(end, to);
      if (b <= a) continue;
      if (a > at) out.push(...highlighted(text, at, a, markers));
      out.push(h("span", { class: "ep", "data-episode": kind, title: `${kind} episode` + (settled ? " (settled)" : "") },
        highlighted(text, a, b, markers)));
      at = b;
    }
    if (at < to) out.push(...highlighted(text, at, to, markers));
    return out;
  }
  function highlighted(text, from, to, markers) {
    const out = [];
    let at = from;
    for (const [k, start, end, rule] of markers) {
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
  async function openSample(s) {
    const view = $("#sample-view"), p = P[s.p];
    view.hidden = false;
    view.replaceChildren(h("p", { class: "muted" }, "Opening…"));
    const data = await chunk(s.ch), x = data.samples[s.ci];
    const markers = (x.mk || []).slice().sort((a, b) => a[1] - b[1]);
    const reason = s.r || (s.c === 1 ? "correct" : s.c === 0 ? "wrong" : "unjudged");
    const text = x.c, split = x.a || 0;
    const inThink = markers.filter((m) => m[1] < split).length;
    const facts = [["Verdict", h("span", { class: "badge " + reason }, reason)], ["Extracted answer", s.a ?? "none"],
      ["Gold", x.g ?? p.gold ?? "–"], ["Score", s.sc ?? "–"], ["Detail", x.d || "–"],
      ["Tokens", s.tok ?? "–"], ["Finish reason", x.fr ?? "–"], ["Seed", x.seed ?? "–"]];
    if (x.j) facts.splice(2, 0, ["Judge", `${x.j.model} (${x.j.rubric})` + (x.j.flipped ? ", flipped the rule to correct" : "")],
      ["Judge reply", h("pre", { class: "text judge-reply" }, x.j.reply ?? x.j.error ?? "–")]);
    const parts = [
      h("button", { class: "close", title: "Close", "aria-label": "Close", onclick: closeSample }, "×"),
      h("h2", null, `${p.id} · sample ${s.s}`),
      h("p", { class: "muted" }, `${ix.tasks[p.t]} · ${ix.models[p.m]}`),
      h("dl", { class: "verdict" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    ];
    if (x.tests) parts.push(h("h3", null, `Tests (${x.tests.filter((t) => t.passed).length}/${x.tests.length} passed)`),
      h("ul", { class: "tests" }, x.tests.map((t, j) => h("li", { class: t.passed ? "pass" : "fail" }, `test ${j + 1}: ${t.reason || (t.passed ? "passed" : "failed")}`))));
    parts.push(h("details", { class: "prompt" }, h("summary", null, "Prompt"), h("pre", { class: "text" }, data.prompts[x.pi] ?? "")));
    parts.push(h("h3", null, "Completion"), legend(markers));
    if (split > 0) {
      const label = `Thinking: ${split.toLocaleString()} characters, ${inThink} marker${inThink === 1 ? "" : "s"}` + (x.open ? " — never closed (truncated)" : "");
      parts.push(h("details", { class: "think" }, h("summary", null, label), h("pre", { class: "text" }, withEpisodes(text, 0, split, markers, x.ep))));
    }
    if (split < text.length) parts.push(h("pre", { class: "text answer" }, withEpisodes(text, split, text.length, markers, x.ep)));
    const facts2 = traceFacts(x.tr);
    if (facts2.length) parts.push(h("details", null, h("summary", null, "Trace analysis"), h("dl", { class: "facts" }, facts2.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]))));
    view.replaceChildren(...parts);
    view.scrollTop = 0;
  }
  function closeSample() { $("#sample-view").hidden = true; if (location.hash.startsWith("#sample=")) history.replaceState(null, "", location.pathname + location.search); }
  function route() {
    const m = /^#sample=(.*)$/.exec(location.hash);
    if (!m || !ix) return;
    const [task, model, pid, n] = m[1].split("|").map(decodeURIComponent);
    const s = S.find((s) => { const p = P[s.p]; return String(s.s) === n && p.id === pid && ix.tasks[p.t] === task && ix.models[p.m] === model; });
    if (s) openSample(s);
    else { $("#sample-view").hidden = false; $("#sample-view").replaceChildren(h("p", null, "No such sample in this run: " + m[1])); }
  }

  async function start() {
    ix = await loadBlob($("#ek-index"));
    P = columns(ix.problems); S = columns(ix.samples);
    multi.task = ix.tasks.length > 1; multi.model = ix.models.length > 1;
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
