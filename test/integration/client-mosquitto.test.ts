// Our client against a real Mosquitto (2.0, persistence on) on free loopback ports, with the `mqtt`
// package as the peer: the shared behaviours, then what only a separate broker process can show —
// a restart in the middle of QoS 1/2 flows, a broker frozen with SIGSTOP, a password file.
// Real sockets and real time; keepalive 2 s, retries from 100 ms.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hasMosquitto, startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { closeAll, ours, peer, sharedTests, sleep, uniq, until, wrongPassword } from "../helpers/client-integration";

describe.skipIf(!hasMosquitto)("client with mosquitto", () => {
  let b: Mosquitto;
  let pwDir = "";
  beforeAll(async () => {
    // user "u" / password "right"; anonymous clients stay welcome for the other tests
    pwDir = mkdtempSync(join(tmpdir(), "mqtt-mcu-pw-"));
    const pw = join(pwDir, "passwd");
    const r = spawnSync("mosquitto_passwd", ["-c", "-b", pw, "u", "right"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error("mosquitto_passwd failed: " + r.stderr);
    chmodSync(pwDir, 0o755); // started as root, the broker reads it as user mosquitto
    chmodSync(pw, 0o644);
    b = await startMosquitto({ persistence: true, extraConf: `password_file ${pw}` });
  });
  afterEach(closeAll);
  afterAll(async () => {
    await b?.stop();
    if (pwDir) rmSync(pwDir, { recursive: true, force: true });
  });

  sharedTests(() => b.port);

  it("wrong password: EREFUSED and retries at the maximum delay", () => wrongPassword(b.port, [4, 5]));

  it("a broker restart in the middle of QoS 1 and QoS 2 flows: nothing lost, no QoS 2 delivered twice", async () => {
    const t = uniq("restart");
    const N = 25;
    const { p, got } = await peer(b.port, { clientId: uniq("peer"), clean: false });
    await p.subscribeAsync(t + "/out/#", { qos: 2 });
    const me = ours(b.port, { clientId: uniq("me"), clean: false, maxInflight: 5 });
    await me.up();
    await me.sub(t + "/in/#", { qos: 2 });

    // incoming: the broker holds N QoS 2 messages for us while our socket reads nothing
    const sock = me.sockets[me.sockets.length - 1];
    sock.pause();
    for (let i = 0; i < N; i++) await p.publishAsync(t + "/in/2", "c" + i, { qos: 2 });
    b.pause(); // frozen: nothing we send from now on is acknowledged
    sock.resume(); // we take what it had sent (PUBLISH -> our PUBREC, unanswered)
    const done: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      done.push(me.pub(t + "/out/1", "a" + i, { qos: 1 }));
      done.push(me.pub(t + "/out/2", "b" + i, { qos: 2 }));
    }
    await until(() => me.got.length > 0, "the first incoming messages");
    await sleep(50);
    // mid-flow both ways: five of ours wait for their ack, the rest are queued; some incoming delivered
    // and waiting for PUBREL, others still at the broker
    expect([me.c.inflight(), me.c.queued()]).toEqual([5, 2 * N - 5]);
    const before = me.got.length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(N);
    await b.restart(); // SIGCONT + SIGTERM: it handles part of what waited, saves the sessions, exits; then starts again

    await Promise.all(done); // every callback: each message acknowledged by the broker
    const payloads = () => got.map(([, m]) => m.toString());
    const ourPayloads = () => me.got.map(([, m]) => m);
    await until(() => new Set(payloads()).size >= 2 * N && new Set(ourPayloads()).size >= N, "every message on both sides", 10000)
      .catch((e) => { throw new Error(e.message + `: peer has ${new Set(payloads()).size}/${2 * N}, ours ${new Set(ourPayloads()).size}/${N}; our errors ${me.errs.map((x) => x.code + " " + x.message)}\nbroker:\n${b.log()}`); });
    await sleep(300); // room for a late duplicate
    const count = (list: string[], prefix: string) => {
      const n = new Map<string, number>();
      for (const x of list) if (x.startsWith(prefix)) n.set(x, (n.get(x) || 0) + 1);
      return n;
    };
    const q1 = count(payloads(), "a"), q2 = count(payloads(), "b"), q2in = count(ourPayloads(), "c");
    expect(q1.size).toBe(N); // QoS 1: at least once
    expect([...q2.values()]).toEqual(Array(N).fill(1)); // QoS 2 out: exactly once
    expect([...q2in.values()]).toEqual(Array(N).fill(1)); // QoS 2 in: exactly once
    expect(me.connacks.length).toBeGreaterThanOrEqual(2);
    expect(me.connacks[me.connacks.length - 1].sessionPresent).toBe(true); // persistence kept the session
    expect(me.c.inflight() + me.c.queued()).toBe(0);
  });

  it("a broker frozen with SIGSTOP is detected within 1.5 x keepalive, and left behind after SIGCONT", async () => {
    const t = uniq("frozen");
    const me = ours(b.port, { keepalive: 2 });
    await me.up();
    await me.sub(t, { qos: 1 }); // a packet in just now: the dead-link deadline is 3 s from here
    const t0 = Date.now();
    b.pause();
    let dead = 0;
    try {
      await until(() => me.errs.some((e) => e.code == "EKEEPALIVE"), "EKEEPALIVE", 5000);
      dead = Date.now() - t0;
    } finally {
      b.resume();
    }
    expect(dead).toBeGreaterThanOrEqual(2900);
    expect(dead).toBeLessThanOrEqual(3300);
    expect(me.events).toContain("offline");
    await me.up(3000); // back by itself
    const { p } = await peer(b.port);
    await p.publishAsync(t, "after", { qos: 1 });
    await until(() => me.got.some(([, m]) => m == "after"), "a message after the recovery");
    await me.pub(t + "/x", "ok", { qos: 1 });
  });
});
