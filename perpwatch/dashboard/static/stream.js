// The push stream (/ws): subscribe, keep each channel's sequence number, and after a
// drop reconnect by itself and resume from it (the server replays what was missed, or
// sends a fresh snapshot when that is no longer retained).

const CHANNELS = ["signals", "funding", "arbitrage"];
const BACKOFF_MS = [500, 1000, 2000, 3000, 5000];
// The server sends a heartbeat every PUSH_HEARTBEAT_SECONDS (15 s by default): a socket
// silent for longer than this is treated as dead even if the browser has not noticed.
const SILENCE_MS = 40000;

export class Stream {
  constructor({ symbols = null, token = null, onMessage, onState }) {
    this.symbols = symbols;
    this.token = token;
    this.onMessage = onMessage;
    this.onState = onState;
    this.seq = {};
    this.ws = null;
    this.attempt = 0;
    this.lastMessageAt = 0;
    this.downSince = null;
    this.opened = false; // has any connection opened? (a refused key never does)
    this.timer = null;
    this.watchdog = setInterval(() => this.checkSilence(), 5000);
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.token ? `?token=${encodeURIComponent(this.token)}` : "";
    return `${scheme}//${location.host}/ws${query}`;
  }

  start() {
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.opened = true;
      this.attempt = 0;
      this.lastMessageAt = Date.now();
      const msg = { type: "subscribe", channels: CHANNELS };
      if (this.symbols) msg.symbols = this.symbols;
      const since = {};
      for (const c of CHANNELS) if (Number.isInteger(this.seq[c])) since[c] = this.seq[c];
      if (Object.keys(since).length === CHANNELS.length) msg.since = since;
      ws.send(JSON.stringify(msg));
    });
    ws.addEventListener("message", (ev) => this.receive(ev.data));
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === 1013) this.seq = {}; // closed as too slow: start over from a snapshot
      this.scheduleReconnect();
    });
  }

  receive(text) {
    this.lastMessageAt = Date.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === "subscribed") {
      this.setState("live");
      return;
    }
    if (msg.type === "reset") {
      for (const c of msg.channels || []) delete this.seq[c];
    } else if (typeof msg.channel === "string" && Number.isInteger(msg.seq)) {
      this.seq[msg.channel] = msg.seq;
    }
    this.onMessage(msg);
  }

  checkSilence() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastMessageAt > SILENCE_MS) {
      this.ws.close();
    }
  }

  scheduleReconnect() {
    this.setState("down");
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), delay);
  }

  setState(state) {
    if (state === "down" && this.downSince === null) this.downSince = Date.now();
    if (state === "live") this.downSince = null;
    if (state === "connecting" && this.downSince !== null) state = "down";
    this.onState(state, this.downSince);
  }
}
