// The symbol view: closed candles with the HAMA candles, MA, Bollinger bands and cross
// markers overlaid, RSI and MACD panes (TradingView lightweight-charts), and the
// analysis's confidence breakdown, conditions and funding on each exchange.
import { byId, clear, el, fillKv, setText } from "./dom.js";
import { DASH, countdown, duration, num, pct, price, rate } from "./format.js";

const UP = "#16a34a";
const DOWN = "#dc2626";

const sec = (ms) => Math.floor(ms / 1000);

function line(times, values) {
  // null (not enough bars yet) becomes a gap, never a made-up point
  return times.map((t, i) => (values[i] === null || values[i] === undefined ? { time: sec(t) } : { time: sec(t), value: values[i] }));
}

export class SymbolView {
  constructor(store, symbol, api) {
    this.store = store;
    this.symbol = symbol;
    this.api = api;
    this.chart = null;
    this.seriesKey = "";
    const tf = new URLSearchParams(location.search).get("tf") || "";
    this.tf = /^\d{1,2}[mhd]$/.test(tf) ? tf : "";
    setText(byId("sym-title"), symbol);
    document.title = `${symbol} · perpwatch`;
  }

  timeframe() {
    const configured = this.store.timeframes();
    return this.tf && (configured.length === 0 || configured.includes(this.tf)) ? this.tf : this.store.primary();
  }

  renderTimeframes() {
    const box = byId("sym-tfs");
    const names = this.store.timeframes();
    const key = names.join() + this.timeframe();
    if (this.tfKey === key) return;
    this.tfKey = key;
    box.hidden = names.length < 2;
    box.replaceChildren(...names.map((n) => el("button", {
      type: "button", text: n, class: n === this.timeframe() ? "active" : "", dataset: { tf: n },
      onclick: () => this.switchTo(n),
    })));
  }

  switchTo(tf) {
    this.tf = tf === this.store.primary() ? "" : tf;
    history.replaceState(null, "", this.tf ? `?tf=${encodeURIComponent(this.tf)}` : location.pathname);
    this.render();
    this.loadSeries();
  }

  showError(text) {
    const node = byId("sym-error");
    node.hidden = !text;
    setText(node, text || "");
  }

  async loadSeries() {
    const tf = this.timeframe();
    const doc = this.store.analysis(this.symbol, tf);
    const key = doc ? `${tf} ${doc.candle_close_time}` : "none";
    if (key === this.seriesKey) return;
    this.seriesKey = key;
    const query = tf ? `&timeframe=${encodeURIComponent(tf)}` : "";
    const res = await this.api.get(`/api/gainer-analysis/series/${encodeURIComponent(this.symbol)}?bars=300${query}`);
    if (!res.ok) {
      this.showError(`chart data unavailable: ${res.msg}`);
      this.seriesKey = "";
      return;
    }
    this.showError(null);
    this.draw(res.data);
  }

  ensureChart() {
    if (this.chart) return;
    const LW = window.LightweightCharts;
    const chart = LW.createChart(byId("chart"), {
      autoSize: true,
      // the logo injects a <style> element, which the CSP refuses: the page credits
      // TradingView in the legend under the chart instead
      layout: { background: { color: "#0b1220" }, textColor: "#cbd5e1", panes: { separatorColor: "#334155" }, attributionLogo: false },
      grid: { vertLines: { color: "#111827" }, horzLines: { color: "#111827" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderColor: "#1f2937" },
      crosshair: { mode: 0 },
    });
    const s = {};
    s.candles = chart.addSeries(LW.CandlestickSeries, { upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false, title: "close" });
    s.hama = chart.addSeries(LW.CandlestickSeries, { upColor: "rgba(34,197,94,0.25)", downColor: "rgba(239,68,68,0.25)", borderUpColor: "rgba(34,197,94,0.8)", borderDownColor: "rgba(239,68,68,0.8)", wickVisible: false, priceLineVisible: false, lastValueVisible: false, title: "HAMA" });
    s.ma = chart.addSeries(LW.LineSeries, { color: "#f59e0b", lineWidth: 2, priceLineVisible: false, title: "MA" });
    const band = { color: "rgba(96,165,250,0.7)", lineWidth: 1, priceLineVisible: false, lastValueVisible: false };
    s.bbUpper = chart.addSeries(LW.LineSeries, band);
    s.bbMiddle = chart.addSeries(LW.LineSeries, { ...band, lineStyle: 2 });
    s.bbLower = chart.addSeries(LW.LineSeries, band);
    s.rsi = chart.addSeries(LW.LineSeries, { color: "#a78bfa", lineWidth: 1, title: "RSI" }, 1);
    for (const level of [70, 30]) s.rsi.createPriceLine({ price: level, color: "#475569", lineWidth: 1, lineStyle: 2, axisLabelVisible: false });
    s.hist = chart.addSeries(LW.HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, 2);
    s.macd = chart.addSeries(LW.LineSeries, { color: "#38bdf8", lineWidth: 1, title: "MACD" }, 2);
    s.signal = chart.addSeries(LW.LineSeries, { color: "#fb923c", lineWidth: 1, title: "signal" }, 2);
    s.markers = LW.createSeriesMarkers(s.candles, []);
    const panes = chart.panes();
    panes.forEach((p, i) => p.setStretchFactor(i === 0 ? 4 : 1.3));
    this.chart = chart;
    this.s = s;
  }

  draw(d) {
    this.ensureChart();
    const s = this.s;
    const t = d.time;
    s.candles.setData(t.map((x, i) => ({ time: sec(x), open: d.open[i], high: d.high[i], low: d.low[i], close: d.close[i] })));
    s.hama.setData(t.map((x, i) => {
      const v = [d.hama.open[i], d.hama.high[i], d.hama.low[i], d.hama.close[i]];
      return v.some((y) => y === null) ? { time: sec(x) } : { time: sec(x), open: v[0], high: v[1], low: v[2], close: v[3] };
    }));
    s.ma.setData(line(t, d.hama.ma));
    s.bbUpper.setData(line(t, d.bollinger.upper));
    s.bbMiddle.setData(line(t, d.bollinger.middle));
    s.bbLower.setData(line(t, d.bollinger.lower));
    s.rsi.setData(line(t, d.rsi));
    s.hist.setData(t.map((x, i) => {
      const v = d.macd.histogram[i];
      return v === null ? { time: sec(x) } : { time: sec(x), value: v, color: v >= 0 ? "rgba(34,197,94,0.6)" : "rgba(239,68,68,0.6)" };
    }));
    s.macd.setData(line(t, d.macd.macd));
    s.signal.setData(line(t, d.macd.signal));
    s.markers.setMarkers(d.crosses.map((c) => ({
      time: sec(c.time),
      position: c.direction > 0 ? "belowBar" : "aboveBar",
      color: c.direction > 0 ? UP : DOWN,
      shape: c.direction > 0 ? "arrowUp" : "arrowDown",
    })));
    this.chart.timeScale().fitContent();
    byId("chart").dataset.bars = String(t.length);
  }

  render() {
    this.renderTimeframes();
    const doc = this.store.analysis(this.symbol, this.timeframe());
    const rec = byId("sym-rec");
    if (!doc) {
      setText(rec, "no analysis");
      rec.className = "rec muted";
      setText(byId("sym-summary"), "No analysis of this symbol is in the cache.");
    } else {
      const h = doc.hama_analysis;
      setText(rec, h.recommendation);
      rec.className = `rec rec-${h.recommendation}`;
      setText(byId("sym-conf"), `confidence ${pct(h.confidence * 100, 0)} · ${h.trend} · ${doc.timeframe} · ${doc.exchange}`);
      setText(byId("sym-summary"), doc.conditions ? doc.conditions.summary : "");
      const bd = h.confidence_breakdown || {};
      fillKv(byId("sym-breakdown"), Object.entries(bd).map(([k, v]) => [k.replace(/_/g, " "), num(v, 3)]));
      const cond = doc.conditions || {};
      fillKv(byId("sym-conditions"), Object.entries(cond).filter(([k]) => k !== "summary").map(([k, v]) => [k.replace(/_/g, " "), v ? "yes" : "no", v ? "good" : "muted"]));
      const ti = h.technical_indicators || {};
      const sg = h.signals || {};
      fillKv(byId("sym-indicators"), [
        ["price", price(sg.realtime_price)],
        ["HAMA close", price(sg.ha_close)],
        ["MA", price(sg.hama_ma)],
        ["deviation", pct(sg.deviation_pct, 3)],
        ["bars since cross", sg.bars_since_cross ?? DASH],
        ["RSI 14", num(ti.rsi, 1)],
        ["MACD", ti.macd ? `${num(ti.macd.macd, 4)} / ${num(ti.macd.signal, 4)}` : DASH],
        ["Bollinger", ti.bollinger ? `${price(ti.bollinger.lower)} – ${price(ti.bollinger.upper)}` : DASH],
        ["ATR %", pct(ti.atr_pct, 3)],
        ["volume ratio", ti.volume ? `${num(ti.volume.ratio, 2)}x` : DASH],
        ["candle close", doc.candle_close_time],
      ]);
    }
    this.renderFunding();
    this.tick();
  }

  renderFunding() {
    const body = clear(byId("sym-funding").tBodies[0]);
    const now = Date.now();
    let n = 0;
    for (const table of this.store.funding.values()) {
      const r = table.rows[this.symbol];
      if (!r) continue;
      n += 1;
      body.append(el("tr", {},
        el("td", { text: r.exchange }),
        el("td", { class: "num", text: rate(r.funding_rate) }),
        el("td", { text: r.funding_interval }),
        el("td", { class: "num", text: pct(r.apr, 1) }),
        el("td", { class: "num", text: countdown(r.next_funding_time_ms, now) }),
        el("td", { class: "num", text: price(r.mark_price) })));
    }
    byId("sym-funding-empty").hidden = n > 0;
  }

  tick() {
    const tf = this.timeframe();
    const doc = this.store.analysis(this.symbol, tf);
    const node = byId("sym-age");
    if (!doc) return setText(node, "");
    const age = (Date.now() - doc.timestamp_ms) / 1000;
    const stale = age > this.store.staleAfterSeconds(tf);
    setText(node, `computed ${duration(age)} ago${stale ? " · stale" : ""}`);
    node.classList.toggle("bad", stale);
  }
}
