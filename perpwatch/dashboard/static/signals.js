// The signals table: every watched symbol, sortable by any column and filtered, with the
// sort and filter kept in the URL so a view can be bookmarked.
import { byId, el, setText } from "./dom.js";
import { DASH, countdown, duration, num, pct, price, rate } from "./format.js";

const h = (doc) => doc.hama_analysis || {};
const sig = (doc) => h(doc).signals || {};
const ind = (doc) => h(doc).technical_indicators || {};

// key, header, sort value (null sorts last), cell text, cell class
export const COLUMNS = [
  { key: "symbol", label: "Symbol", value: (r) => r.symbol, text: (r) => r.symbol },
  { key: "rec", label: "Signal", value: (r) => r.doc && h(r.doc).recommendation, text: (r) => (r.doc ? h(r.doc).recommendation : "no analysis"), cls: (r) => (r.doc ? `rec rec-${h(r.doc).recommendation}` : "muted") },
  { key: "confidence", label: "Conf.", value: (r) => r.doc && h(r.doc).confidence, text: (r) => (r.doc ? pct(h(r.doc).confidence * 100, 0) : DASH), num: true },
  { key: "trend", label: "Trend", value: (r) => r.doc && h(r.doc).trend, text: (r) => (r.doc ? h(r.doc).trend : DASH) },
  { key: "deviation", label: "HAMA vs MA", title: "HAMA close above (+) or below (−) the MA, in %", value: (r) => r.doc && deviation(r.doc), text: (r) => (r.doc ? pct(deviation(r.doc), 2) : DASH), cls: (r) => signClass(r.doc && deviation(r.doc)), num: true },
  { key: "cross", label: "Since cross", title: "bars since the HAMA close crossed the MA (↑ up, ↓ down)", value: (r) => r.doc && sig(r.doc).bars_since_cross, text: (r) => crossText(r.doc), num: true },
  { key: "rsi", label: "RSI", value: (r) => r.doc && ind(r.doc).rsi, text: (r) => (r.doc ? num(ind(r.doc).rsi, 1) : DASH), num: true },
  { key: "price", label: "Price", value: (r) => r.doc && sig(r.doc).realtime_price, text: (r) => (r.doc ? price(sig(r.doc).realtime_price) : DASH), num: true },
  { key: "funding", label: "Funding", value: (r) => r.funding && r.funding.funding_rate, text: (r) => (r.funding ? rate(r.funding.funding_rate) : DASH), cls: (r) => signClass(r.funding && r.funding.funding_rate), num: true },
  { key: "apr", label: "APR", value: (r) => r.funding && r.funding.apr, text: (r) => (r.funding ? pct(r.funding.apr, 1) : DASH), num: true },
  { key: "next", label: "Next fund.", value: (r) => r.funding && r.funding.next_funding_time_ms, text: (r, now) => (r.funding ? countdown(r.funding.next_funding_time_ms, now) : DASH), num: true },
  { key: "arb", label: "Arb APR", title: "best cross-exchange funding spread APR of the symbol", value: (r) => r.arb && r.arb.spread_apr, text: (r) => (r.arb ? pct(r.arb.spread_apr, 1) : DASH), num: true, multi: true },
  { key: "age", label: "Age", value: (r, now) => r.doc && (now - r.doc.timestamp_ms) / 1000, text: (r, now) => (r.doc ? duration((now - r.doc.timestamp_ms) / 1000) : DASH), num: true },
];

// deviation_pct is |HAMA close - MA| / MA; the sign says on which side of the MA it is
function deviation(doc) {
  const s = sig(doc);
  if (typeof s.deviation_pct !== "number") return null;
  return s.ha_close < s.hama_ma ? -s.deviation_pct : s.deviation_pct;
}

function signClass(x) {
  if (typeof x !== "number" || x === 0) return "";
  return x > 0 ? "pos" : "neg";
}

function crossText(doc) {
  if (!doc) return DASH;
  const s = sig(doc);
  if (typeof s.bars_since_cross !== "number") return DASH;
  const arrow = s.last_cross_direction === 1 ? "↑" : s.last_cross_direction === -1 ? "↓" : "";
  return `${s.bars_since_cross} ${arrow}`.trim();
}

const FILTER_KEYS = ["tf", "rec", "minconf", "q", "criteria"];

export function readQuery(search) {
  const p = new URLSearchParams(search);
  const sort = COLUMNS.some((c) => c.key === p.get("sort")) ? p.get("sort") : "confidence";
  const dir = p.get("dir") === "asc" ? "asc" : "desc";
  const rec = ["BUY", "SELL", "HOLD"].includes(p.get("rec")) ? p.get("rec") : "";
  const minconf = Math.min(100, Math.max(0, Number.parseFloat(p.get("minconf") || "0") || 0));
  const q = (p.get("q") || "").slice(0, 40);
  const criteria = ["buy", "sell"].includes(p.get("criteria")) ? p.get("criteria") : "";
  const tf = /^\d{1,2}[mhd]$/.test(p.get("tf") || "") ? p.get("tf") : ""; // "": the primary
  return { sort, dir, rec, minconf, q, criteria, tf };
}

export function writeQuery(state) {
  const p = new URLSearchParams();
  if (state.sort !== "confidence" || state.dir !== "desc") {
    p.set("sort", state.sort);
    p.set("dir", state.dir);
  }
  for (const k of FILTER_KEYS) if (state[k]) p.set(k, String(state[k]));
  const qs = p.toString();
  return qs ? `?${qs}` : location.pathname;
}

export class SignalsTable {
  constructor(store) {
    this.store = store;
    this.state = readQuery(location.search);
    this.rows = new Map(); // symbol -> {tr, cells}
    this.order = "";
    this.head = byId("signals-head");
    this.body = byId("signals-body");
    this.bindFilters();
    this.renderHead();
  }

  bindFilters() {
    const rec = byId("f-rec");
    const minconf = byId("f-minconf");
    const q = byId("f-q");
    const criteria = byId("f-criteria");
    const tf = byId("f-tf");
    tf.addEventListener("change", () => {
      this.state.tf = tf.value;
      this.saveState();
      this.render();
    });
    rec.value = this.state.rec;
    minconf.value = this.state.minconf ? String(this.state.minconf) : "";
    q.value = this.state.q;
    criteria.value = this.state.criteria;
    const update = () => {
      this.state.rec = rec.value;
      this.state.minconf = Math.min(100, Math.max(0, Number.parseFloat(minconf.value) || 0));
      this.state.q = q.value.trim().slice(0, 40);
      this.state.criteria = criteria.value;
      this.saveState();
      this.render();
    };
    for (const input of [rec, criteria]) input.addEventListener("change", update);
    for (const input of [minconf, q]) input.addEventListener("input", update);
  }

  saveState() {
    history.replaceState(null, "", writeQuery(this.state));
  }

  multiExchange() {
    const view = this.store.arbitrage;
    return Boolean(view && Array.isArray(view.exchanges) && view.exchanges.length > 1);
  }

  columns() {
    return COLUMNS.filter((c) => !c.multi || this.multiExchange());
  }

  renderHead() {
    const cols = this.columns();
    const key = cols.map((c) => c.key).join() + this.state.sort + this.state.dir;
    if (this.headKey === key) return;
    this.headKey = key;
    this.head.replaceChildren(
      ...cols.map((c) => {
        const active = c.key === this.state.sort;
        const th = el("th", { title: c.title, class: [c.num ? "num" : "", "sortable", active ? `sorted-${this.state.dir}` : ""].join(" ").trim(), dataset: { key: c.key }, "aria-sort": active ? (this.state.dir === "asc" ? "ascending" : "descending") : "none" },
          el("button", { type: "button", text: c.label, onclick: () => this.sortBy(c.key) }));
        return th;
      }),
    );
    this.rows.clear(); // cells follow the columns
    this.body.replaceChildren();
    this.order = "";
  }

  sortBy(key) {
    if (this.state.sort === key) this.state.dir = this.state.dir === "asc" ? "desc" : "asc";
    else {
      this.state.sort = key;
      this.state.dir = key === "symbol" ? "asc" : "desc";
    }
    this.saveState();
    this.render();
  }

  // The timeframe shown: the one in the URL while it is configured, else the primary
  timeframe() {
    const configured = this.store.timeframes();
    return this.state.tf && (configured.length === 0 || configured.includes(this.state.tf)) ? this.state.tf : this.store.primary();
  }

  renderTimeframes() {
    const select = byId("f-tf");
    const names = this.store.timeframes();
    const key = names.join();
    if (this.tfKey !== key) {
      this.tfKey = key;
      select.replaceChildren(...names.map((n, i) => el("option", { value: i === 0 ? "" : n, text: i === 0 ? `${n} (primary)` : n })));
    }
    select.value = this.state.tf && names.includes(this.state.tf) && this.state.tf !== names[0] ? this.state.tf : "";
    byId("f-tf-label").hidden = names.length < 2;
  }

  symbols() {
    const watched = this.store.status && Array.isArray(this.store.status.symbols) ? this.store.status.symbols : [];
    const all = new Set(watched);
    for (const s of this.store.symbolsOf(this.timeframe())) all.add(s);
    return [...all];
  }

  model(symbol) {
    const doc = this.store.analysis(symbol, this.timeframe()) || null;
    return {
      symbol,
      doc,
      funding: this.store.fundingOf(symbol, doc && doc.exchange),
      arb: this.store.bestArbitrage(symbol),
    };
  }

  passes(r) {
    const s = this.state;
    if (s.q && !r.symbol.includes(s.q.toUpperCase())) return false;
    if (!r.doc) return !s.rec && !s.minconf && !s.criteria;
    const a = h(r.doc);
    if (s.rec && a.recommendation !== s.rec) return false;
    if (s.minconf && a.confidence * 100 < s.minconf) return false;
    const cond = r.doc.conditions || {};
    if (s.criteria === "buy" && !cond.meets_buy_criteria) return false;
    if (s.criteria === "sell" && !cond.meets_sell_criteria) return false;
    return true;
  }

  flash(keys) {
    const tf = this.timeframe();
    for (const k of keys) {
      const [s, ktf] = k.split("|");
      if (ktf !== tf) continue;
      const row = this.rows.get(s);
      if (!row) continue;
      row.tr.classList.remove("flash");
      void row.tr.offsetWidth; // restart the animation
      row.tr.classList.add("flash");
    }
  }

  render() {
    this.renderHead();
    this.renderTimeframes();
    const now = Date.now();
    const ttl = this.store.staleAfterSeconds(this.timeframe());
    const cols = this.columns();
    const models = this.symbols().map((s) => this.model(s));
    for (const r of models) this.renderRow(r, cols, now, ttl);
    const col = cols.find((c) => c.key === this.state.sort) || cols[0];
    const sign = this.state.dir === "asc" ? 1 : -1;
    const visible = models.filter((r) => this.passes(r));
    visible.sort((a, b) => {
      const x = col.value(a, now);
      const y = col.value(b, now);
      const xm = x === null || x === undefined;
      const ym = y === null || y === undefined;
      if (xm || ym) return xm === ym ? a.symbol.localeCompare(b.symbol) : xm ? 1 : -1;
      if (x < y) return -sign;
      if (x > y) return sign;
      return a.symbol.localeCompare(b.symbol);
    });
    const order = visible.map((r) => r.symbol).join();
    if (order !== this.order) {
      this.order = order;
      this.body.replaceChildren(...visible.map((r) => this.rows.get(r.symbol).tr));
    }
    setText(byId("signals-count"), `${visible.length} of ${models.length} symbols`);
    byId("signals-empty").hidden = models.length > 0;
  }

  renderRow(r, cols, now, ttl) {
    let row = this.rows.get(r.symbol);
    if (!row) {
      const cells = cols.map((c) => el("td", { class: c.num ? "num" : "" }));
      const link = el("a", { href: `/symbol/${encodeURIComponent(r.symbol)}`, text: r.symbol });
      link.addEventListener("click", () => {
        const tf = this.timeframe();
        if (tf && tf !== this.store.primary()) link.href = `/symbol/${encodeURIComponent(r.symbol)}?tf=${encodeURIComponent(tf)}`;
      });
      cells[0].append(link);
      const tr = el("tr", { dataset: { symbol: r.symbol } }, ...cells);
      row = { tr, cells };
      this.rows.set(r.symbol, row);
    }
    cols.forEach((c, i) => {
      if (i === 0) return;
      const cell = row.cells[i];
      setText(cell, c.text(r, now));
      const cls = [c.num ? "num" : "", c.cls ? c.cls(r) : ""].join(" ").trim();
      if (cell.className !== cls) cell.className = cls;
    });
    const age = r.doc ? (now - r.doc.timestamp_ms) / 1000 : null;
    const stale = r.doc ? age > ttl || r.doc.stale === true : false;
    row.tr.classList.toggle("stale", stale);
    row.tr.classList.toggle("missing", !r.doc);
    const ageCell = row.cells[cols.length - 1];
    ageCell.title = stale ? `stale: older than ${ttl}s` : "";
    if (stale && !ageCell.textContent.endsWith("stale")) ageCell.textContent += " stale";
    row.tr.dataset.computed = r.doc ? String(r.doc.timestamp_ms) : "";
    row.tr.dataset.rec = r.doc ? h(r.doc).recommendation : "";
    row.tr.dataset.confidence = r.doc ? String(h(r.doc).confidence) : "";
  }
}
