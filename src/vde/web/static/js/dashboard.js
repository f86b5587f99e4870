// The member dashboard: energy bars (kWh per hour / day / month) or power curves, cards with
// coverage and comparisons, the energy flow, the age of the newest data; follows new data (SSE).
// No inline script anywhere (CSP script-src 'self'): the page hands over its data in a JSON
// <script type="application/json" id="boot"> element. Text goes in with textContent only.
/* global uPlot */
import { attachTouch as touchGestures } from "./touch.js";

const TZ = "Europe/Brussels";
const boot = JSON.parse(document.getElementById("boot").textContent);
const S = boot.strings;
const inst = boot.installation;
const LOCALE = { fr: "fr-BE", nl: "nl-BE", en: "en-GB" }[boot.lang] || "fr-BE";
const $ = (id) => document.getElementById(id);
const API = `/api/installations/${encodeURIComponent(inst.id)}`;

const COLORS = {
  cons: "#1f6feb",
  prod: "#e8890c",
  tot: "#5c636a",
  self: "#d98a06",
  imp: "rgba(220, 53, 69, 0.30)",
  impBar: "#c9303f",
  impLine: "#dc3545",
  exp: "rgba(25, 135, 84, 0.30)",
  expBar: "#198754",
  nbBar: "#6f42c1",
  expLine: "#198754",
  ghost: "#6c757d",
};

function t(key, vars = {}) {
  let s = S[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

// "1 maison sur 2", "11 maisons sur 12": the singular for one home
function homesText(n, m) {
  return t(n === 1 ? "homesof1" : "homesof", { n, m });
}

function todayLocal() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(new Date());
}

// The days the server can show (vde.timeutil.check_day): a day outside becomes the nearest.
const FIRST_DAY = "1900-01-02";
const LAST_DAY = "2199-12-30";

// A date from the URL: a valid day as is; an impossible one (2026-02-30) becomes the nearest
// valid day of that month, one beyond the supported years the nearest supported day;
// anything else today. Returns [day, corrected?].
function urlDate(raw) {
  if (raw === null || raw === "") return [todayLocal(), false];
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(raw);
  if (!m) return [todayLocal(), true];
  const y = Number(m[1]);
  const mo = Math.min(12, Math.max(1, Number(m[2])));
  const last = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const d = Math.min(last, Math.max(1, Number(m[3])));
  let iso = `${m[1]}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  if (iso < FIRST_DAY) iso = FIRST_DAY;
  else if (iso > LAST_DAY) iso = LAST_DAY;
  return [iso, iso !== raw];
}

const params = new URLSearchParams(location.search);
const [startDate, corrected] = urlDate(params.get("date"));
const state = {
  period: ["day", "week", "month", "year"].includes(params.get("period")) ? params.get("period") : "day",
  date: startDate,
  zoom: null, // {start, end} in UTC epoch s while zoomed
  compare: "",
  view: params.get("view") === "power" ? "power" : "energy",
  ghost: false,
};
let chart = null;
let live = null;
let loadSeq = 0;
let nowInfo = null;

// --- date arithmetic on YYYY-MM-DD strings (calendar only, no time zone involved) --------
function shiftDate(iso, period, step) {
  const [y, m, d] = iso.split("-").map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (period === "day") dt.setUTCDate(dt.getUTCDate() + step);
  else if (period === "week") dt.setUTCDate(dt.getUTCDate() + 7 * step);
  else if (period === "month") { dt.setUTCDate(1); dt.setUTCMonth(dt.getUTCMonth() + step); }
  else { dt.setUTCDate(1); dt.setUTCFullYear(dt.getUTCFullYear() + step); }
  return dt.toISOString().slice(0, 10);
}

function fmtDate(ts, opts) {
  return new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, ...opts }).format(new Date(ts * 1000));
}

function fmtDay(ts) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(new Date(ts * 1000));
}

function rangeLabel(d) {
  if (!d.period) {
    const o = { dateStyle: "medium", timeStyle: "short" };
    return `${fmtDate(d.start, o)} – ${fmtDate(d.end, o)}`;
  }
  if (d.period === "day") return fmtDate(d.start, { dateStyle: "full" });
  if (d.period === "week") {
    return `${fmtDate(d.start, { dateStyle: "medium" })} – ${fmtDate(d.end - 1, { dateStyle: "medium" })}`;
  }
  if (d.period === "month") return fmtDate(d.start, { month: "long", year: "numeric" });
  return fmtDate(d.start, { year: "numeric" });
}

// signDisplay "negative": a tiny negative that rounds to zero shows as 0,0, not -0,0
const num1 = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1, minimumFractionDigits: 1, signDisplay: "negative" });
const num2 = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2, minimumFractionDigits: 2, signDisplay: "negative" });
const pct = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 0 });
const signedPct = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero" });
const eur = new Intl.NumberFormat(LOCALE, { style: "currency", currency: "EUR" });
const kwhText = (v) => (v === null || v === undefined ? "–" : `${num1.format(v)} kWh`);

function query() {
  const q = new URLSearchParams();
  if (state.zoom) { q.set("start", state.zoom.start); q.set("end", state.zoom.end); }
  else { q.set("period", state.period); q.set("date", state.date); }
  return q;
}

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (r.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname)}`; return null; }
  if (!r.ok) {
    // the API's detail is in the page's language (vde.web.i18n.errors): show it
    let detail = "";
    try { detail = (await r.json()).detail || ""; } catch { /* not JSON */ }
    const err = new Error(String(r.status));
    err.detail = detail;
    throw err;
  }
  return r.json();
}

// --- data ------------------------------------------------------------------------------------
async function load() {
  const seq = ++loadSeq;
  const q = query();
  if (state.compare) q.set("compare", state.compare);
  $("loading").classList.remove("d-none");
  let energy, power = null;
  try {
    const wantPower = state.view === "power";
    [energy, power] = await Promise.all([
      getJson(`${API}/energy?${q}`),
      wantPower ? getJson(`${API}/series?${q}`) : Promise.resolve(null),
    ]);
  } catch (e) {
    if (seq === loadSeq) { $("loading").classList.add("d-none"); showError(e.message, e.detail); }
    return;
  }
  if (seq !== loadSeq || energy === null) return; // a newer request is on its way
  $("loading").classList.add("d-none");
  show(energy, power);
  syncUrl();
  followLive(energy);
  loadNow();
}

function showError(status, detail) {
  const box = $("nodata");
  box.textContent = t("error", { status }) + (detail ? ` ${detail}` : "");
  box.classList.remove("d-none");
}

function syncUrl() {
  const q = new URLSearchParams({ period: state.period, date: state.date });
  if (state.view === "power") q.set("view", "power");
  history.replaceState(null, "", `${location.pathname}?${q}`);
  const sep = $("csv-comma").checked ? "&sep=comma" : "";
  $("csv-energy").href = `${API}/energy.csv?${query()}&lang=${boot.lang}${sep}`;
  $("csv-shown").href = `${API}/series.csv?${query()}&lang=${boot.lang}${sep}`;
  const rawDay = state.zoom ? fmtDay(state.zoom.start) : state.date;
  $("csv-raw").href = `${API}/raw.csv?day=${rawDay}&lang=${boot.lang}${sep}`;
  $("csv-raw").textContent = `⬇ ${t("csvraw", { day: rawDay })}`;
}

// --- cards, flow, comparison -------------------------------------------------------------------
const CARD_KEYS = { consumed: "consumed_kwh", produced: "produced_kwh", imported: "imported_kwh", exported: "exported_kwh" };

function changeText(ch) {
  if (!ch) return "";
  const parts = [];
  if (ch.previous !== null) parts.push(t("chg.previous", { v: signedPct.format(ch.previous) }));
  if (ch.last_year !== null) parts.push(t("chg.lastyear", { v: signedPct.format(ch.last_year) }));
  return parts.join(" · ");
}

function showCards(d) {
  const tot = d.totals;
  const incomplete = tot.coverage !== null && tot.slots > 0 && !tot.complete;
  const estimated = tot.estimated !== null && tot.estimated > 0;
  const covText = [
    incomplete ? t("incomplete", { v: pct.format(1 - tot.coverage) }) : "",
    estimated ? t("estimated", { v: pct.format(tot.estimated) }) : "",
  ].filter(Boolean).join(" · ");
  for (const [card, key] of Object.entries(CARD_KEYS)) {
    $(`val-${card}`).textContent = kwhText(tot[key]);
    $(`chg-${card}`).textContent = changeText(d.changes[key]);
    $(`cov-${card}`).textContent = covText;
    $(`cov-${card}`).classList.toggle("d-none", !covText);
  }
  // costs, only where tariffs are set: net on consumption, paid on import, earned on export
  const cost = tot.cost;
  const eurs = { consumed: cost?.net_eur, imported: cost?.import_eur, exported: cost?.export_eur };
  const costKey = { consumed: "net_eur", imported: "import_eur", exported: "export_eur" };
  for (const [card, v] of Object.entries(eurs)) {
    const show = v !== undefined && v !== null;
    $(`eur-${card}`).textContent = show ? t(`eur.${card}`, { v: eur.format(v) }) : "";
    $(`eur-${card}`).classList.toggle("d-none", !show);
    // the same tariffs over the previous period and the same period last year
    const others = [["previous", d.previous], ["lastyear", d.last_year]]
      .map(([k, o]) => [k, o?.cost?.[costKey[card]]])
      .filter(([, e]) => e !== undefined && e !== null)
      .map(([k, e]) => t(`eurcmp.${k}`, { v: eur.format(e) }));
    $(`eurcmp-${card}`).textContent = others.join(" · ");
    $(`eurcmp-${card}`).classList.toggle("d-none", !others.length);
  }
  for (const key of ["self_consumption", "self_sufficiency"]) {
    $(`val-${key}`).textContent = tot[key] === null ? "–" : pct.format(tot[key]);
    const hidden = tot[key] === null && tot.slots > 0 && tot.coverage !== null && tot.coverage < 0.5;
    $(`cov-${key}`).textContent = hidden ? t("ratehidden") : covText;
    $(`cov-${key}`).classList.toggle("d-none", !(hidden || covText));
    $(`chg-${key}`).textContent = "";
  }
  $("cards").dataset.coverage = tot.coverage === null ? "" : String(tot.coverage);
  // a group: how many of its homes the figures count
  const note = $("homes-note");
  note.classList.toggle("d-none", !tot.members);
  if (tot.members) note.textContent = homesText(tot.homes, tot.members);
}

function showFlow(tot) {
  // a home with a stored sharing run: the grid arrow is what the supplier still delivered
  const nb = tot.from_neighbours_kwh !== undefined && tot.from_neighbours_kwh !== null;
  const imp = nb && tot.from_supplier_kwh !== null ? tot.from_supplier_kwh : tot.imported_kwh;
  $("flow-self").textContent = kwhText(tot.self_consumed_kwh);
  $("flow-exp").textContent = kwhText(tot.exported_kwh);
  $("flow-imp").textContent = kwhText(imp);
  $("flow-nb").classList.toggle("d-none", !nb);
  $("flow-nb-kwh").textContent = nb ? kwhText(tot.from_neighbours_kwh) : "–";
  $("flow-desc").textContent = t("flow.desc", {
    self: kwhText(tot.self_consumed_kwh), exp: kwhText(tot.exported_kwh), imp: kwhText(imp),
  }) + (nb ? ` ${t("flow.nb", { nb: kwhText(tot.from_neighbours_kwh) })}` : "");
  const card = $("nb-imported");
  card.classList.toggle("d-none", !nb);
  card.textContent = nb
    ? t("nb.card", { kwh: kwhText(tot.from_neighbours_kwh), eur: eur.format(tot.from_neighbours_eur) })
    : "";
}

function showCompare(c) {
  const box = $("compare-box");
  box.classList.toggle("d-none", !c);
  if (!c) return;
  $("compare-title").textContent = t("cmp.title", { group: c.installation.caption, n: c.homes });
  const body = $("compare-table").querySelector("tbody");
  body.replaceChildren();
  for (const [card, key] of Object.entries(CARD_KEYS)) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = $(`lbl-${card}`).textContent;
    tr.append(th);
    const diff = c.difference_kwh[key];
    const rel = c.difference[key];
    const cells = [
      $(`val-${card}`).textContent,
      kwhText(c.average[key]),
      diff === null ? "–" : `${num1.format(diff)} kWh${rel === null ? "" : ` (${signedPct.format(rel)})`}`,
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

function show(d, power) {
  if (!state.zoom) periodSpan = [d.start, d.end];
  $("range-label").textContent = rangeLabel(d) + (state.zoom ? ` (${t("zoomed")})` : "");
  $("unzoom").classList.toggle("d-none", !state.zoom);
  showCards(d);
  showFlow(d.totals);
  showCompare(d.compare);
  const has = d.totals.slots > 0;
  $("nodata").textContent = t("nodata");
  $("nodata").classList.toggle("d-none", has);
  const tot = d.totals;
  $("chart-summary").textContent = has
    ? t("summary", {
        range: rangeLabel(d),
        cons: num1.format(tot.consumed_kwh),
        prod: num1.format(tot.produced_kwh),
        imp: num1.format(tot.imported_kwh),
        exp: num1.format(tot.exported_kwh),
        res: power ? resLabel(power.resolution_s) : t(`unit.${d.bars.unit}`),
      })
    : t("nodata");
  const el = $("chart");
  el.dataset.view = state.view;
  el.dataset.unit = d.bars.unit;
  el.dataset.bars = String(d.bars.ts.length);
  el.dataset.start = String(d.start); // the range shown [UTC epoch s], for tests and tools
  el.dataset.end = String(d.end);
  if (power) {
    el.dataset.points = String(power.ts.length);
    el.dataset.resolution = String(power.resolution_s);
    drawPower(power);
  } else {
    delete el.dataset.points;
    delete el.dataset.resolution;
    drawBars(d);
  }
  $("chart-help").textContent = state.view === "power" ? t("zoomhelp") : t("barhelp");
  performance.mark("vde-chart"); // time to first chart, read by bench/web.py
}

function resLabel(s) {
  return { 8: "8 s", 60: "1 min", 900: "15 min", 3600: "1 h", 86400: t("res.day") }[s] || `${s} s`;
}

// --- charts ----------------------------------------------------------------------------------
function chartSize() {
  const w = Math.max(280, $("chart").clientWidth);
  return { width: w, height: w < 600 ? Math.min(300, Math.round(window.innerHeight * 0.36)) : 380 };
}

function axisDates(u, splits) {
  const span = u.scales.x.max - u.scales.x.min;
  return splits.map((ts) => {
    if (span <= 120 * 86400) {
      const hm = fmtDate(ts, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      return hm === "00:00" ? fmtDate(ts, { day: "numeric", month: "short" }) : hm;
    }
    return fmtDate(ts, { month: "short", year: "2-digit" });
  });
}

function barLabel(unit, ts) {
  if (unit === "month") return fmtDate(ts, { month: "long", year: "numeric" });
  if (unit === "day") return fmtDate(ts, { weekday: "short", day: "numeric", month: "short" });
  return fmtDate(ts, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function place(u) {
  if (chart) chart.destroy();
  chart = u;
  tappedIdx = null;
  attachTouch(chart);
}

let touched = false;
let tappedIdx = null;
let periodSpan = null; // [start, end] of the period shown when not zoomed [s]

// Touch (touch.js): a finger moves the cursor (the legend is the tooltip) and a second tap
// opens a bar; on the power curve a swipe zooms to the swiped span; two fingers pinch to
// zoom in (bars become 15-min bars, the curve gets finer) or back out to the period.
function attachTouch(u) {
  touchGestures(u, {
    touch: () => { touched = true; },
    swipe: (a, b) => { if (state.view === "power") zoomTo(a, b); },
    pinch: (a, b) => {
      if (b - a < (u.scales.x.max - u.scales.x.min)) { zoomTo(a, b); return; }
      if (!state.zoom) return; // the whole period is shown already
      if (periodSpan && a <= periodSpan[0] && b >= periodSpan[1]) go({}); // back to the period
      else zoomTo(Math.max(a, periodSpan ? periodSpan[0] : a), Math.min(b, periodSpan ? periodSpan[1] : b));
    },
  });
}

function zoomTo(a, b) {
  const start = Math.round(a / 60) * 60; // whole minutes read better than 07:59:43
  state.zoom = { start, end: Math.max(Math.round(b / 60) * 60, start + 120) };
  load();
}

function drawBars(d) {
  const b = d.bars;
  const n = b.ts.length;
  const mid = b.ts.map((s, i) => (s + b.end[i]) / 2);
  const self = b.self_consumed_kwh;
  const imp = b.imported_kwh;
  const stackTop = self.map((v, i) => (v === null ? null : v + imp[i]));
  const exp = b.exported_kwh.map((v) => (v === null ? null : -v));
  const prev = d.previous ? d.previous.bars.consumed_kwh : [];
  const ghost = Array.from({ length: n }, (_, i) => (i < prev.length ? prev[i] : null));
  const bars = uPlot.paths.bars({ size: [0.75, 80], align: 0 });
  const ghostBars = uPlot.paths.bars({ size: [0.95, 90], align: 0 });
  const euro = (arr, di) => (b.cost && b.cost[arr][di] !== null ? ` (${eur.format(b.cost[arr][di])})` : "");
  const kwhVal = (arr, costKey) => (u, v, si, di) =>
    di === null || di === undefined || arr[di] === null ? "–" : `${num2.format(arr[di])} kWh${costKey ? euro(costKey, di) : ""}`;
  // energy from neighbours (stored sharing runs): its own segment between self-consumed and
  // what the supplier delivered, so the stack still reaches consumption
  const nb = b.from_neighbours_kwh || [];
  const hasNb = nb.some((v) => v !== null);
  const nbTop = self.map((v, i) => (v === null ? null : v + (nb[i] || 0)));
  const series = [
    { label: t(`unit.${b.unit}`), value: (u, v, si, di) => (di === null || di === undefined ? "–" : barTitle(b, di)) },
    { label: t(hasNb ? "s.supplier" : "s.import"), fill: COLORS.impBar, stroke: COLORS.impBar, paths: bars, points: { show: false }, value: kwhVal(hasNb ? b.from_supplier_kwh : imp, "import_eur") },
    ...(hasNb ? [{ label: t("s.neighbours"), fill: COLORS.nbBar, stroke: COLORS.nbBar, paths: bars, points: { show: false }, value: kwhVal(nb) }] : []),
    { label: t("s.self"), fill: COLORS.self, stroke: COLORS.self, paths: bars, points: { show: false }, value: kwhVal(self) },
    { label: t("s.export"), fill: COLORS.expBar, stroke: COLORS.expBar, paths: bars, points: { show: false }, value: kwhVal(b.exported_kwh, "export_eur") },
    { label: t("s.ghost"), stroke: COLORS.ghost, width: 1.5, dash: [4, 3], paths: ghostBars, points: { show: false }, show: state.ghost, value: kwhVal(prev) },
  ];
  const data = hasNb ? [mid, stackTop, nbTop, self, exp, ghost] : [mid, stackTop, self, exp, ghost];
  const size = chartSize();
  const opts = {
    ...size,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TZ),
    series,
    scales: { x: { time: true, range: () => [d.start, d.end] }, y: { range: (u, lo, hi) => [Math.min(0, lo), Math.max(0.1, hi)] } },
    axes: [
      { values: b.unit === "month" ? (u, s) => s.map((x) => fmtDate(x, { month: "short" })) : axisDates, space: 50 },
      { label: "kWh", size: 55, values: (u, vals) => vals.map((v) => v.toLocaleString(LOCALE)) },
    ],
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    legend: { live: true },
    hooks: { draw: [(u) => shadePartial(u, b)] },
  };
  place(new uPlot(opts, data, $("chart")));
  chart.over.addEventListener("click", () => {
    const idx = chart.cursor.idx;
    // on a touch screen the first tap on a bar shows its values, a second one opens it
    if (touched) {
      touched = false;
      if (idx !== tappedIdx) { tappedIdx = idx; return; }
    }
    drill(b, idx);
  });
}

// The tooltip's title: the bar's time, and its coverage when data is missing in it.
function barTitle(b, i) {
  const c = b.coverage[i];
  const label = barLabel(b.unit, b.ts[i]);
  const homes = b.members ? ` · ${homesText(b.homes[i], b.members)}` : "";
  return c === null || c >= 0.99 ? label + homes : `${label} (${t("s.coverage", { v: pct.format(c) })})${homes}`;
}

// Grey over bars with part of their slots missing, lighter over bars with none.
function shadePartial(u, b) {
  const ctx = u.ctx;
  ctx.save();
  for (let i = 0; i < b.ts.length; i++) {
    const c = b.coverage[i];
    if (c === null || c >= 0.99) continue;
    const x0 = u.valToPos(b.ts[i], "x", true);
    const x1 = u.valToPos(b.end[i], "x", true);
    ctx.fillStyle = c > 0 ? "rgba(108, 117, 125, 0.18)" : "rgba(108, 117, 125, 0.07)";
    ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
  }
  ctx.restore();
}

// A tap or click on a bar opens it: a month shows its days, a day its hours, an hour 15 min.
function drill(b, idx) {
  if (idx === null || idx === undefined) return;
  const ts = b.ts[idx];
  if (b.unit === "month") go({ period: "month", date: fmtDay(ts) });
  else if (b.unit === "day") go({ period: "day", date: fmtDay(ts) });
  else if (b.unit === "hour") { state.zoom = { start: ts - 3600, end: b.end[idx] + 3600 }; load(); }
}

const kw = (a) => (a ? a.map((v) => (v === null ? null : v / 1000)) : null);
const neg = (a) => a.map((v) => (v === null ? null : -v));

function drawPower(d) {
  const c = d.compare;
  const data = [d.ts, kw(d.p_import), kw(d.p_export), kw(d.p_cons), kw(neg(d.p_prod)), kw(d.p_tot)];
  const series = [
    { label: t("s.time"), value: (u, ts) => (ts === null ? "–" : fmtDate(ts, { dateStyle: "short", timeStyle: "short" })) },
    { label: t("s.import"), stroke: COLORS.impLine, fill: COLORS.imp, width: 0.5 },
    { label: t("s.export"), stroke: COLORS.expLine, fill: COLORS.exp, width: 0.5 },
    { label: t("s.cons"), stroke: COLORS.cons, width: 1.5 },
    { label: t("s.prod"), stroke: COLORS.prod, width: 1.5 },
    { label: t("s.tot"), stroke: COLORS.tot, width: 1, show: false },
  ];
  if (c) {
    data.push(kw(c.p_cons), kw(neg(c.p_prod)));
    series.push(
      { label: t("s.gcons", { n: c.homes }), stroke: COLORS.cons, width: 1.5, dash: [6, 4] },
      { label: t("s.gprod", { n: c.homes }), stroke: COLORS.prod, width: 1.5, dash: [6, 4] },
    );
  }
  for (const s of series.slice(1)) {
    s.spanGaps = false; // missing data is a gap, never a line to zero
    s.points = { show: true, size: 5, filter: isolated };
    s.value = (u, v) => (v === null ? "–" : `${num2.format(v)} kW`);
  }
  const opts = {
    ...chartSize(),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TZ),
    series,
    scales: { x: { time: true } },
    axes: [{ values: axisDates, space: 60 }, { label: "kW", size: 55, values: (u, vals) => vals.map((v) => v.toLocaleString(LOCALE)) }],
    cursor: { drag: { x: true, y: false, setScale: false } },
    legend: { live: true },
    hooks: { setSelect: [onSelect], draw: [(u) => shadeHomes(u, d)] },
  };
  place(new uPlot(opts, data, $("chart")));
}

// A group's buckets that count only some of its homes are shaded grey.
function shadeHomes(u, d) {
  if (!d.members || !d.homes) return;
  const ctx = u.ctx;
  ctx.save();
  ctx.fillStyle = "rgba(108, 117, 125, 0.18)";
  let i = 0;
  while (i < d.ts.length) {
    if (d.homes[i] > 0 && d.homes[i] < d.members) {
      let j = i;
      while (j + 1 < d.ts.length && d.homes[j + 1] > 0 && d.homes[j + 1] < d.members) j++;
      const x0 = u.valToPos(d.ts[i], "x", true);
      const x1 = u.valToPos(d.ts[j] + d.resolution_s, "x", true);
      ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
      i = j + 1;
    } else i++;
  }
  ctx.restore();
}

// Indices of values with no neighbour: a line cannot draw them, so they get a dot.
function isolated(u, sidx) {
  const v = u.data[sidx];
  const out = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== null && (i === 0 || v[i - 1] === null) && (i === v.length - 1 || v[i + 1] === null)) out.push(i);
  }
  return out;
}

function onSelect(u) {
  if (u.select.width < 4) return;
  const start = Math.floor(u.posToVal(u.select.left, "x"));
  let end = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
  if (end - start < 120) end = start + 120;
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  state.zoom = { start, end };
  load();
}

new ResizeObserver(() => {
  if (chart) {
    const s = chartSize();
    if (Math.abs(s.width - chart.width) > 2) chart.setSize(s);
  }
}).observe($("chart"));

// --- now: the age of the newest data and the latest power -----------------------------------
async function loadNow() {
  try {
    nowInfo = await getJson(`${API}/now`);
  } catch {
    nowInfo = null;
  }
  showNow();
}

function ageText(s) {
  if (s < 90) return t("age.s", { n: Math.max(0, Math.round(s)) });
  if (s < 5400) return t("age.min", { n: Math.round(s / 60) });
  if (s < 2 * 86400) return t("age.h", { n: Math.round(s / 3600) });
  return t("age.d", { n: Math.round(s / 86400) });
}

function showNow() {
  const badge = $("now-badge");
  if (!nowInfo || nowInfo.last_ts === null) { badge.classList.add("d-none"); return; }
  const age = Date.now() / 1000 - nowInfo.last_ts - 8;
  const until = fmtDate(nowInfo.last_ts + 8, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const p = nowInfo.p_tot / 1000;
  const flow = p >= 0 ? t("now.import", { kw: num2.format(p) }) : t("now.export", { kw: num2.format(-p) });
  badge.textContent = `${t("now.until", { time: until, age: ageText(age) })} · ${flow}`;
  badge.dataset.lastTs = String(nowInfo.last_ts);
  badge.classList.remove("d-none");
}
setInterval(showNow, 30000);

// --- live: reload when a sync lands -------------------------------------------------------------
function followLive(d) {
  const now = Date.now() / 1000;
  const showsNow = d.start <= now && now < d.end + 60;
  if (showsNow && !live) {
    live = new EventSource(`${API}/live`);
    // data-last-ts: the newest data the chart has been (re)loaded with, for tests and tools
    live.addEventListener("hello", (ev) => { $("chart").dataset.lastTs = String(JSON.parse(ev.data).last_ts ?? ""); });
    live.addEventListener("data", async (ev) => {
      const msg = JSON.parse(ev.data);
      // a sync writes power, then the rollups the chart reads: give them a moment
      await new Promise((resolve) => setTimeout(resolve, 800));
      await load();
      $("chart").dataset.lastTs = String(msg.last_ts);
    });
    live.addEventListener("open", () => $("live-badge").classList.remove("d-none"));
    live.addEventListener("error", () => $("live-badge").classList.add("d-none"));
  } else if (!showsNow && live) {
    live.close();
    live = null;
    $("live-badge").classList.add("d-none");
  }
}

// --- controls --------------------------------------------------------------------------------
function go(changes) {
  Object.assign(state, changes, { zoom: null });
  $("date").value = state.date;
  document.querySelector(`#period-${state.period}`).checked = true;
  document.querySelector(`#view-${state.view}`).checked = true;
  load();
}

for (const radio of document.querySelectorAll("input[name=period]")) {
  radio.addEventListener("change", () => go({ period: radio.value }));
}
for (const radio of document.querySelectorAll("input[name=view]")) {
  radio.addEventListener("change", () => { state.view = radio.value; load(); });
}
$("prev").addEventListener("click", () => go({ date: shiftDate(state.date, state.period, -1) }));
$("next").addEventListener("click", () => go({ date: shiftDate(state.date, state.period, 1) }));
$("today").addEventListener("click", () => go({ date: todayLocal() }));
$("date").addEventListener("change", () => { if ($("date").value) go({ date: $("date").value }); });
$("unzoom").addEventListener("click", () => go({}));
$("ghost").addEventListener("change", () => {
  state.ghost = $("ghost").checked;
  if (chart && state.view === "energy") chart.setSeries(chart.series.length - 1, { show: state.ghost });
});
$("csv-comma").addEventListener("change", syncUrl);
if ($("compare")) {
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; load(); });
}
if (corrected) {
  $("notice").textContent = t("baddate", { raw: params.get("date"), day: state.date });
  $("notice").classList.remove("d-none");
}

go({});
