// What the page knows, as the push stream and the status endpoints told it, with the
// time each part was computed. Views read it; nothing here is ever invented.

export class Store {
  constructor({ scoped = false } = {}) {
    this.scoped = scoped; // subscribed to some symbols only: funding events carry only theirs
    this.analyses = new Map(); // symbol -> the analyze-symbol document
    this.funding = new Map(); // exchange -> {exchange, fetched_at_ms, rows: {symbol: row}}
    this.arbitrage = null; // the arbitrage view, or null
    this.changes = []; // signal_change events, newest first
    this.status = null; // scheduler/status data
    this.health = null; // /health data
    this.statusError = null;
    this.statusAt = 0;
  }

  apply(msg) {
    // returns what changed: {signals: Set(symbols) | "all", funding: bool, arbitrage: bool, change}
    const out = { signals: null, funding: false, arbitrage: false, change: null };
    if (msg.type === "snapshot") {
      if (msg.channel === "signals") {
        this.analyses.clear();
        for (const doc of msg.data || []) if (doc && typeof doc.symbol === "string") this.analyses.set(doc.symbol, doc);
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
      this.analyses.set(msg.data.symbol, msg.data);
      out.signals = new Set([msg.data.symbol]);
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

  ttlSeconds() {
    const ttl = this.status && this.status.cache_stats && this.status.cache_stats.cache_ttl_seconds;
    return typeof ttl === "number" && ttl > 0 ? ttl : 300;
  }
}
