// Issue 7 (c) and the proxy's other faults: a black-holed link (the socket stays open, nothing comes
// back) is noticed within 1.5 x keepalive and the client reconnects; a black hole at connect time
// ends in a CONNACK timeout and retries; a corrupted byte is reported and recovered from.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { startFaultProxy, FaultProxy } from "../helpers/fault-proxy";
import { figure, frames, names, probe, sleep, uniq, until } from "./reliability-common";
import { random } from "../helpers/seed";

describe.skipIf(!hasMosquitto)("reliability: black hole, corruption", () => {
  let b: Mosquitto, px: FaultProxy;
  beforeAll(async () => { b = await startMosquitto({ extraConf: "set_tcp_nodelay true" }); });
  afterAll(async () => { if (b) await b.stop(); });

  it("a black-holed link is noticed within 1.5 x keepalive (keepalive 1 s) and the client reconnects; an idle live link is not", async () => {
    px = await startFaultProxy({ port: b.port });
    const p = probe(px.port, { clientId: uniq("bh"), keepalive: 1, connectTimeout: 1000 });
    const offline: number[] = [], online: number[] = [];
    p.c.on("offline", () => offline.push(Date.now()));
    p.c.on("connect", () => online.push(Date.now()));
    try {
      p.c.connect();
      await until(() => p.c.connected, () => "connected");
      // idle for 2.5 keepalives with the broker answering PINGREQs: no false alarm
      await sleep(2500);
      expect(offline).toEqual([]);
      const pings = names(frames(px.conns[0].up).packets).filter((n) => n == "PINGREQ").length;
      expect(pings).toBeGreaterThanOrEqual(2);

      const detect: number[] = [], back: number[] = [];
      for (let round = 0; round < 3; round++) {
        const t0 = Date.now(), n = offline.length, m = online.length;
        px.set({ blackhole: true }); // this link and any new one go silent
        await until(() => offline.length > n, () => "the client to notice the black hole", 3000);
        detect.push(offline[n] - t0);
        px.set({ blackhole: false });
        await until(() => online.length > m, () => "a reconnect after the black hole", 3000);
        back.push(online[m] - offline[n]);
        await sleep(300 + random() * 500); // the next black hole starts at another point of the keepalive cycle
      }
      figure("blackhole keepalive 1s", { detectMs: detect, reconnectMs: back, limitMs: 1500 });
      for (const d of detect) expect(d).toBeLessThanOrEqual(1500 + 100); // 1.5 x keepalive, plus timer slack
      expect(p.errs.filter((e) => e.code == "EKEEPALIVE")).toHaveLength(3);
      expect(p.c.connected).toBe(true);
    } finally {
      p.c.end(true);
      await px.stop();
    }
  });

  it("a black hole at connect time: ETIMEOUT after connectTimeout, retries, connects once the path is back", async () => {
    px = await startFaultProxy({ port: b.port, blackhole: true });
    const p = probe(px.port, { clientId: uniq("bhc"), keepalive: 1, connectTimeout: 300, reconnect: { min: 20, max: 50 } });
    try {
      p.c.connect();
      await until(() => p.errs.filter((e) => e.code == "ETIMEOUT").length >= 3, () => "3 CONNACK timeouts", 3000);
      expect(p.c.connected).toBe(false);
      expect(px.conns.length).toBeGreaterThanOrEqual(3);
      px.set({ blackhole: false });
      await until(() => p.c.connected, () => "connected after the black hole", 3000);
      // the black-holed sockets were closed by the client, not left open
      await until(() => px.live() == 1, () => `1 live proxied link, not ${px.live()}`, 2000);
    } finally {
      p.c.end(true);
      await px.stop();
    }
  });

  it("a corrupted CONNACK or PUBLISH: EMALFORMED reported, link dropped, reconnect, the QoS 1 message still arrives", async () => {
    // byte 3 of the first connection's down stream: the CONNACK return code (0 ^ 0x0f = 15, reserved)
    px = await startFaultProxy({ port: b.port, corrupt: { dir: "down", at: 3, xor: 0x0f } });
    const id = uniq("cor"), topic = "r/" + id;
    const p = probe(px.port, { clientId: id, clean: false });
    const got: string[] = [];
    p.c.on("message", (_t: string, m: string) => got.push(m));
    try {
      p.c.connect();
      await until(() => p.c.connected, () => "connected after a corrupt CONNACK");
      expect(p.errs[0].code).toBe("EMALFORMED");
      expect(p.errs[0].message).toMatch(/CONNACK.*MQTT-3\.2\.2/); // the reserved return code rule
      await new Promise<void>((r) => p.c.subscribe(topic, { qos: 1 }, () => r()));
      // the next connection: corrupt the topic length's high byte of the next PUBLISH the client gets
      px.set({ corrupt: { dir: "down", at: 4 /* CONNACK */ + 2 /* fixed header */, xor: 0x40 } });
      px.killAll();
      await until(() => px.conns.length == 3 && p.c.connected, () => "the third connection");
      p.c.publish(topic, "survives", { qos: 1 });
      await until(() => got.includes("survives"), () => "the message after the corrupted copy");
      expect(p.errs.map((e) => e.code)).toEqual(["EMALFORMED", "ETRANSPORT", "EMALFORMED"]);
      expect(p.errs[2].message).toMatch(/PUBLISH/);
      // 0: corrupt CONNACK, 1: SUBSCRIBE, 2: corrupt PUBLISH, 3: the broker resends it (and, since our
      // PUBACK:2 came after the bad packet, we resend ours: QoS 1 allows the duplicate)
      const why = px.conns.map((c) => c.why + " " + names(frames(c.down).packets).join()).join(" / ") + p.lines.join("; ");
      expect(px.conns.length, why).toBe(4);
      // our PUBACK may come a moment after our own copy of the message: wait for it, then check
      await until(() => p.c.inflight() == 0, () => "the PUBACK of our publish");
      expect(p.c.inflight()).toBe(0);
    } finally {
      p.c.end(true);
      await px.stop();
    }
  });
});
