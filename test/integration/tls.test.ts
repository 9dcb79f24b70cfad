// TLS with the host board's transport (boards/host.ts: Node's tls through src/net/socket.ts) against
// Mosquitto with a throwaway CA made by openssl at test time: the right CA connects, a wrong CA or a
// wrong name fails with ETRANSPORT naming the certificate problem, client certificates work, and MQTT
// over secure websockets (our framing over the TLS transport) works too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { freePort, hasMosquitto, makeTestCerts, startMosquitto, Mosquitto, TestCerts } from "../helpers/mosquitto";
import { board } from "../../boards/host";
import { wsTransport } from "../../src/net/ws";
import { createClient, Client, ClientOptions } from "../../src/mqtt/client";
import type { Transport } from "../../src/mqtt/port";

function client(transport: Transport, port: number, o: Partial<ClientOptions> = {}): Client {
  return createClient({ host: "127.0.0.1", port, transport, clock: board.clock, reconnect: false, connectTimeout: 5000, ...o });
}

/** resolves with the first "connect" or rejects with the first "error" */
function outcome(c: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    c.on("connect", () => resolve());
    c.on("error", (e: any) => reject(e));
    c.connect();
  });
}

async function roundTrip(c: Client, topic: string) {
  const got = new Promise<string>((r) => c.on("message", (_t: string, p: string) => r(p)));
  await new Promise<void>((r, j) => c.subscribe(topic, { qos: 1 }, (e) => (e ? j(e) : r())));
  c.publish(topic, "over tls", { qos: 1 });
  expect(await got).toBe("over tls");
}

describe.skipIf(!hasMosquitto)("TLS with Mosquitto (host board)", () => {
  let certs: TestCerts, b: Mosquitto, mtls: Mosquitto, wssPort: number;
  const open: Client[] = [];
  const track = (c: Client) => (open.push(c), c);

  beforeAll(async () => {
    certs = makeTestCerts();
    wssPort = await freePort();
    b = await startMosquitto({
      tls: { certfile: certs.certFile, keyfile: certs.keyFile },
      // a secure websockets listener too
      extraConf: `listener ${wssPort} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\ncertfile ${certs.certFile}\nkeyfile ${certs.keyFile}`,
    });
    mtls = await startMosquitto({ tls: { certfile: certs.certFile, keyfile: certs.keyFile, cafile: certs.caFile, requireCertificate: true } });
  });
  afterAll(async () => {
    for (const c of open) c.end(true);
    if (b) await b.stop();
    if (mtls) await mtls.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("connects with the right CA and carries messages", async () => {
    const c = track(client(board.tls!({ ca: certs.ca }), b.tlsPort!, { clientId: "tls-ok" }));
    await outcome(c);
    await roundTrip(c, "mcu/tls");
  });

  it("refuses a server signed by another CA: ETRANSPORT naming the certificate problem", async () => {
    const c = track(client(board.tls!({ ca: certs.wrongCa }), b.tlsPort!, { clientId: "tls-wrong-ca" }));
    const e: any = await outcome(c).then(() => null, (x) => x);
    expect(e).not.toBeNull();
    expect(e.code).toBe("ETRANSPORT");
    expect(e.message).toMatch(/certificate/i);
    expect(e.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/);
    expect(c.connected).toBe(false);
  });

  it("refuses a certificate for another name", async () => {
    const c = track(client(board.tls!({ ca: certs.ca, servername: "mqtt.example.org" }), b.tlsPort!, { clientId: "tls-wrong-name" }));
    const e: any = await outcome(c).then(() => null, (x) => x);
    expect(e.code).toBe("ETRANSPORT");
    expect(e.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(e.message).toMatch(/mqtt\.example\.org/);
  });

  it("presents a client certificate where the broker requires one", async () => {
    const ok = track(client(board.tls!({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }), mtls.tlsPort!, { clientId: "tls-client-cert" }));
    await outcome(ok);
    await roundTrip(ok, "mcu/mtls");

    const none = track(client(board.tls!({ ca: certs.ca }), mtls.tlsPort!, { clientId: "tls-no-cert" }));
    const e: any = await outcome(none).then(() => null, (x) => x);
    expect(e).not.toBeNull();
    expect(e.code).toBe("ETRANSPORT");
  });

  it("carries MQTT over secure websockets (our framing over the TLS transport)", async () => {
    const c = track(client(wsTransport(board.tls!({ ca: certs.ca })), wssPort, { clientId: "wss-ok" }));
    await outcome(c);
    await roundTrip(c, "mcu/wss");
  });
});
