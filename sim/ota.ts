// An update over MQTT as the simulator's page shows it, followed from the messages on the broker (the
// device's side and its answers: src/app/ota.ts): the begin on ~/cmd/ota gives the new version and the
// image's length, the device's answers on ~/ota the bytes written so far (its "ack" offsets) and the
// outcome. Pure: fed one message at a time (unit-tested in test/unit/sim-ota.test.ts).

export interface OtaView {
  /** receiving: chunks are being written; verifying: the finish was sent; rebooting: verified and
   *  switched, the board restarts into the new image; idle: no update under way */
  phase: "idle" | "receiving" | "verifying" | "rebooting";
  /** the version being sent (from the begin), bytes written on the device, the image's length */
  to: string | null;
  received: number;
  total: number;
  /** the last update's outcome: updated to v, rolled back to v (the new image, `to`, did not come
   *  online), refused (e: why), aborted; at: Date.now() */
  result: { s: "updated" | "rolled back" | "refused" | "aborted"; v?: string; to?: string; e?: string; at: number } | null;
  /** the version the device last said it runs (its answers carry it), null: not heard yet */
  version: string | null;
}

export class OtaTracker {
  view: OtaView = { phase: "idle", to: null, received: 0, total: 0, result: null, version: null };
  private begin: { v: string; l: number } | null = null;

  constructor(private root: string, private now: () => number = Date.now) {}

  /** one message on the broker; true when the view changed */
  message(topic: string, text: string): boolean {
    if (!topic.startsWith(this.root + "/")) return false;
    const sub = topic.slice(this.root.length + 1), w = this.view;
    if (sub !== "cmd/ota" && sub !== "ota") return false;
    let m: any;
    try { m = JSON.parse(text); } catch { return false; }
    if (!m || typeof m != "object") return false;
    if (sub === "cmd/ota") {
      if (typeof m.v == "string" && typeof m.l == "number") { this.begin = { v: m.v, l: m.l }; return false; }
      if (m.f && w.phase === "receiving") { w.phase = "verifying"; return true; }
      return false;
    }
    const done = (r: NonNullable<OtaView["result"]>) => { w.phase = "idle"; w.result = r; this.begin = null; return true; };
    switch (m.s) {
      case "idle":
        if (typeof m.v != "string" || m.v === w.version) return false;
        w.version = m.v;
        return true;
      case "ready":
        w.phase = "receiving";
        w.to = this.begin ? this.begin.v : w.to;
        w.total = this.begin ? this.begin.l : w.total;
        w.received = m.o | 0;
        return true;
      case "ack": case "dup":
        if (w.phase === "idle") w.phase = "receiving";
        w.received = m.o | 0;
        return true;
      case "refused":
        // a chunk out of place (with the offset the device expects): the sender goes on from there
        if (typeof m.o == "number" && w.phase === "receiving") return false;
        return done({ s: "refused", e: String(m.e), to: this.begin ? this.begin.v : undefined, at: this.now() });
      case "aborted":
        return done({ s: "aborted", to: w.to || undefined, at: this.now() });
      case "rebooting":
        w.phase = "rebooting";
        w.received = w.total;
        if (typeof m.v == "string") w.to = m.v;
        return true;
      case "updated": case "rolled back":
        if (typeof m.v == "string") w.version = m.v;
        return done({ s: m.s, v: m.v, to: w.to || undefined, at: this.now() });
    }
    return false;
  }
}

/** an update's outcome in words (the terminal and the page say the same) */
export function otaResult(r: NonNullable<OtaView["result"]>): string {
  if (r.s === "updated") return `updated to ${r.v}`;
  if (r.s === "rolled back") return `rolled back to ${r.v}` + (r.to ? ` (${r.to} did not come online)` : "");
  if (r.s === "refused") return `refused: ${r.e}`;
  return "aborted" + (r.to ? ` (${r.to})` : "");
}
