// Issue 7 (a): the link cut at every byte offset of a QoS 1 and a QoS 2 exchange, in both directions.
//
// One exchange, with a persistent session (clean=false) against Mosquitto through the fault proxy:
// CONNECT, SUBSCRIBE to our own topic, then two messages published by us, which come back to us. So
// the link carries both flows: ours out (PUBLISH, PUBACK | PUBREC, PUBREL, PUBCOMP) and the broker's
// in (PUBLISH, PUBACK | PUBREC, PUBREL, PUBCOMP). A pass-through run measures how many bytes the
// exchange takes each way; then, for every offset N in each direction, a fresh client id runs the
// same exchange with its first connection cut after N bytes, and must:
//  - get every message (QoS 2: exactly once to the application; QoS 1: at least once),
//  - get every publish callback, end with inflight() 0 and queued() 0, and be connected,
//  - leak nothing: when the link is then dropped once more, the next connection carries only
//    CONNECT up and CONNACK (session present) down - no resent PUBLISH/PUBREL/SUBSCRIBE from the
//    client, and no PUBLISH/PUBREL from the broker, i.e. neither side holds an unfinished id.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { startFaultProxy, Dir, Faults } from "../helpers/fault-proxy";
import { figure, frames, names, pool, probe, uniq, until } from "./reliability-common";

const MSGS = 2;
const PARALLEL = 6;

interface Run { ok: boolean; why: string; deliveries: number; conns: number; ms: number }

async function exchange(b: Mosquitto, qos: 1 | 2, cut: { dir: Dir; after: number } | null, quiet = 60, more: Faults = {}): Promise<Run & { up: number; down: number }> {
  const t0 = Date.now();
  const px = await startFaultProxy({ port: b.port, cut, ...more });
  const id = uniq("cp");
  const topic = "r/" + id;
  const p = probe(px.port, { clientId: id, clean: false });
  const got = new Map<string, number>();
  let acked = 0, subacks = 0;
  const fail = (why: string) => ({ ok: false, why: `${qos}/${cut ? cut.dir + "@" + cut.after : "none"}: ${why}; conns ${px.conns.map((c) => c.why + " up=" + names(frames(c.up).packets).join(",") + " down=" + names(frames(c.down).packets).join(",")).join(" | ")}; errors ${p.lines.join("; ")}`, deliveries: 0, conns: px.conns.length, ms: Date.now() - t0, up: 0, down: 0 });
  p.c.on("message", (_t: string, m: string) => got.set(m, (got.get(m) || 0) + 1));
  try {
    p.c.connect();
    p.c.subscribe(topic, { qos }, (e) => {
      subacks++;
      if (e) return;
      for (let i = 0; i < MSGS; i++) p.c.publish(topic, "m" + i, { qos }, (e2) => { if (!e2) acked++; });
    });
    try {
      await until(() => got.size == MSGS && acked == MSGS && p.c.inflight() == 0, () => `${got.size}/${MSGS} messages, ${acked}/${MSGS} acks, inflight ${p.c.inflight()}`, 5000);
    } catch (e: any) { return fail(e.message); }
    await px.quiet(quiet);
    // a cut near the end of the exchange lands after the last ack: the client is reconnecting
    try { await until(() => p.c.connected, () => "connected again", 3000); } catch (e: any) { return fail(e.message); }
    await px.quiet(quiet);
    if (subacks != 1) return fail(`${subacks} SUBACK callbacks`);
    if (p.c.queued() || p.c.inflight() || !p.c.connected) return fail(`queued ${p.c.queued()} inflight ${p.c.inflight()} connected ${p.c.connected}`);
    const conns = px.conns.length, first = px.conns[0];
    // leak check: drop the link; the next connection must carry nothing but CONNECT / CONNACK. A flow
    // that was still finishing when the link dropped finishes on the next one: drop again (3 times at
    // most); an id that is never finished shows up every time.
    let up = "", down = "";
    for (let k = 0; k < 3; k++) {
      const before = p.events.filter((e) => e == "connect").length;
      px.killAll();
      try { await until(() => p.events.filter((e) => e == "connect").length > before, () => "a reconnect after the leak-check drop", 3000); } catch (e: any) { return fail(e.message); }
      await px.quiet(quiet);
      const last = px.conns[px.conns.length - 1];
      up = names(frames(last.up).packets).join();
      down = names(frames(last.down).packets).join();
      if (up == "CONNECT" && down == "CONNACK:sp") break;
    }
    if (up != "CONNECT" || down != "CONNACK:sp") return fail(`after 3 drops the client still sent ${up || "-"} and the broker ${down || "-"}: an id was left unfinished`);
    const deliveries = [...got.values()].reduce((a, x) => a + x, 0);
    if (qos == 2 && deliveries != MSGS) return fail(`QoS 2 delivered twice: ${JSON.stringify([...got])}`);
    if (p.c.inflight() || !p.c.connected) return fail(`after the drops: inflight ${p.c.inflight()} connected ${p.c.connected}`);
    return { ok: true, why: "", deliveries, conns, ms: Date.now() - t0, up: first.up.length, down: first.down.length };
  } finally {
    p.c.end(true);
    await px.stop();
  }
}

describe.skipIf(!hasMosquitto)("reliability: the link cut at every byte offset (persistent session, QoS 1 and 2)", () => {
  let b: Mosquitto;
  beforeAll(async () => { b = await startMosquitto({ extraConf: "set_tcp_nodelay true\nmax_queued_messages 1000" }); });
  afterAll(async () => { if (b) await b.stop(); });

  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: every offset, both directions: all delivered${qos == 2 ? " exactly once" : ""}, no id leaked, connected`, async () => {
      const clean = await exchange(b, qos, null);
      expect(clean.why).toBe("");
      expect(clean.conns).toBe(1);
      const cuts: { dir: Dir; after: number }[] = [];
      for (const dir of ["up", "down"] as Dir[]) for (let n = 0; n < (dir == "up" ? clean.up : clean.down); n++) cuts.push({ dir, after: n });
      const bad: string[] = [], conns: number[] = [], dupes: number[] = [];
      const t0 = Date.now();
      await pool(cuts, PARALLEL, async (cut) => {
        const r = await exchange(b, qos, cut);
        if (!r.ok) bad.push(r.why);
        conns.push(r.conns);
        dupes.push(r.deliveries - MSGS);
      });
      figure(`cutpoints qos${qos}`, { bytesUp: clean.up, bytesDown: clean.down, cuts: cuts.length, failed: bad.length, duplicatesDelivered: dupes.reduce((a, x) => a + x, 0), maxConnections: Math.max(...conns), seconds: (Date.now() - t0) / 1000 });
      expect(bad.slice(0, 5)).toEqual([]);
      expect(cuts.length).toBeGreaterThan(qos == 1 ? 100 : 150); // both whole exchanges were cut through
    }, 120000);
  }

  it("QoS 2 with every write split into 1-byte pieces, and with 30 ms of delay per chunk: the same exchange completes", async () => {
    const split = await exchange(b, 2, null, 60, { split: true, splitDelay: 1 });
    expect(split.why).toBe("");
    const slow = await exchange(b, 2, null, 100, { delay: 30 });
    expect(slow.why).toBe("");
    // split and cut at once: the decoder resumes mid-packet on a link that then dies
    const both = await exchange(b, 2, { dir: "down", after: 40 }, 60, { split: true });
    expect(both.why).toBe("");
    expect([split.conns, slow.conns, both.conns]).toEqual([1, 1, 2]);
  });
});
