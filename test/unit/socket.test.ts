// src/net/socket.ts on Node's net against a real loopback server: close() lets what is still buffered
// (a DISCONNECT) go out before the FIN, destroys a socket the peer never closes, and holds no process open.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, connect, Server, Socket } from "node:net";
import { socketTransport } from "../../src/net/socket";
import type { MqttError } from "../../src/mqtt/errors";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let server: Server | null = null;
const peers: Socket[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  if (server) await new Promise((r) => server!.close(r));
  server = null;
});

async function listen(opts: { allowHalfOpen?: boolean }, onConn: (s: Socket) => void): Promise<number> {
  server = createServer(opts, (s) => { peers.push(s); onConn(s); });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return (server.address() as any).port;
}

/** open a link through socketTransport; `sock` is the Node socket under it */
async function open(port: number) {
  let sock: Socket | null = null;
  const closes: (MqttError | undefined)[] = [];
  let opened!: () => void;
  const ready = new Promise<void>((r) => (opened = r));
  const t = socketTransport({ connect: (o: any, cb: () => void) => (sock = connect(o, cb)) });
  const link = t("127.0.0.1", port, { open: () => opened(), data: () => {}, close: (e) => closes.push(e) });
  await ready;
  return { link, sock: sock!, closes };
}

describe("socketTransport close() on Node", () => {
  it("sends everything still buffered, then a clean FIN", async () => {
    let got = 0, ended = false, reset = false;
    const port = await listen({}, (s) => {
      s.pause(); // a slow reader: the client's writes pile up in its buffer
      s.on("data", (d) => { got += d.length; });
      s.on("end", () => { ended = true; });
      s.on("error", () => { reset = true; });
      setTimeout(() => s.resume(), 100);
    });
    const { link } = await open(port);
    const chunk = "\xe0".repeat(1 << 20), n = 8;
    for (let i = 0; i < n; i++) link.write(chunk);
    link.close!();
    for (let i = 0; i < 200 && !ended && !reset; i++) await sleep(10);
    expect(reset).toBe(false);
    expect(ended).toBe(true);
    expect(got).toBe(n << 20);
  });

  it("destroys a socket the peer does not close within about 1 s, and does not keep the process alive", async () => {
    const port = await listen({ allowHalfOpen: true }, () => {}); // never ends its side
    const { link, sock, closes } = await open(port);
    const t0 = Date.now();
    link.close!();
    expect((sock as any)._handle.hasRef()).toBe(false);
    for (let i = 0; i < 300 && !sock.destroyed; i++) await sleep(10);
    expect(sock.destroyed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    await sleep(20);
    expect(closes).toHaveLength(1);
  });
});
