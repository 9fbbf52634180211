// The alerts view: the recent alerts with their delivery state (GET /api/alerts/history)
// and the rules (GET /api/alerts/rules, secrets redacted by the server). Polled, and read
// again shortly after a signal change, since alerts follow events. With the API key:
// send a rule's test message, or delete the rule.
import { byId, el, setText } from "./dom.js";
import { DASH, clock, duration } from "./format.js";

const REFRESH_MS = 5000;
const EVENT_DEBOUNCE_MS = 1500;
const HISTORY_LIMIT = 200;
export const STATES = ["pending", "delivered", "failed", "dropped"];

function when(ms) {
  if (typeof ms !== "number") return DASH;
  return `${new Date(ms).toISOString().slice(0, 10)} ${clock(ms)}`;
}

function list(values) {
  return Array.isArray(values) && values.length ? values.join(", ") : "all";
}

// What a rule watches and when it fires, in words (the rule's own fields, nothing added)
export function condition(rule) {
  const parts = [];
  if (rule.kind === "signal_change") {
    parts.push(`to ${list(rule.to)}`);
    if (rule.min_confidence) parts.push(`confidence ≥ ${rule.min_confidence}`);
    if (rule.min_alignment !== null && rule.min_alignment !== undefined) parts.push(`alignment ≥ ${rule.min_alignment}`);
  } else if (rule.kind === "funding") {
    if (rule.abs_rate_above !== null && rule.abs_rate_above !== undefined) parts.push(`|rate| > ${rule.abs_rate_above}`);
    if (rule.apr_above !== null && rule.apr_above !== undefined) parts.push(`APR > ${rule.apr_above}%`);
    if (rule.sign_flip) parts.push("sign flip");
  } else if (rule.kind === "arbitrage") {
    parts.push(`spread APR > ${rule.spread_apr_above}%`);
    if (rule.max_price_gap_pct !== null && rule.max_price_gap_pct !== undefined) parts.push(`price gap ≤ ${rule.max_price_gap_pct}%`);
  } else if (rule.kind === "stale") {
    if (rule.older_than_s) parts.push(`older than ${duration(rule.older_than_s)}`);
    if (rule.breaker_open) parts.push("breaker open");
  }
  return parts.join(", ") || DASH;
}

function scope(rule) {
  const parts = [`symbols: ${list(rule.symbols)}`];
  if ("timeframes" in rule) parts.push(`timeframes: ${list(rule.timeframes)}`);
  if ("exchanges" in rule) parts.push(`exchanges: ${list(rule.exchanges)}`);
  return parts.join("; ");
}

function channel(ch) {
  if (!ch) return DASH;
  if (ch.type === "webhook") return `webhook ${ch.url}`;
  if (ch.type === "telegram") return `telegram chat ${ch.chat_id}`;
  return ch.type;
}

export class AlertsView {
  constructor(api, unlocked) {
    this.api = api;
    this.unlocked = unlocked;
    this.history = null;
    this.rules = null;
    this.timer = null;
    const p = new URLSearchParams(location.search);
    this.state = STATES.includes(p.get("state")) ? p.get("state") : "";
    const select = byId("al-state");
    select.value = this.state;
    select.addEventListener("change", () => {
      this.state = STATES.includes(select.value) ? select.value : "";
      history.replaceState(null, "", this.state ? `?state=${this.state}` : location.pathname);
      this.renderHistory();
    });
    setInterval(() => this.load(), REFRESH_MS);
  }

  // an event came that may raise alerts: read the history again soon
  changed() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), EVENT_DEBOUNCE_MS);
  }

  async load() {
    const [history, rules] = await Promise.all([
      this.api.get(`/api/alerts/history?limit=${HISTORY_LIMIT}`),
      this.api.get("/api/alerts/rules"),
    ]);
    const error = byId("al-error");
    const problems = [history, rules].filter((r) => !r.ok).map((r) => r.msg);
    error.hidden = problems.length === 0;
    setText(error, problems.length ? `alerts unavailable: ${[...new Set(problems)].join("; ")}` : "");
    if (history.ok) {
      this.history = history.data;
      this.historyAt = Date.now();
    }
    if (rules.ok) this.rules = rules.data;
    this.renderHistory();
    this.renderRules();
  }

  ruleName(id) {
    const rule = this.rules && this.rules.rules.find((r) => r.id === id);
    return rule && rule.rule.name ? rule.rule.name : id;
  }

  renderHistory() {
    const h = this.history;
    if (!h) return;
    const rows = this.state ? h.alerts.filter((a) => a.state === this.state) : h.alerts;
    const counts = STATES.map((s) => `${h.alerts.filter((a) => a.state === s).length} ${s}`).join(", ");
    setText(byId("al-count"), `${h.count} recent alerts (${counts})${this.historyAt ? `, read ${clock(this.historyAt)}` : ""}`);
    byId("al-empty").hidden = rows.length > 0;
    byId("al-body").replaceChildren(...rows.map((a) => {
      const p = a.payload || {};
      const subject = [p.timeframe, p.exchange].filter(Boolean).join(" ");
      const last = a.last_error || (a.last_status ? `HTTP ${a.last_status}` : DASH);
      return el("tr", { class: `alert-${a.state}`, dataset: { id: a.id, state: a.state } },
        el("td", { text: when(a.created_at_ms) }),
        el("td", { text: this.ruleName(a.rule_id), title: a.rule_id }),
        el("td", { text: p.kind || DASH }),
        el("td", {}, p.symbol ? el("a", { href: `/symbol/${encodeURIComponent(p.symbol)}`, text: p.symbol }) : DASH),
        el("td", { text: subject || DASH }),
        el("td", { class: "wrap", text: p.test ? `[test] ${p.title}` : p.title, title: p.text }),
        el("td", { class: `state state-${a.state}`, text: a.state }),
        el("td", { class: "num", text: String(a.attempts) }),
        el("td", { class: "wrap", text: last }),
        el("td", { text: a.state === "delivered" ? when(a.delivered_at_ms) : a.state === "pending" && a.next_attempt_ms ? `retry ${clock(a.next_attempt_ms)}` : DASH }),
      );
    }));
  }

  renderRules() {
    const r = this.rules;
    if (!r) return;
    byId("al-rules-empty").hidden = r.rules.length > 0;
    setText(byId("al-rules-count"), `${r.count} rules`);
    byId("al-rules-body").replaceChildren(...r.rules.map((s) => {
      const actions = el("td");
      if (this.unlocked) {
        actions.append(
          el("button", { type: "button", text: "Send test", onclick: () => this.act("POST", `/api/alerts/rules/${s.id}/test`) }),
          " ",
          el("button", { type: "button", text: "Delete", onclick: () => {
            if (confirm(`Delete the rule ${s.rule.name || s.id}? Its queued alerts are dropped.`)) this.act("DELETE", `/api/alerts/rules/${s.id}`);
          } }),
        );
      }
      return el("tr", { dataset: { id: s.id } },
        el("td", { text: s.rule.name || DASH }),
        el("td", { class: "muted", text: s.id }),
        el("td", { text: s.rule.kind }),
        el("td", { class: "wrap", text: scope(s.rule) }),
        el("td", { class: "wrap", text: condition(s.rule) }),
        el("td", { class: "wrap", text: channel(s.rule.channel) }),
        el("td", { text: when(s.created_at_ms) }),
        actions,
      );
    }));
  }

  async act(method, path) {
    const res = await this.api.call(method, path, method === "POST" ? {} : undefined);
    const note = byId("al-note");
    const detail = res.ok && res.data && res.data.error ? `: ${res.data.error}` : "";
    setText(note, res.ok ? `${res.msg}${detail}` : `refused (${res.status}): ${res.msg}`);
    this.load();
  }
}
