// The system panel: roles and leader, workers, the last cycle, the exchange, the cache
// and the signal lag, from /health and scheduler/status (polled: they are small).
import { byId, clear, el } from "./dom.js";
import { DASH, clock, duration, isoMs, num } from "./format.js";

function row(list, label, value, cls) {
  list.append(el("dt", { text: label }), el("dd", { text: value === null || value === undefined || value === "" ? DASH : value, class: cls }));
}

export function renderSystem(store) {
  const list = clear(byId("system-list"));
  const now = Date.now();
  if (store.statusError) row(list, "Status", `unreachable: ${store.statusError}`, "bad");
  const health = store.health;
  const status = store.status;
  if (!health && !status) {
    row(list, "Status", "waiting for the first answer");
    return;
  }
  if (store.statusAt) row(list, "Read", `${duration((now - store.statusAt) / 1000)} ago`);
  if (health) {
    row(list, "Health", health.status, health.status === "ok" ? "good" : "bad");
    row(list, "Version", health.version);
    const redis = health.redis || {};
    row(list, "Cache", redis.cache_source === "redis" ? `Redis (${redis.state})` : `memory (Redis ${redis.state})`, redis.state === "down" ? "bad" : "");
  }
  const coord = (status && status.coordination) || (health && health.coordination) || {};
  row(list, "This process", `${coord.role || DASH}${coord.is_leader ? ", leader" : ""}`);
  if (coord.mode) row(list, "Mode", coord.mode);
  if ("leader" in coord) row(list, "Leader", coord.leader || "none", coord.leader ? "" : "bad");
  if (typeof coord.lease_expires_in_s === "number") row(list, "Lease", `expires in ${num(coord.lease_expires_in_s, 1)}s`);
  if (Array.isArray(coord.workers)) row(list, "Workers", coord.workers.length ? `${coord.workers.length}: ${coord.workers.join(", ")}` : "none");
  if (status) {
    row(list, "Scheduler", status.running ? `running, ${status.symbols_count} symbols, ${status.timeframe || ""}` : "stopped", status.running ? "good" : "bad");
    const last = status.last_run;
    if (last) {
      const ago = duration((now - isoMs(last.finished || last.started)) / 1000);
      row(list, "Last cycle", `${last.ok} ok, ${last.failed} failed, ${num(last.duration_s, 1)}s, ${ago} ago`, last.failed ? "bad" : "good");
    } else row(list, "Last cycle", "none yet");
    if (status.current_run) row(list, "Running", `${status.current_run.done ?? DASH} of ${status.current_run.total ?? DASH}`);
    row(list, "Next run", status.next_run ? clock(isoMs(status.next_run)) : DASH);
    if (status.next_candle_close) row(list, "Next close", clock(isoMs(status.next_candle_close)));
    const lag = status.signal_lag;
    row(list, "Signal lag", lag ? `p50 ${num(lag.p50_s, 2)}s, max ${num(lag.max_s, 2)}s` : "not measured yet");
    const ex = status.exchange_state;
    if (ex) {
      row(list, "Exchange", ex.name);
      row(list, "Breaker", ex.breaker_open ? "open" : "closed", ex.breaker_open ? "bad" : "good");
      row(list, "Weight used", ex.weight_used === null ? "not reported" : `${num(ex.weight_used, 0)}${ex.weight_limit ? ` of ${ex.weight_limit}` : ""}`);
      if (ex.rate_limited) row(list, "Rate limited", String(ex.rate_limited), "bad");
    }
    if (status.exchange_error) row(list, "Exchange error", status.exchange_error, "bad");
    const fc = status.funding_check;
    if (fc && "running" in fc) row(list, "Funding check", `${fc.successes} ok, ${fc.failures} failed${fc.last_error ? `: ${fc.last_error}` : ""}`, fc.consecutive_failures ? "bad" : "");
  }
  if (health && health.push) row(list, "Push clients", String(health.push.connections));
}
