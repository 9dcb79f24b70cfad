// The BUILT firmware (src/app + a board, ES5, minified, the device config compiled in) on the REAL
// Espruino interpreter (2v29 built for Linux, emu/real.ts), run from Storage as ".bootcde" as a saved
// board runs it, with nothing of the harness on the board (no control link: everything is seen over
// MQTT and on the console), against a real Mosquitto, watched by an independent client (the `mqtt`
// package) on the broker's plain listener. Skipped unless MQTT_MCU_ESPRUINO (growable build) and/or
// MQTT_MCU_ESPRUINO_1600 (32-bit, 1,600 blocks of 12 bytes: an ESP8266's store) name the interpreter.
//   - espruino-linux on the growable build over TCP, TLS (the CA from the test PKI, compiled in as DER),
//     WebSocket (Mosquitto's websockets listener, path /mqtt) and WebSocket over TLS
//   - esp8266 on the 1,600-block build over TCP and WebSocket, with a stand-in Wifi module saved in
//     Storage as "Wifi" (bench/firmware.ts WIFI_STANDIN: associated, a MAC, an RSSI)
// For each, one interpreter: status online (retained), actuator states (retained), every Home Assistant
// discovery entity (retained; ~, uniq_id, avty_t, dev checked), telemetry with every key, announced in
// that order (status, states, entities, then the first telemetry); a command obeyed and invalid ones
// reported on the error topic; a broker restart on the same ports (online again, a command obeyed
// again); and no "Uncaught" / "OUT OF MEMORY" printed. Blocks in use are printed from the firmware's
// own telemetry (`mem` = free blocks x 12 on the 1,600 build).
//
// RT_DUMP=<dir> writes every board's console there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EspruinoBoard, interpreters } from "../../emu/real";
import { hasMosquitto, startMosquittoAllTransports, Mosquitto } from "../helpers/mosquitto";
import { makeTestCerts, TestCerts } from "../helpers/certs";
import { ROOT } from "../helpers/bundles";
import { benchConfig, buildFirmware, WIFI_STANDIN } from "../../bench/firmware";
import { pretokenise } from "../../build/pretokenise.mjs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version; // the discovery's dev.sw

// TLS: mbedTLS takes two contiguous ~16.7 KB buffers (flat strings in the variable store) for each
// connection. Before the board's TLS transport ran E.defrag() first, the first connection found them
// but, after a broker restart, every reconnection failed in mbedtls_ssl_setup ("Not enough memory", at
// each retry of the backoff): the broker-restart test below failed over TLS on the growable build.

interface Case {
  name: string;
  exe: string | undefined;
  board: "espruino-linux" | "esp8266";
  /** the broker section's transport keys (port, tls, websocket) */
  transport: () => Record<string, unknown>;
  tls?: boolean;
  /** the 1,600-block build: blocks in use = 1600 - mem / 12 */
  fixed?: boolean;
}

interface Got { topic: string; text: string; retain: boolean }

describe.skipIf(!(interpreters.espruino || interpreters.espruino1600) || !hasMosquitto)("built firmware on real Espruino (2v29 for Linux) with Mosquitto", () => {
  let broker: Mosquitto, certs: TestCerts, peer: MqttClient;
  const got: Got[] = [];
  const url = () => `mqtt://127.0.0.1:${broker.port}`;

  beforeAll(async () => {
    certs = makeTestCerts();
    broker = await startMosquittoAllTransports(certs);
    peer = await mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 100, clientId: "fw-peer-" + process.pid });
    peer.on("message", (topic, p, pk) => got.push({ topic, text: p.toString(), retain: !!pk.retain }));
    await peer.subscribeAsync(["mcu/#", "homeassistant/#"], { qos: 1 });
  });
  afterAll(async () => {
    await peer?.endAsync(true);
    await broker?.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  const cases: Case[] = [
    { name: "espruino-linux over TCP", exe: interpreters.espruino, board: "espruino-linux", transport: () => ({ port: broker.port }) },
    { name: "espruino-linux over TLS", exe: interpreters.espruino, board: "espruino-linux", tls: true, transport: () => ({ port: broker.tlsPort, tls: true }) },
    { name: "espruino-linux over WebSocket", exe: interpreters.espruino, board: "espruino-linux", transport: () => ({ port: broker.wsPort, websocket: "/mqtt" }) },
    { name: "espruino-linux over WebSocket over TLS", exe: interpreters.espruino, board: "espruino-linux", tls: true, transport: () => ({ port: broker.wssPort!, websocket: "/mqtt", tls: true }) },
    { name: "esp8266 over TCP (1,600 blocks)", exe: interpreters.espruino1600, board: "esp8266", fixed: true, transport: () => ({ port: broker.port }) },
    { name: "esp8266 over WebSocket (1,600 blocks)", exe: interpreters.espruino1600, board: "esp8266", fixed: true, transport: () => ({ port: broker.wsPort, websocket: "/mqtt" }) },
  ];

  let dumped = 0;
  for (const k of cases) describe.skipIf(!k.exe)(k.name, () => {
    const id = `fw${cases.indexOf(k)}p${process.pid}`, T = `mcu/${id}/`;
    let b: EspruinoBoard | null = null, size = 0;
    const mine = (from = 0) => got.slice(from).filter((m) => m.topic.startsWith(T) || m.topic.startsWith("homeassistant/") && m.topic.split("/")[2] == id);
    const on = (topic: string, from = 0) => got.slice(from).filter((m) => m.topic == topic);
    const tele = (from = 0) => on(T + "telemetry", from).map((m) => JSON.parse(m.text));
    const blocks = (mem: number) => (k.fixed ? `${1600 - Math.round(mem / 12)} blocks` : `${mem} B free`);
    /** the interpreter's trouble lines (Espruino prints "ERROR: Connect failed" for each refused
     *  connect() while the broker is down: expected) and the firmware's reports of a failed TLS setup */
    const trouble = () => b!.problems().filter((l) => !/^ERROR: Connect failed/.test(l))
      .concat(b!.lines.filter((l) => /Not enough memory|mbedtls/i.test(l)));
    async function until(what: string, pred: () => boolean, ms = 15000) {
      const end = Date.now() + ms;
      while (!pred()) {
        const t = b ? trouble() : [];
        if (t.length) throw new Error(`the interpreter reported trouble while waiting for ${what}:\n${t.join("\n")}\nlast lines:\n${b!.lines.slice(-25).join("\n")}`);
        if (b && b.exited != null) throw new Error(`espruino exited (${b.exited}) waiting for ${what}; last lines:\n${b.lines.slice(-15).join("\n")}`);
        if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; board's last lines:\n${b ? b.lines.slice(-15).join("\n") : ""}\n` +
          `last messages: ${mine().slice(-8).map((m) => m.topic + "=" + m.text.slice(0, 60)).join(" | ")}`);
        await sleep(25);
      }
    }
    /** what a new subscriber gets on `filters`: the retained messages */
    async function retained(filters: string[], want: number): Promise<Got[]> {
      const c = await mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0 }), r: Got[] = [];
      c.on("message", (topic, p, pk) => r.push({ topic, text: p.toString(), retain: !!pk.retain }));
      try {
        await c.subscribeAsync(filters);
        const end = Date.now() + 3000;
        while (r.length < want && Date.now() < end) await sleep(25);
        await sleep(100); // one more would come now
      } finally { await c.endAsync(true); }
      return r;
    }

    afterAll(async () => {
      if (!b) return;
      if (process.env.RT_DUMP) writeFileSync(`${process.env.RT_DUMP}/firmware${dumped++}-${k.board}.txt`, b.lines.join("\n"));
      await b.stop();
    });

    it("boots from .bootcde and announces: online, states, every discovery entity (retained), then telemetry", async () => {
      const cfg = benchConfig(id, 0, {
        broker: { host: "127.0.0.1", keepalive: 30, ...k.transport() },
        ...(k.board == "esp8266" ? { wifi: { ssid: "bench" } } : {}),
      });
      const secrets = { ...(k.tls ? { broker: { ca: certs.ca } } : {}), ...(k.board == "esp8266" ? { wifi: { password: "pw-bench" } } : {}) };
      const code = await buildFirmware(k.board, cfg, secrets);
      size = code.length;
      const files: Record<string, string> = { ".bootcde": pretokenise(code) }; // as `npm run flash -- --save` stores it
      if (k.board == "esp8266") files.Wifi = WIFI_STANDIN;
      const from = got.length;
      b = EspruinoBoard.start(k.exe!, files, { control: false });
      await until("the first telemetry", () => tele(from).length > 0, 20000);

      // the order on the wire (one connection, forwarded in order): status, states, entities, telemetry
      const seen = mine(from), at = (re: RegExp) => seen.map((m, i) => (re.test(m.topic) ? i : -1)).filter((i) => i >= 0);
      const first = at(/\/telemetry$/)[0];
      expect(seen[0].topic, "the first message").toBe(T + "status");
      expect(seen[0].text).toBe("online");
      expect(at(/\/state\//).length).toBe(2);
      expect(at(/^homeassistant\//).length).toBe(5);
      expect(Math.max(...at(/\/status$/), ...at(/\/state\//), ...at(/^homeassistant\//)), "the last announce message before the first telemetry").toBeLessThan(first);
      expect(Math.max(...at(/\/state\//))).toBeLessThan(Math.min(...at(/^homeassistant\//)));

      // retained: what a new subscriber gets
      const r = await retained([T + "status", T + "state/+", `homeassistant/+/${id}/+/config`], 8);
      const byTopic = Object.fromEntries(r.map((m) => [m.topic, m]));
      expect(r.every((m) => m.retain), "all retained").toBe(true);
      expect(byTopic[T + "status"]?.text).toBe("online");
      expect(byTopic[T + "state/relay"]?.text).toBe("OFF");
      expect(byTopic[T + "state/light"]?.text).toBe("OFF");

      // every entity: its topic, the parts that depend on the id, the shared device block
      const ents: [string, string, Record<string, unknown>][] = [
        ["binary_sensor", "door", { stat_t: "~/telemetry", val_tpl: "{{value_json.door}}", pl_on: "True", pl_off: "False", dev_cla: "door" }],
        ["switch", "relay", { stat_t: "~/state/relay", cmd_t: "~/cmd/relay", dev_cla: "outlet" }],
        ["light", "light", { stat_t: "~/state/light", cmd_t: "~/cmd/light" }],
        ["sensor", "rssi", { stat_t: "~/telemetry", val_tpl: "{{value_json.rssi}}", dev_cla: "signal_strength", ent_cat: "diagnostic" }],
        ["sensor", "uptime", { stat_t: "~/telemetry", val_tpl: "{{value_json.uptime}}", dev_cla: "duration", ent_cat: "diagnostic" }],
      ];
      expect(r.filter((m) => m.topic.startsWith("homeassistant/")).map((m) => m.topic).sort())
        .toEqual(ents.map(([c, n]) => `homeassistant/${c}/${id}/${n}/config`).sort());
      for (const [c, n, own] of ents) {
        const e = JSON.parse(byTopic[`homeassistant/${c}/${id}/${n}/config`].text);
        expect(e, n).toMatchObject({ "~": T.slice(0, -1), uniq_id: `${id}_${n}`, avty_t: "~/status", ...own });
        expect(e.dev, n).toEqual({ ids: [id], name: "Bench", mf: "mqtt-mcu", mdl: k.board, sw: VERSION });
      }

      // telemetry: every key (rssi: null on Linux, the stand-in's -60 on the ESP8266)
      await until("3 telemetry messages", () => tele(from).length >= 3);
      for (const t of tele(from)) {
        expect(Object.keys(t).sort()).toEqual(["door", "mem", "reconnects", "rssi", "uptime"]);
        expect(t).toMatchObject({ door: false, reconnects: 0, rssi: k.board == "esp8266" ? -60 : null });
        expect(t.mem).toBeGreaterThan(0);
        expect(t.uptime).toBeGreaterThanOrEqual(0);
      }
      const mems = tele(from).map((t) => t.mem);
      console.log(`[firmware ${k.name}] bundle ${size} B; telemetry mem: first ${blocks(mems[0])}, then ${mems.slice(1).map(blocks).join(", ")}`);
      expect(trouble()).toEqual([]);
    }, 40000);

    it("obeys a command (state echoed) and reports invalid ones on the error topic", async () => {
      if (!b) throw new Error("not booted");
      let n = got.length;
      await peer.publishAsync(T + "cmd/relay", "ON", { qos: 1 });
      await until("state/relay ON", () => on(T + "state/relay", n).some((m) => m.text == "ON"));
      await peer.publishAsync(T + "cmd/light", '{"state":"on"}', { qos: 1 });
      await until("state/light ON", () => on(T + "state/light", n).some((m) => m.text == "ON"));
      n = got.length;
      await peer.publishAsync(T + "cmd/relay", "BOGUS", { qos: 1 });
      await peer.publishAsync(T + "cmd/relay", "7", { qos: 1 });
      await peer.publishAsync(T + "cmd/fan", "ON", { qos: 1 });
      await until("3 errors", () => on(T + "error", n).length >= 3);
      expect(on(T + "error", n).map((m) => JSON.parse(m.text))).toEqual([
        { cmd: "relay", payload: "BOGUS", error: "bad payload" },
        { cmd: "relay", payload: "7", error: "out of range 0..1" },
        { cmd: "fan", payload: "ON", error: "unknown actuator" },
      ]);
      await sleep(300);
      expect(on(T + "state/relay", n), "a rejected command changes nothing").toEqual([]);
      // the retained state follows
      const r = await retained([T + "state/relay"], 1);
      expect(r.map((m) => [m.text, m.retain])).toEqual([["ON", true]]);
      expect(trouble()).toEqual([]);
    }, 30000);

    it("comes back after a broker restart on the same ports: online again, a command obeyed again", async () => {
      if (!b) throw new Error("not booted");
      await broker.down();
      const n = got.length;
      await sleep(3000); // a refused attempt or two meanwhile (connect() throws on Espruino)
      await broker.up();
      await until("online after the restart", () => on(T + "status", n).some((m) => m.text == "online"), 30000);
      // the states again (the broker lost its retained messages: no persistence), then the entities, then telemetry
      await until("the states and the entities again", () => on(T + "state/relay", n).length > 0 && mine(n).filter((m) => m.topic.startsWith("homeassistant/")).length >= 5);
      expect(on(T + "state/relay", n).map((m) => m.text)).toEqual(["ON"]);
      // (telemetry taken while the broker was down waits in the queue, with reconnects 0: the one after
      // the new "online" counts the reconnection)
      const back = got.findIndex((m, i) => i >= n && m.topic == T + "status" && m.text == "online");
      await until("telemetry after the restart", () => tele(back).length > 0);
      expect(tele(back)[0].reconnects).toBeGreaterThanOrEqual(1);
      const k0 = got.length;
      await peer.publishAsync(T + "cmd/relay", "OFF", { qos: 1 });
      await until("state/relay OFF", () => on(T + "state/relay", k0).some((m) => m.text == "OFF"));
      await until("2 more telemetry messages", () => tele(k0).length >= 2);
      console.log(`[firmware ${k.name}] after the broker restart: ${tele(n).map((t) => blocks(t.mem)).join(", ")}; ` +
        `refused connects printed: ${b.lines.filter((l) => /^ERROR: Connect failed/.test(l)).length}`);
      expect(trouble()).toEqual([]);
      expect(b.exited).toBeNull();
    }, 45000);
  });
});
