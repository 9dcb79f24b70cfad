// The BUILT core bundle in Debian's Duktape (`duk`): strict ES5.1 with typed arrays, no timers, no
// Promise, not V8. The test writes one harness file: a CommonJS shim (`var exports = {}`), the bundle, a
// fake transport and a fake clock in ES5, and a scripted broker conversation (CONNECT/CONNACK, SUBSCRIBE,
// QoS 1 and QoS 2 both ways, PINGREQ/PINGRESP, DISCONNECT). `duk` prints every byte the client sends as
// hex lines; they are compared with the bytes our TypeScript codec (src/mqtt/packets.ts `encode`)
// computes for the packets the client must send. Missing `duk`: skipped with a loud warning (fails with
// CI=true).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coreBundle } from "../helpers/bundles";
import {
  encode, Packet, CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT,
} from "../../src/mqtt/packets";

function findDuk(): string | null {
  if (process.env.DUK_BIN) return existsSync(process.env.DUK_BIN) ? process.env.DUK_BIN : null;
  for (const d of (process.env.PATH || "").split(":").concat(["/usr/bin", "/usr/local/bin"])) if (d && existsSync(join(d, "duk"))) return join(d, "duk");
  return null;
}
const duk = findDuk();
if (!duk) {
  const how = "(apt-get install duktape, as .ci/run does; or DUK_BIN=/path/to/duk)";
  if (process.env.CI === "true") throw new Error("duk (Duktape) is not installed and CI=true: the Duktape bundle test fails rather than skips " + how);
  console.warn("\n" + "!".repeat(100) + "\n!!! duk (Duktape) is not installed: the Duktape bundle test is SKIPPED " + how + "\n" + "!".repeat(100) + "\n");
}

const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");

// The conversation. `in` lines are what the scripted broker sends; `out` the packets the client must send
// in reply (or on its own); `do` runs ES5 in the harness (client calls, clock steps).
type Step = { in: Packet } | { out: Packet } | { do: string } | { expect: string };
const KA = 10;
const CONVERSATION: Step[] = [
  { do: `client.connect(); link.open();` },
  { out: { type: CONNECT, clientId: "duk-1", clean: true, keepalive: KA } },
  { in: { type: CONNACK, sessionPresent: false, returnCode: 0 } },
  { expect: "EVENT connect" },
  { do: `client.subscribe("duk/in/#", { qos: 2 }, function (e, g) { say("SUBACK " + (e ? e.code : JSON.stringify(g))); });` },
  { out: { type: SUBSCRIBE, id: 1, subs: [{ topic: "duk/in/#", qos: 2 }] } },
  { in: { type: SUBACK, id: 1, granted: [2] } },
  { expect: `SUBACK [{"topic":"duk/in/#","qos":2}]` },
  // QoS 1 out (packet id 1 again: the smallest not in use, free since the SUBACK)
  { do: `client.publish("duk/out/1", "q1 \\u00e9", { qos: 1 }, function (e) { say("PUBACKED " + (e ? e.code : "ok")); });` },
  { out: { type: PUBLISH, id: 1, topic: "duk/out/1", payload: Buffer.from("q1 é", "utf8").toString("latin1"), qos: 1, retain: false, dup: false } },
  { in: { type: PUBACK, id: 1 } },
  { expect: "PUBACKED ok" },
  // QoS 2 out, a binary payload from a Uint8Array
  { do: `client.publish("duk/out/2", new Uint8Array([0, 128, 255]), { qos: 2, retain: true }, function (e) { say("PUBCOMPED " + (e ? e.code : "ok")); });` },
  { out: { type: PUBLISH, id: 1, topic: "duk/out/2", payload: "\x00\x80\xff", qos: 2, retain: true, dup: false } },
  { in: { type: PUBREC, id: 1 } },
  { out: { type: PUBREL, id: 1 } },
  { in: { type: PUBCOMP, id: 1 } },
  { expect: "PUBCOMPED ok" },
  // QoS 1 in
  { in: { type: PUBLISH, id: 7, topic: "duk/in/a", payload: "\x00\xff\r\n", qos: 1, retain: false, dup: false } },
  { expect: `MSG duk/in/a 00ff0d0a` },
  { out: { type: PUBACK, id: 7 } },
  // QoS 2 in, then its duplicate before PUBREL: delivered once
  { in: { type: PUBLISH, id: 8, topic: "duk/in/b", payload: "two", qos: 2, retain: false, dup: false } },
  { expect: `MSG duk/in/b ${hex("two")}` },
  { out: { type: PUBREC, id: 8 } },
  { in: { type: PUBLISH, id: 8, topic: "duk/in/b", payload: "two", qos: 2, retain: false, dup: true } },
  { out: { type: PUBREC, id: 8 } },
  { in: { type: PUBREL, id: 8 } },
  { out: { type: PUBCOMP, id: 8 } },
  // QoS 0 in
  { in: { type: PUBLISH, topic: "duk/in/c", payload: "zero", qos: 0, retain: false, dup: false } },
  { expect: `MSG duk/in/c ${hex("zero")}` },
  // idle for the keepalive: PINGREQ, answered
  { do: `advance(${KA * 1000});` },
  { out: { type: PINGREQ } },
  { in: { type: PINGRESP } },
  { do: `advance(${KA * 500});` },
  { do: `client.end();` },
  { out: { type: DISCONNECT } },
  { expect: "CLOSE" },
  { expect: "EVENT end" },
];

/** the ES5 harness run by duk: everything the client does is printed as one line */
function harness(bundle: string): string {
  const script = CONVERSATION.map((s) =>
    "in" in s ? `feed(${JSON.stringify(encode(s.in))});` : "do" in s ? s.do : "").filter(Boolean).join("\n");
  // (the bundle is module code: in a function of its own, as require() runs it)
  return `var exports = {};
(function (exports) {
${bundle}
})(exports);
function say(s) { print(s); }
function hex(s) { var r = "", i, c; for (i = 0; i < s.length; i++) { c = s.charCodeAt(i); r += (c < 16 ? "0" : "") + c.toString(16); } return r; }
// a fake clock: timers fire only when the script advances time
var now = 1000000, timers = [], tid = 0;
var clock = {
  now: function () { return now; },
  setTimer: function (fn, ms, a) { tid++; timers.push({ id: tid, at: now + ms, fn: function () { fn(a); } }); return tid; },
  clearTimer: function (id) { for (var i = 0; i < timers.length; i++) if (timers[i].id === id) { timers.splice(i, 1); return; } }
};
function advance(ms) {
  var end = now + ms, i, t;
  for (;;) {
    t = null;
    for (i = 0; i < timers.length; i++) if (timers[i].at <= end && (!t || timers[i].at < t.at)) t = timers[i];
    if (!t) break;
    timers.splice(timers.indexOf(t), 1);
    now = t.at;
    t.fn();
  }
  now = end;
}
// a fake transport: the client's bytes are printed, the broker's are fed by the script
var ev = null, link = {
  open: function () { ev.open(); },
  write: function (d) { if (typeof d !== "string") say("NOT A STRING " + typeof d); say("OUT " + hex(d)); },
  close: function () { say("CLOSE"); }
};
function feed(s) { say("IN " + hex(s)); ev.data(s); }
var client = exports.createClient({
  host: "broker", port: 1883, clientId: "duk-1", keepalive: ${KA}, reconnect: false,
  transport: function (host, port, e) { ev = e; say("TRANSPORT " + host + ":" + port); return { write: link.write, close: link.close }; },
  clock: clock, random: function () { return 0.5; }
});
client.on("connect", function () { say("EVENT connect"); });
client.on("end", function () { say("EVENT end"); });
client.on("close", function () { say("EVENT close"); });
client.on("error", function (e) { say("ERROR " + e.code + " " + e.message); });
client.on("message", function (t, p) { say("MSG " + t + " " + hex(p)); });
${script}
say("DONE");
`;
}

describe.skipIf(!duk)("core bundle in Duktape (duk): a scripted broker conversation, byte for byte", () => {
  it("sends exactly the bytes our codec computes, QoS 1 and 2 both ways, keepalive, disconnect", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-duk-"));
    try {
      const file = join(dir, "harness.js");
      writeFileSync(file, harness(await coreBundle()));
      const r = spawnSync(duk!, [file], { encoding: "utf8", timeout: 20000 });
      const lines = (r.stdout || "").split("\n").filter(Boolean);
      const transcript = `exit ${r.status}\nstdout:\n  ${lines.join("\n  ")}\nstderr:\n${r.stderr}`;
      expect(r.status, transcript).toBe(0);
      expect(lines[lines.length - 1], transcript).toBe("DONE");
      expect(lines.filter((l) => /^(ERROR|NOT A STRING)/.test(l)), transcript).toEqual([]);

      // the client's bytes, in order, against our codec's
      const outs = lines.filter((l) => l.startsWith("OUT ")).map((l) => l.slice(4));
      const want = CONVERSATION.filter((s): s is { out: Packet } => "out" in s).map((s) => hex(encode(s.out)));
      expect(outs, transcript).toEqual(want);
      // and every step in its place: each expected line after the packet that causes it
      const order = CONVERSATION.filter((s) => !("do" in s)).map((s) =>
        "in" in s ? "IN " + hex(encode(s.in)) : "out" in s ? "OUT " + hex(encode(s.out)) : (s as { expect: string }).expect);
      const seen = lines.filter((l) => order.includes(l) || /^(IN|OUT|MSG|EVENT connect|EVENT end|CLOSE|SUBACK|PUB)/.test(l) && !/^EVENT close/.test(l));
      expect(seen, transcript).toEqual(order);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
