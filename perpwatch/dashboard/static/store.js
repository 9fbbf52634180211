// What the page knows, as the push stream and the status endpoints told it, with the
// time each part was computed. Views read it; nothing here is ever invented.

export const key = (symbol, timeframe) => `${symbol}|${timeframe}`;

export class Store {
  constructor({ scoped = false } = {}) {
    this.scoped = scoped; // subscribed to some symbols only: funding events carry only theirs
    this.analyses = new Map(); // "SYMBOL|tf" -> the analyze-symbol document
    this.funding = new Map(); // exchange -> {exchange, fetched_at_ms, rows: {symbol: row}}
    this.arbitrage = null; // the arbitrage view, or null
    this.changes = []; // signal_change events, newest first
    this.status = null; // scheduler/status data
    this.health = null; // /health data
    this.statusError = null;
    this.statusAt = 0;
  }

  apply(msg) {
    // returns what changed: {signals: Set("SYMBOL|tf") | "all", funding: bool, arbitrage: bool, change}
    const out = { signals: null, funding: false, arbitrage: false, change: null };
    if (msg.type === "snapshot") {
      if (msg.channel === "signals") {
        this.analyses.clear();
        for (const doc of msg.data || []) if (doc && typeof doc.symbol === "string") this.analyses.set(key(doc.symbol, doc.timeframe), doc);
        out.signals = "all";
      } else if (msg.channel === "funding") {
        this.funding.clear();
        for (const table of msg.data || []) if (table && typeof table.exchange === "string") this.funding.set(table.exchange, table);
        out.funding = true;
      } else if (msg.channel === "arbitrage") {
        this.arbitrage = (msg.data || [])[0] || null;
        out.arbitrage = true;
      }
    } else if (msg.type === "analysis" && msg.data && typeof msg.data.symbol === "string") {
      this.analyses.set(key(msg.data.symbol, msg.data.timeframe), msg.data);
      out.signals = new Set([key(msg.data.symbol, msg.data.timeframe)]);
    } else if (msg.type === "signal_change" && msg.data) {
      this.changes.unshift(msg.data);
      this.changes.length = Math.min(this.changes.length, 50);
      out.change = msg.data;
    } else if (msg.type === "funding" && msg.data && typeof msg.data.exchange === "string") {
      const old = this.funding.get(msg.data.exchange);
      // a whole table replaces the last; a cut one (scoped subscription) is merged in
      const rows = this.scoped ? { ...(old ? old.rows : {}), ...(msg.data.rows || {}) } : msg.data.rows || {};
      this.funding.set(msg.data.exchange, { ...msg.data, rows });
      out.funding = true;
    } else if (msg.type === "arbitrage") {
      this.arbitrage = msg.data || null;
      out.arbitrage = true;
    }
    return out;
  }

  // The analysis of a symbol on a timeframe (default: the primary), or undefined
  analysis(symbol, timeframe) {
    return this.analyses.get(key(symbol, timeframe || this.primary()));
  }

  // Every symbol with an analysis of ``timeframe``
  symbolsOf(timeframe) {
    const tf = timeframe || this.primary();
    const out = [];
    for (const doc of this.analyses.values()) if (doc.timeframe === tf) out.push(doc.symbol);
    return out;
  }

  // The configured timeframes, the primary first, as the schedule reports them
  timeframes() {
    const s = this.status;
    if (!s || typeof s.timeframe !== "string") return [];
    return [s.timeframe, ...(Array.isArray(s.timeframes) ? s.timeframes.map((t) => t.timeframe) : [])];
  }

  primary() {
    const s = this.status;
    if (s && typeof s.timeframe === "string") return s.timeframe;
    for (const doc of this.analyses.values()) return doc.timeframe; // before the first status
    return "";
  }

  // The funding row of a symbol on the exchange its analysis came from, else the first
  // table that lists it.
  fundingOf(symbol, preferred) {
    const table = preferred ? this.funding.get(preferred) : undefined;
    if (table && table.rows[symbol]) return table.rows[symbol];
    for (const t of this.funding.values()) if (t.rows[symbol]) return t.rows[symbol];
    return null;
  }

  bestArbitrage(symbol) {
    const view = this.arbitrage;
    if (!view || !Array.isArray(view.opportunities)) return null;
    let best = null;
    for (const o of view.opportunities) if (o.symbol === symbol && (!best || o.spread_apr > best.spread_apr)) best = o;
    return best;
  }

  // How old an analysis of ``timeframe`` may be before it is stale: the cache TTL for the
  // primary; for a further timeframe, its candle length and 2 minutes (it is refreshed at
  // each of its closes only)
  staleAfterSeconds(timeframe) {
    const tf = timeframe || this.primary();
    if (!tf || tf === this.primary()) return this.ttlSeconds();
    const m = /^(\d+)([mhd])$/.exec(tf);
    if (!m) return this.ttlSeconds();
    return Number(m[1]) * { m: 60, h: 3600, d: 86400 }[m[2]] + 120;
  }

  ttlSeconds() {
    const ttl = this.status && this.status.cache_stats && this.status.cache_stats.cache_ttl_seconds;
    return typeof ttl === "number" && ttl > 0 ? ttl : 300;
  }
}
