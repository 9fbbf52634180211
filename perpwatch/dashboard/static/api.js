// Calls to perpwatch's own REST API. Every answer is the {code, msg, data} envelope;
// network failures and error statuses come back as {ok: false, msg}, never thrown.
export class Api {
  constructor(key) {
    this.key = key;
  }

  headers(json) {
    const h = { Accept: "application/json" };
    if (json) h["Content-Type"] = "application/json";
    if (this.key) h.Authorization = `Bearer ${this.key}`;
    return h;
  }

  async call(method, path, body) {
    let res;
    try {
      res = await fetch(path, { method, headers: this.headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch (err) {
      return { ok: false, status: 0, msg: "perpwatch is unreachable" };
    }
    let doc = null;
    try {
      doc = await res.json();
    } catch {
      doc = null;
    }
    const msg = doc && typeof doc.msg === "string" ? doc.msg : res.statusText;
    return { ok: res.ok, status: res.status, msg, data: doc ? doc.data : null };
  }

  get(path) {
    return this.call("GET", path);
  }

  post(path, body = {}) {
    return this.call("POST", path, body);
  }
}
