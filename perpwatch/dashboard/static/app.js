// perpwatch dashboard: one page, five views (signals at /, /symbol/SYMBOL, /matrix,
// /funding, /alerts), live from the push stream, with the system panel polled every few
// seconds.
import { AlertsView } from "./alerts.js";
import { Api } from "./api.js";
import { byId, el, setText } from "./dom.js";
import { clock, duration, pct } from "./format.js";
import { FundingView } from "./funding.js";
import { MatrixView } from "./matrix.js";
import { SignalsTable } from "./signals.js";
import { Store, key } from "./store.js";
import { Stream } from "./stream.js";
import { SymbolView } from "./symbol.js";
import { renderSystem } from "./system.js";

const KEY = "perpwatch.apiKey";
const STATUS_EVERY_MS = 5000;

function route(pathname) {
  const m = /^\/symbol\/([A-Za-z0-9._-]{1,40})\/?$/.exec(pathname);
  if (m) return { view: "symbol", symbol: m[1].toUpperCase() };
  if (pathname === "/funding" || pathname === "/funding/") return { view: "funding" };
  if (pathname === "/matrix" || pathname === "/matrix/") return { view: "matrix" };
  if (pathname === "/alerts" || pathname === "/alerts/") return { view: "alerts" };
  return { view: "signals" };
}

class Dashboard {
  constructor() {
    this.key = sessionStorage.getItem(KEY) || "";
    this.api = new Api(this.key);
    this.route = route(location.pathname);
    this.store = new Store({ scoped: this.route.view === "symbol" });
    this.lastEventAt = null;
    this.pending = { signals: new Set(), all: false, funding: false };
    this.frame = 0;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === this.route.view);
    byId(`view-${this.route.view}`).hidden = false;
    if (this.route.view === "signals") this.signals = new SignalsTable(this.store);
    if (this.route.view === "funding") this.funding = new FundingView(this.store);
    if (this.route.view === "symbol") this.symbol = new SymbolView(this.store, this.route.symbol, this.api);
    if (this.route.view === "matrix") this.matrix = new MatrixView(this.api);
    if (this.route.view === "alerts") this.alerts = new AlertsView(this.api, Boolean(this.key));
    this.bindKey();
  }

  start() {
    this.stream = new Stream({
      symbols: this.route.view === "symbol" ? [this.route.symbol] : null,
      token: this.key || null,
      onMessage: (msg) => this.onMessage(msg),
      onState: (state, since) => this.onState(state, since),
    });
    this.stream.start();
    this.pollStatus();
    if (this.matrix) this.matrix.load();
    if (this.alerts) this.alerts.load();
    setInterval(() => this.pollStatus(), STATUS_EVERY_MS);
    setInterval(() => this.tick(), 1000);
  }

  bindKey() {
    const form = byId("key-form");
    const input = byId("key-input");
    const button = byId("key-button");
    const unlocked = Boolean(this.key);
    input.hidden = unlocked;
    button.textContent = unlocked ? "Lock" : "Unlock";
    byId("controls").hidden = !unlocked;
    byId("sym-refresh").hidden = !unlocked;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (this.key) sessionStorage.removeItem(KEY);
      else if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
      else return;
      location.reload(); // the stream reconnects with (or without) the key
    });
    byId("btn-start").addEventListener("click", () => this.control("/api/gainer-analysis/scheduler/start"));
    byId("btn-stop").addEventListener("click", () => this.control("/api/gainer-analysis/scheduler/stop"));
    byId("btn-refresh").addEventListener("click", () => this.control("/api/gainer-analysis/refresh"));
    byId("sym-refresh").addEventListener("click", () =>
      this.control("/api/gainer-analysis/analyze-symbol", { symbol: this.route.symbol, force_refresh: true }));
  }

  async control(path, body = {}) {
    const note = byId(this.route.view === "symbol" ? "sym-summary" : "control-note");
    const res = await this.api.post(path, body);
    setText(note, res.ok ? res.msg : `refused (${res.status}): ${res.msg}`);
    this.pollStatus();
  }

  onMessage(msg) {
    if (msg.type === "heartbeat" || msg.type === "pong") return;
    if (msg.type === "error") {
      setText(byId("foot-text"), `stream: ${msg.msg}`);
      if (this.symbol) this.symbol.showError(msg.msg);
      return;
    }
    const changed = this.store.apply(msg);
    if (msg.type !== "snapshot") this.lastEventAt = Date.now();
    if (changed.signals === "all") this.pending.all = true;
    else if (changed.signals) for (const s of changed.signals) this.pending.signals.add(s);
    if (changed.funding || changed.arbitrage) this.pending.funding = true;
    if (changed.change) this.addChange(changed.change);
    if (this.alerts && (changed.change || changed.funding || changed.arbitrage)) this.alerts.changed();
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const { signals, all, funding } = this.pending;
    this.pending = { signals: new Set(), all: false, funding: false };
    if (this.signals) {
      this.signals.render();
      if (!all) this.signals.flash(signals);
    }
    if (this.funding && funding) this.funding.render();
    if (this.matrix && (all || signals.size)) this.matrix.changed();
    if (this.symbol) {
      this.symbol.render();
      if (all || signals.has(key(this.route.symbol, this.symbol.timeframe()))) this.symbol.loadSeries();
    }
  }

  addChange(c) {
    if (this.route.view !== "signals") return;
    const feed = byId("feed");
    byId("feed-empty").hidden = true;
    const link = el("a", { href: `/symbol/${encodeURIComponent(String(c.symbol))}`, text: c.symbol });
    feed.prepend(el("li", { class: `rec-${c.to}` },
      el("span", { class: "muted", text: clock(Date.parse(c.computed_at)) }), " ", link, ` ${c.timeframe}: ${c.from} → ${c.to} (${pct(c.confidence * 100, 0)})`));
    while (feed.children.length > 30) feed.lastChild.remove();
  }

  onState(state, since) {
    const node = byId("conn");
    node.className = `conn conn-${state}`;
    node.dataset.state = state;
    let text = state === "live" ? "live" : state === "connecting" ? "connecting" : `disconnected${since ? ` ${duration((Date.now() - since) / 1000)}` : ""}, retrying`;
    // a wrong key is refused at the handshake, which a browser cannot tell from a drop
    if (state === "down" && this.key && this.stream && !this.stream.opened) text += " (is the API key right?)";
    setText(byId("conn-text"), text);
    node.title = state === "down" ? "The push stream dropped: figures may be behind. Reconnecting by itself." : "";
    document.body.classList.toggle("offline", state === "down");
  }

  async pollStatus() {
    const [status, health] = await Promise.all([this.api.get("/api/gainer-analysis/scheduler/status"), this.api.get("/health")]);
    if (status.ok) this.store.status = status.data;
    if (health.status === 200 || health.status === 503) this.store.health = health.data;
    this.store.statusError = status.ok ? null : status.msg;
    if (status.ok) this.store.statusAt = Date.now();
    if (this.route.view === "signals") renderSystem(this.store);
    if (this.symbol && status.ok) {
      this.symbol.render(); // the configured timeframes are known now
      this.symbol.loadSeries();
    }
  }

  tick() {
    if (this.signals) this.signals.render();
    if (this.funding) this.funding.tick();
    if (this.symbol) this.symbol.tick();
    if (this.route.view === "signals") renderSystem(this.store);
    if (this.stream && this.stream.downSince !== null) this.onState("down", this.stream.downSince);
    const last = this.lastEventAt ? `last event ${duration((Date.now() - this.lastEventAt) / 1000)} ago` : "no live event yet";
    setText(byId("foot-text"), `perpwatch · ${last}`);
  }
}

const dashboard = new Dashboard();
if (window.LightweightCharts || dashboard.route.view !== "symbol") dashboard.start();
else window.addEventListener("load", () => dashboard.start());
