// Our client against aedes 1.x (in this process) on a free loopback port, with the `mqtt` package as
// the peer. Real sockets, real time; keepalive 2 s and 100 ms retries keep it fast.
import { createRequire } from "node:module";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startAedes, type AedesBroker } from "../helpers/aedes";
import { closeAll, peer, sharedTests, until, wrongPassword } from "../helpers/client-integration";
import { createClient } from "../../src/index";

describe("client with aedes", () => {
  let b: AedesBroker;
  beforeAll(async () => {
    b = await startAedes({
      // anonymous clients are welcome; user "u" needs password "right" (else CONNACK 5)
      authenticate: (_c, user, pass, cb) => cb(null, user == null || (user === "u" && String(pass) === "right")),
    });
  });
  afterEach(closeAll);
  afterAll(() => b?.stop());

  sharedTests(() => b.port);

  it("wrong password: EREFUSED and retries at the maximum delay", () => wrongPassword(b.port, [4, 5]));

  it("the public createClient with its defaults: require(\"net\") transport and the engine's timers", async () => {
    // __REQUIRE__ becomes the engine's require in a bundle; here Node's stands in for it
    (globalThis as any).__REQUIRE__ = createRequire(import.meta.url);
    const c = createClient({ host: "127.0.0.1", port: b.port, clientId: "defaults", keepalive: 1 });
    const got: string[] = [];
    c.on("message", (_t: string, m: string) => got.push(m));
    try {
      c.connect();
      await until(() => c.connected, "CONNACK");
      await new Promise((r, j) => c.subscribe("defaults/t", { qos: 1 }, (e) => (e ? j(new Error(e.message)) : r(0))));
      const { p } = await peer(b.port);
      await p.publishAsync("defaults/t", "hello", { qos: 1 });
      await until(() => got.length == 1, "the message");
      expect(got).toEqual(["hello"]);
      await new Promise((r) => setTimeout(r, 1700)); // past 1.5 x keepalive: pings kept it up
      expect(c.connected).toBe(true);
    } finally {
      c.end();
      delete (globalThis as any).__REQUIRE__;
    }
  });
});
