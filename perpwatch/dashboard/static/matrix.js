// The matrix view: each timeframe's signal per symbol, side by side, and how far they
// agree (the alignment, computed by perpwatch: GET /api/gainer-analysis/matrix).
import { byId, el, setText } from "./dom.js";
import { DASH, duration, num, pct } from "./format.js";

const REFRESH_MS = 30000;
const EVENT_DEBOUNCE_MS = 1500;

export class MatrixView {
  constructor(api) {
    this.api = api;
    this.data = null;
    this.timer = null;
    const p = new URLSearchParams(location.search);
    const min = Number.parseFloat(p.get("min") || "");
    this.min = Number.isFinite(min) && min > 0 && min <= 1 ? min : 0;
    this.sort = p.get("sort") === "symbol" ? "symbol" : p.get("sort") === "asc" ? "asc" : "desc";
    const input = byId("mx-min");
    input.value = this.min ? String(this.min) : "";
    input.addEventListener("input", () => {
      const v = Number.parseFloat(input.value);
      this.min = Number.isFinite(v) && v > 0 ? Math.min(1, v) : 0;
      this.save();
      this.load();
    });
    const sort = byId("mx-sort");
    sort.value = this.sort;
    sort.addEventListener("change", () => {
      this.sort = sort.value;
      this.save();
      this.render();
    });
    setInterval(() => this.load(), REFRESH_MS);
  }

  save() {
    const p = new URLSearchParams();
    if (this.min) p.set("min", String(this.min));
    if (this.sort !== "desc") p.set("sort", this.sort);
    const qs = p.toString();
    history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
  }

  // a new analysis came: read the matrix again soon (many come at a candle close)
  changed() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), EVENT_DEBOUNCE_MS);
  }

  async load() {
    const query = this.min ? `?min_alignment=${this.min}` : "";
    const res = await this.api.get(`/api/gainer-analysis/matrix${query}`);
    const error = byId("mx-error");
    error.hidden = res.ok;
    if (!res.ok) {
      setText(error, `matrix unavailable: ${res.msg}`);
      return;
    }
    this.data = res.data;
    this.loadedAt = Date.now();
    this.render();
  }

  render() {
    const d = this.data;
    if (!d) return;
    byId("mx-single").hidden = d.timeframes.length > 1;
    byId("mx-head").replaceChildren(
      el("th", { text: "Symbol" }),
      ...d.timeframes.map((tf, i) => el("th", { text: i === 0 ? `${tf} (primary)` : tf })),
      el("th", { class: "num", text: "Alignment", title: "Σ direction·confidence / Σ confidence (BUY +1, SELL −1, HOLD 0)" }),
    );
    const rows = [...d.rows];
    if (this.sort === "symbol") rows.sort((a, b) => a.symbol.localeCompare(b.symbol));
    else {
      const s = this.sort === "asc" ? 1 : -1;
      rows.sort((a, b) => (a.alignment === null) - (b.alignment === null) || s * ((a.alignment ?? 0) - (b.alignment ?? 0)) || a.symbol.localeCompare(b.symbol));
    }
    byId("mx-body").replaceChildren(...rows.map((r) => el("tr", { dataset: { symbol: r.symbol, alignment: r.alignment === null ? "" : String(r.alignment) } },
      el("td", {}, el("a", { href: `/symbol/${encodeURIComponent(r.symbol)}`, text: r.symbol })),
      ...d.timeframes.map((tf) => {
        const c = r.timeframes[tf];
        if (!c) return el("td", { class: "muted", text: "none", title: "no analysis of this timeframe is cached" });
        return el("td", { class: `cell rec-${c.recommendation}${c.stale ? " stale-cell" : ""}`, dataset: { tf },
          title: `${c.candle_close_time} close, computed ${duration(c.age_seconds)} ago${c.stale ? " (stale)" : ""}`,
          text: `${c.recommendation} ${pct(c.confidence * 100, 0)}${c.stale ? " stale" : ""}` });
      }),
      el("td", { class: `num ${r.alignment > 0 ? "pos" : r.alignment < 0 ? "neg" : ""}`.trim(), text: r.alignment === null ? DASH : num(r.alignment, 2) }),
    )));
    setText(byId("mx-count"), `${d.count} symbols${this.min ? ` with |alignment| ≥ ${this.min}` : ""}`);
  }
}
