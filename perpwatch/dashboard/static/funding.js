// The funding view: every contract's rate per exchange, and the arbitrage table.
import { byId, clear, el, setText } from "./dom.js";
import { DASH, countdown, isoMs, pct, price, rate } from "./format.js";

const FUNDING_COLUMNS = [
  { key: "symbol", label: "Symbol", value: (r) => r.symbol, text: (r) => r.symbol },
  { key: "exchange", label: "Exchange", value: (r) => r.exchange, text: (r) => r.exchange },
  { key: "rate", label: "Rate", value: (r) => r.funding_rate, text: (r) => rate(r.funding_rate), num: true, sign: (r) => r.funding_rate },
  { key: "interval", label: "Interval", value: (r) => r.funding_interval_hours, text: (r) => r.funding_interval || DASH, num: true },
  { key: "apr", label: "APR", value: (r) => r.apr, text: (r) => pct(r.apr, 1), num: true, sign: (r) => r.apr },
  { key: "next", label: "Next funding", value: (r) => r.next_funding_time_ms, text: (r, now) => countdown(r.next_funding_time_ms, now), num: true },
  { key: "mark", label: "Mark", value: (r) => r.mark_price, text: (r) => price(r.mark_price), num: true },
  { key: "index", label: "Index", value: (r) => r.index_price, text: (r) => price(r.index_price), num: true },
];

const ARB_COLUMNS = [
  { label: "Symbol", text: (o) => o.symbol },
  { label: "Long", text: (o) => `${o.long.exchange} ${rate(o.long.funding_rate)} / ${o.long.funding_interval}` },
  { label: "Short", text: (o) => `${o.short.exchange} ${rate(o.short.funding_rate)} / ${o.short.funding_interval}` },
  { label: "Spread", text: (o) => rate(o.funding_spread), num: true },
  { label: "Spread APR", text: (o) => pct(o.spread_apr, 1), num: true },
  { label: "Price gap", text: (o) => pct(o.price_gap_pct, 3), num: true },
  { label: "Long next", text: (o, now) => countdown(isoMs(o.long.next_funding_time), now), num: true },
  { label: "Short next", text: (o, now) => countdown(isoMs(o.short.next_funding_time), now), num: true },
];

export class FundingView {
  constructor(store) {
    this.store = store;
    this.sort = "apr";
    this.dir = "desc";
    this.q = "";
    this.exchange = "";
    const p = new URLSearchParams(location.search);
    if (FUNDING_COLUMNS.some((c) => c.key === p.get("sort"))) this.sort = p.get("sort");
    if (p.get("dir") === "asc") this.dir = "asc";
    this.q = (p.get("q") || "").slice(0, 40);
    this.exchange = (p.get("exchange") || "").slice(0, 40);
    const q = byId("fund-q");
    q.value = this.q;
    q.addEventListener("input", () => {
      this.q = q.value.trim().slice(0, 40);
      this.save();
      this.render();
    });
    byId("fund-ex").addEventListener("change", (ev) => {
      this.exchange = ev.target.value;
      this.save();
      this.render();
    });
    byId("funding-head").replaceChildren(
      ...FUNDING_COLUMNS.map((c) => el("th", { class: `sortable ${c.num ? "num" : ""}`.trim(), dataset: { key: c.key } },
        el("button", { type: "button", text: c.label, onclick: () => this.sortBy(c.key) }))),
    );
    byId("arb-head").replaceChildren(...ARB_COLUMNS.map((c) => el("th", { class: c.num ? "num" : "", text: c.label })));
  }

  save() {
    const p = new URLSearchParams();
    if (this.sort !== "apr" || this.dir !== "desc") {
      p.set("sort", this.sort);
      p.set("dir", this.dir);
    }
    if (this.q) p.set("q", this.q);
    if (this.exchange) p.set("exchange", this.exchange);
    const qs = p.toString();
    history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
  }

  sortBy(key) {
    if (this.sort === key) this.dir = this.dir === "asc" ? "desc" : "asc";
    else {
      this.sort = key;
      this.dir = key === "symbol" || key === "exchange" ? "asc" : "desc";
    }
    this.save();
    this.render();
  }

  renderExchanges() {
    const select = byId("fund-ex");
    const names = [...this.store.funding.keys()].sort();
    const key = names.join();
    if (this.exchangesKey === key) return;
    this.exchangesKey = key;
    select.replaceChildren(el("option", { value: "", text: "all" }), ...names.map((n) => el("option", { value: n, text: n })));
    select.value = names.includes(this.exchange) ? this.exchange : "";
  }

  render() {
    this.renderExchanges();
    const now = Date.now();
    const rows = [];
    for (const [name, table] of this.store.funding) {
      if (this.exchange && name !== this.exchange) continue;
      for (const row of Object.values(table.rows || {})) {
        if (this.q && !String(row.symbol).includes(this.q.toUpperCase())) continue;
        rows.push(row);
      }
    }
    const col = FUNDING_COLUMNS.find((c) => c.key === this.sort);
    const sign = this.dir === "asc" ? 1 : -1;
    rows.sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      if (x === y || x === undefined || y === undefined) return String(a.symbol).localeCompare(String(b.symbol));
      return x < y ? -sign : sign;
    });
    for (const th of byId("funding-head").children) {
      th.classList.toggle("sorted-asc", th.dataset.key === this.sort && this.dir === "asc");
      th.classList.toggle("sorted-desc", th.dataset.key === this.sort && this.dir === "desc");
    }
    const body = byId("funding-body");
    this.rendered = rows.map((r) => ({
      row: r,
      tr: el("tr", { dataset: { symbol: r.symbol, exchange: r.exchange } },
        ...FUNDING_COLUMNS.map((c) => {
          const v = c.sign ? c.sign(r) : 0;
          const cls = [c.num ? "num" : "", v > 0 ? "pos" : v < 0 ? "neg" : ""].join(" ").trim();
          return el("td", { class: cls, text: c.text(r, now) });
        })),
    }));
    body.replaceChildren(...this.rendered.map((x) => x.tr));
    const tables = [...this.store.funding.values()];
    const ages = tables.map((t) => `${t.exchange} fetched ${Math.round((now - t.fetched_at_ms) / 1000)}s ago`);
    setText(byId("funding-count"), `${rows.length} contracts · ${ages.join(" · ")}`);
    byId("funding-empty").hidden = tables.length > 0;
    this.renderArbitrage(now);
  }

  // Once a second: only the countdowns move
  tick() {
    const now = Date.now();
    const i = FUNDING_COLUMNS.findIndex((c) => c.key === "next");
    for (const { row, tr } of this.rendered || []) setText(tr.children[i], FUNDING_COLUMNS[i].text(row, now));
    for (const tr of byId("arb-body").children) {
      const o = this.arbRows.get(tr);
      if (o) {
        setText(tr.children[6], ARB_COLUMNS[6].text(o, now));
        setText(tr.children[7], ARB_COLUMNS[7].text(o, now));
      }
    }
  }

  renderArbitrage(now) {
    const view = this.store.arbitrage;
    const body = clear(byId("arb-body"));
    const list = view && Array.isArray(view.opportunities) ? view.opportunities : [];
    const shown = list.filter((o) => !this.q || String(o.symbol).includes(this.q.toUpperCase())).slice(0, 200);
    this.arbRows = new WeakMap();
    for (const o of shown) {
      const tr = el("tr", { dataset: { symbol: o.symbol } }, ...ARB_COLUMNS.map((c) => el("td", { class: c.num ? "num" : "", text: c.text(o, now) })));
      this.arbRows.set(tr, o);
      body.append(tr);
    }
    byId("arb-empty").hidden = list.length > 0;
  }
}
