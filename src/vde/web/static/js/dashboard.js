// The member dashboard: fetches /api/.../series, draws it with uPlot, follows live data (SSE).
// No inline script anywhere (CSP script-src 'self'): the page hands over its data in a JSON
// <script type="application/json" id="boot"> element. Text goes in with textContent only.
/* global uPlot */

const TZ = "Europe/Brussels";
const boot = JSON.parse(document.getElementById("boot").textContent);
const S = boot.strings;
const inst = boot.installation;
const LOCALE = { fr: "fr-BE", nl: "nl-BE", en: "en-GB" }[boot.lang] || "fr-BE";
const $ = (id) => document.getElementById(id);

const COLORS = {
  cons: "#1f6feb",
  prod: "#e8890c",
  tot: "#5c636a",
  imp: "rgba(220, 53, 69, 0.30)",
  impLine: "#dc3545",
  exp: "rgba(25, 135, 84, 0.30)",
  expLine: "#198754",
};

const params = new URLSearchParams(location.search);
const state = {
  period: ["day", "week", "month", "year"].includes(params.get("period")) ? params.get("period") : "day",
  date: /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "") ? params.get("date") : todayLocal(),
  zoom: null, // {start, end} in UTC epoch s while zoomed
  compare: "",
};
let chart = null;
let lastData = null;
let live = null;
let loadSeq = 0;

function t(key, vars = {}) {
  let s = S[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

function todayLocal() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(new Date());
}

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
const kwh = new Intl.NumberFormat(LOCALE, {
  maximumFractionDigits: 1,
  minimumFractionDigits: 1,
  signDisplay: "negative",
});
const pct = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 0 });

function query() {
  const q = new URLSearchParams();
  if (state.zoom) { q.set("start", state.zoom.start); q.set("end", state.zoom.end); }
  else { q.set("period", state.period); q.set("date", state.date); }
  return q;
}

// --- data ------------------------------------------------------------------------------------
async function load() {
  const seq = ++loadSeq;
  const q = query();
  if (state.compare) q.set("compare", state.compare);
  $("loading").classList.remove("d-none");
  const r = await fetch(`/api/installations/${encodeURIComponent(inst.id)}/series?${q}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (seq !== loadSeq) return; // a newer request is on its way
  $("loading").classList.add("d-none");
  if (r.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname)}`; return; }
  if (!r.ok) { showError(r.status); return; }
  const d = await r.json();
  lastData = d;
  show(d);
  syncUrl();
  followLive(d);
}

function showError(status) {
  const box = $("nodata");
  box.textContent = t("error", { status });
  box.classList.remove("d-none");
}

function syncUrl() {
  const q = new URLSearchParams({ period: state.period, date: state.date });
  history.replaceState(null, "", `${location.pathname}?${q}`);
  const id = encodeURIComponent(inst.id);
  $("csv-shown").href = `/api/installations/${id}/series.csv?${query()}`;
  const rawDay = state.zoom ? fmtDay(state.zoom.start) : state.date;
  $("csv-raw").href = `/api/installations/${id}/raw.csv?day=${rawDay}`;
  $("csv-raw").textContent = `⬇ ${t("csvraw", { day: rawDay })}`;
}

function fmtDay(ts) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TZ }).format(new Date(ts * 1000));
}

// --- rendering -------------------------------------------------------------------------------
const kw = (a) => (a ? a.map((v) => (v === null ? null : v / 1000)) : null);
const neg = (a) => a.map((v) => (v === null ? null : -v));

function show(d) {
  $("range-label").textContent = rangeLabel(d) + (state.zoom ? ` (${t("zoomed")})` : "");
  $("unzoom").classList.toggle("d-none", !state.zoom);
  const tot = d.totals;
  $("val-consumed").textContent = `${kwh.format(tot.consumed_kwh)} kWh`;
  $("val-produced").textContent = `${kwh.format(tot.produced_kwh)} kWh`;
  $("val-imported").textContent = `${kwh.format(tot.imported_kwh)} kWh`;
  $("val-exported").textContent = `${kwh.format(tot.exported_kwh)} kWh`;
  $("val-self_consumption").textContent = tot.self_consumption === null ? "–" : pct.format(tot.self_consumption);
  $("val-self_sufficiency").textContent = tot.self_sufficiency === null ? "–" : pct.format(tot.self_sufficiency);
  $("nodata").textContent = t("nodata");
  $("nodata").classList.toggle("d-none", d.has_data);
  $("chart-summary").textContent = d.has_data
    ? t("summary", {
        range: rangeLabel(d),
        cons: kwh.format(tot.consumed_kwh),
        prod: kwh.format(tot.produced_kwh),
        imp: kwh.format(tot.imported_kwh),
        exp: kwh.format(tot.exported_kwh),
        res: resLabel(d.resolution_s),
      })
    : t("nodata");
  $("chart").dataset.points = String(d.ts.length);
  $("chart").dataset.resolution = String(d.resolution_s);
  draw(d);
  performance.mark("vde-chart"); // time to first chart, read by bench/web.py
}

function resLabel(s) {
  return { 8: "8 s", 60: "1 min", 900: "15 min", 3600: "1 h", 86400: t("res.day") }[s] || `${s} s`;
}

function draw(d) {
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
    s.points = { show: true, size: 5, filter: isolated }; // only points no line can show
    s.value = (u, v) => (v === null ? "–" : `${v.toFixed(2)} kW`);
  }
  const el = $("chart");
  const width = Math.max(280, el.clientWidth);
  const opts = {
    width,
    height: width < 600 ? 260 : 380,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TZ),
    series,
    scales: { x: { time: true } },
    axes: [{ values: axisDates, space: 60 }, { label: "kW", size: 55, values: (u, vals) => vals.map((v) => v.toLocaleString(LOCALE)) }],
    cursor: { drag: { x: true, y: false, setScale: false } },
    legend: { live: true },
    hooks: { setSelect: [onSelect] },
  };
  if (chart) chart.destroy();
  chart = new uPlot(opts, data, el);
}

// Indices of values with no neighbour: a line cannot draw them, so they get a dot.
function isolated(u, sidx) {
  const v = u.data[sidx];
  const out = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== null && (i === 0 || v[i - 1] === null) && (i === v.length - 1 || v[i + 1] === null)) out.push(i);
  }
  return out; // an empty list draws no point (null would draw them all)
}

// Axis labels in Brussels time, 24 h, in the page's language; the date under midnight ticks.
function axisDates(u, splits) {
  const span = u.scales.x.max - u.scales.x.min;
  return splits.map((ts) => {
    if (span <= 120 * 86400) {
      // the date under midnight ticks, the hour under the others (a week ticks every 12 h)
      const hm = fmtDate(ts, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      return hm === "00:00" ? fmtDate(ts, { day: "numeric", month: "short" }) : hm;
    }
    return fmtDate(ts, { month: "short", year: "2-digit" });
  });
}

function onSelect(u) {
  if (u.select.width < 4) return;
  const start = Math.floor(u.posToVal(u.select.left, "x"));
  let end = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
  if (end - start < 120) end = start + 120; // at least a few 8-s points
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  state.zoom = { start, end };
  load();
}

new ResizeObserver(() => {
  if (chart) {
    const w = Math.max(280, $("chart").clientWidth);
    if (Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: w < 600 ? 260 : 380 });
  }
}).observe($("chart"));

// --- live ------------------------------------------------------------------------------------
function followLive(d) {
  const now = Date.now() / 1000;
  const showsNow = d.start <= now && now < d.end + 60;
  if (showsNow && !live) {
    live = new EventSource(`/api/installations/${encodeURIComponent(inst.id)}/live`);
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
  load();
}

for (const radio of document.querySelectorAll("input[name=period]")) {
  radio.addEventListener("change", () => go({ period: radio.value }));
}
$("prev").addEventListener("click", () => go({ date: shiftDate(state.date, state.period, -1) }));
$("next").addEventListener("click", () => go({ date: shiftDate(state.date, state.period, 1) }));
$("today").addEventListener("click", () => go({ date: todayLocal() }));
$("date").addEventListener("change", () => { if ($("date").value) go({ date: $("date").value }); });
$("unzoom").addEventListener("click", () => go({}));
if ($("compare")) {
  $("compare").addEventListener("change", () => { state.compare = $("compare").value; load(); });
}

go({});
