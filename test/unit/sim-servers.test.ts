// The simulator's listeners (sim/broker.ts, sim/server.ts) on real loopback sockets: clear port-in-use
// errors, the preferred-port fallback, the embedded broker over TCP and WebSocket, the page's API, and
// stop() closing everything (ports refused afterwards).
import { afterEach, describe, expect, it } from "vitest";
import { createConnection, createServer, type Server } from "node:net";
import { request } from "node:http";
import { connectAsync } from "mqtt";
import WebSocket from "ws";
import { listen, listenPreferred, PortInUseError, startBroker } from "../../sim/broker";
import { hostAllowed, startWeb } from "../../sim/server";
import { originAllowed } from "../../sim/origin";

const refused = (port: number) => new Promise<boolean>((r) => {
  const c = createConnection(port, "127.0.0.1");
  c.on("connect", () => { c.destroy(); r(false); });
  c.on("error", () => r(true));
});
/** Open a WebSocket as a browser page at `origin` would (undefined: no Origin, as a non-browser client):
 *  "open", or the HTTP status of the refusal. */
const wsOpen = (url: string, origin?: string) => new Promise<string | number>((r) => {
  const ws = new WebSocket(url, "mqtt", origin === undefined ? {} : { origin });
  ws.on("open", () => { ws.terminate(); r("open"); });
  ws.on("unexpected-response", (_req, res) => { res.resume(); ws.terminate(); r(res.statusCode!); });
  ws.on("error", (e) => r(String(e.message)));
});
const cleanup: Array<() => unknown> = [];
afterEach(async () => { while (cleanup.length) await cleanup.pop()!(); });

async function busyPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as any).port;
}

describe("listen", () => {
  it("a port in use is a PortInUseError naming what wanted it and how to choose another", async () => {
    const port = await busyPort(), s: Server = createServer();
    const e = await listen(s, port, "web page", "use --port N").catch((x) => x);
    expect(e).toBeInstanceOf(PortInUseError);
    expect(e.message).toBe(`web page: port ${port} on 127.0.0.1 is already in use (use --port N)`);
    expect(s.listening).toBe(false);
  });

  it("listenPreferred: an explicit port or the error; no port: the preferred one, else any (said)", async () => {
    const port = await busyPort(), said: string[] = [];
    const a = createServer(), b = createServer();
    cleanup.push(() => new Promise((r) => a.close(r)), () => new Promise((r) => b.close(r)));
    await expect(listenPreferred(a, port, 1, "x", "h")).rejects.toThrow(/already in use/);
    const got = await listenPreferred(b, null, port, "thing", "h", (m) => said.push(m));
    expect(got).not.toBe(port);
    expect(said).toEqual([`thing: port ${port} is in use, using ${got}`]);
  });
});

describe("the embedded broker", () => {
  it("speaks MQTT over TCP and WebSocket on loopback, and stop() frees both ports", async () => {
    const b = await startBroker({ port: 0, wsPort: 0 });
    const tcp = await connectAsync({ host: "127.0.0.1", port: b.port, reconnectPeriod: 0 });
    const ws = await connectAsync(`ws://127.0.0.1:${b.wsPort}/mqtt`, { reconnectPeriod: 0 });
    await ws.subscribeAsync("a/#");
    const got = new Promise<string>((r) => ws.on("message", (t, p) => r(`${t}=${p}`)));
    await tcp.publishAsync("a/b", "hello", { retain: true });
    expect(await got).toBe("a/b=hello");
    await b.stop();
    expect(await refused(b.port)).toBe(true);
    expect(await refused(b.wsPort)).toBe(true);
    await tcp.endAsync(true);
    await ws.endAsync(true);
  });

  it("its WebSocket port takes browsers only from the simulator's page (Origin), and any non-browser client", async () => {
    const b = await startBroker({ port: 0, wsPort: 0, webPort: 8123 });
    cleanup.push(() => b.stop());
    const u = `ws://127.0.0.1:${b.wsPort}/mqtt`;
    expect(await wsOpen(u, "http://evil.example")).toBe(403);
    expect(await wsOpen(u, "http://127.0.0.1:8124")).toBe(403);
    expect(await wsOpen(u, "null")).toBe(403);
    expect(await wsOpen(u, "http://127.0.0.1:8123")).toBe("open");
    expect(await wsOpen(u, "http://localhost:8123")).toBe("open");
    expect(await wsOpen(u)).toBe("open");
    // a refused page reached no MQTT session: the broker still serves others
    const ws = await connectAsync(u, { reconnectPeriod: 0 });
    await ws.endAsync(true);
  });

  it("without the page's port no browser origin is taken", async () => {
    const b = await startBroker({ port: 0, wsPort: 0 });
    cleanup.push(() => b.stop());
    expect(await wsOpen(`ws://127.0.0.1:${b.wsPort}/mqtt`, "http://127.0.0.1:8080")).toBe(403);
    expect(await wsOpen(`ws://127.0.0.1:${b.wsPort}/mqtt`)).toBe("open");
  });

  it("an explicit port in use fails and leaves nothing listening", async () => {
    const port = await busyPort();
    await expect(startBroker({ port, wsPort: 0 })).rejects.toThrow(`embedded broker (MQTT): port ${port} on 127.0.0.1 is already in use (choose another with --mqtt-port N, or 0 for any free port)`);
  });
});

describe("the page's web server", () => {
  it("only answers to loopback host names (no DNS rebinding)", () => {
    expect(hostAllowed("127.0.0.1:8080", 8080)).toBe(true);
    expect(hostAllowed("localhost:8080", 8080)).toBe(true);
    expect(hostAllowed("[::1]:8080", 8080)).toBe(true);
    expect(hostAllowed("evil.example:8080", 8080)).toBe(false);
    expect(hostAllowed("127.0.0.1:8081", 8080)).toBe(false);
    expect(hostAllowed(undefined, 8080)).toBe(false);
  });

  it("WebSocket Origin: none (not a browser) or the page's own", () => {
    expect(originAllowed(undefined, 8080)).toBe(true);
    expect(originAllowed("http://127.0.0.1:8080", 8080)).toBe(true);
    expect(originAllowed("http://LOCALHOST:8080", 8080)).toBe(true);
    expect(originAllowed("http://evil.example", 8080)).toBe(false);
    expect(originAllowed("https://127.0.0.1:8080", 8080)).toBe(false);
    expect(originAllowed("http://127.0.0.1:8081", 8080)).toBe(false);
    expect(originAllowed("http://127.0.0.1:8080.evil.example", 8080)).toBe(false);
    expect(originAllowed("null", 8080)).toBe(false);
    expect(originAllowed("", 8080)).toBe(false);
    expect(originAllowed("http://127.0.0.1:8080", undefined)).toBe(false);
  });

  it("503 while starting; then the page, /api/info, /api/input (JSON only) and /api/events; stop() frees the port", async () => {
    const w = await startWeb({ port: 0 });
    const u = `http://127.0.0.1:${w.port}`;
    expect((await fetch(u + "/")).status).toBe(503);
    const inputs: Array<[string, number]> = [];
    w.ready({ html: "<p>hi</p>", css: "p{}", js: "1" }, { id: "x" }, (n, v) => (n === "t" ? (inputs.push([n, v]), null) : `no sensor "${n}"`));
    w.current = () => ({ first: true });
    expect(await (await fetch(u + "/")).text()).toBe("<p>hi</p>");
    expect((await fetch(u + "/app.js")).headers.get("content-type")).toMatch(/javascript/);
    expect(await (await fetch(u + "/api/info")).json()).toEqual({ id: "x" });
    expect((await fetch(u + "/nope")).status).toBe(404);
    const post = (body: string, type = "application/json") => fetch(u + "/api/input", { method: "POST", headers: { "content-type": type }, body });
    expect((await post(JSON.stringify({ name: "t", value: 3 }))).status).toBe(200);
    expect(inputs).toEqual([["t", 3]]);
    const bad = await post(JSON.stringify({ name: "q", value: 1 }));
    expect([bad.status, await bad.json()]).toEqual([400, { error: 'no sensor "q"' }]);
    expect((await post("name=t&value=1", "application/x-www-form-urlencoded")).status).toBe(415);
    expect((await post("{")).status).toBe(400);
    // fetch() may not set Host: a raw request, as a rebinding page's would arrive
    const status = await new Promise<number>((r) => request({ host: "127.0.0.1", port: w.port, path: "/api/info", headers: { host: "evil.example:" + w.port } },
      (res) => { res.resume(); r(res.statusCode!); }).end());
    expect(status).toBe(403);

    // server-sent events: the current state first, then broadcasts
    const ctl = new AbortController(), res = await fetch(u + "/api/events", { signal: ctl.signal });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader(), dec = new TextDecoder();
    let text = "";
    const until = async (s: string) => { while (!text.includes(s)) text += dec.decode((await reader.read()).value); };
    await until('data: {"first":true}');
    expect(w.clients()).toBe(1);
    w.broadcast({ outputs: { led: 1 } });
    await until('data: {"outputs":{"led":1}}');
    await w.stop();
    ctl.abort();
    expect(await refused(w.port)).toBe(true);
  });
});

describe("the WebSocket bridge (for a broker without WebSocket)", () => {
  it("/mqtt carries MQTT over WebSocket to the broker's TCP port, byte for byte", async () => {
    const b = await startBroker({ port: 0, wsPort: 0 });
    const w = await startWeb({ port: 0 });
    cleanup.push(() => b.stop(), () => w.stop());
    w.ready({ html: "", css: "", js: "" }, {}, () => null);
    w.bridge("127.0.0.1", b.port);
    const tcp = await connectAsync({ host: "127.0.0.1", port: b.port, reconnectPeriod: 0 });
    const ws = await connectAsync(`ws://127.0.0.1:${w.port}/mqtt`, { reconnectPeriod: 0 });
    await tcp.subscribeAsync("x");
    const got = new Promise<string>((r) => tcp.on("message", (_t, p) => r(p.toString("latin1"))));
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await ws.publishAsync("x", bytes, { qos: 1 });
    expect(await got).toBe(bytes.toString("latin1"));
    await ws.endAsync();
    await tcp.endAsync();
  });

  it("refuses other paths and other hosts", async () => {
    const w = await startWeb({ port: 0 });
    cleanup.push(() => w.stop());
    w.bridge("127.0.0.1", 1);
    await expect(connectAsync(`ws://127.0.0.1:${w.port}/other`, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });

  it("refuses a page from another site (Origin); takes the simulator's page and non-browser clients", async () => {
    const b = await startBroker({ port: 0, wsPort: 0 });
    const w = await startWeb({ port: 0 });
    cleanup.push(() => b.stop(), () => w.stop());
    w.ready({ html: "", css: "", js: "" }, {}, () => null);
    w.bridge("127.0.0.1", b.port);
    const u = `ws://127.0.0.1:${w.port}/mqtt`;
    expect(await wsOpen(u, "http://evil.example")).toBe(403);
    expect(await wsOpen(u, `http://127.0.0.1:${w.port + 1}`)).toBe(403);
    expect(await wsOpen(u, `http://127.0.0.1:${w.port}`)).toBe("open");
    expect(await wsOpen(u, `http://localhost:${w.port}`)).toBe("open");
    expect(await wsOpen(u)).toBe("open");
  });
});

