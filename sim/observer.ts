// The terminal's window on the broker: our own MQTT client (the same core the board runs, over Node's
// sockets) subscribed to everything the device publishes and receives.
import * as net from "node:net";
import { createClient, type Client } from "../src/mqtt/client";
import { socketTransport } from "../src/net/socket";
import { wsTransport } from "../src/net/ws";
import { decodeUtf8 } from "../src/mqtt/utf8";
import { timers } from "../src/index";
import type { BrokerUrl } from "./args";

export interface Observer {
  client: Client;
  /** resolves at the first CONNACK; rejects with a clear message when the broker cannot be reached */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export function observe(b: BrokerUrl, topics: string[], onMessage: (topic: string, text: string, retain: boolean) => void,
  o: { timeoutMs?: number; onLinkChange?: (up: boolean, why?: string) => void } = {}): Observer {
  const tcp = socketTransport(net);
  const client = createClient({
    host: b.host, port: b.port,
    transport: b.protocol === "ws" ? wsTransport(tcp, { path: b.path }) : tcp,
    clock: timers,
    clientId: "mqtt-mcu-sim-" + process.pid,
    keepalive: 30,
    reconnect: { min: 500, max: 5000 },
    connectTimeout: 5000,
  });
  let lastError = "", wasUp = false, ending = false;
  client.on("error", (e: any) => { lastError = e.message; });
  client.on("message", (topic: string, payload: string, p: any) => {
    const text = decodeUtf8(payload);
    onMessage(topic, text == null ? `(${payload.length} bytes, not UTF-8)` : text, !!(p && p.retain));
  });
  client.on("offline", () => { if (wasUp && !ending) o.onLinkChange?.(false, lastError); wasUp = false; });
  client.subscribe(topics, { qos: 0 });
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      reject(Object.assign(new Error(`cannot reach the broker at ${b.protocol}://${b.host}:${b.port}${b.path}` + (lastError ? ` (${lastError})` : "")), { user: true }));
    }, o.timeoutMs || 5000);
    client.on("connect", () => {
      clearTimeout(t);
      if (!wasUp && o.onLinkChange && lastError) o.onLinkChange(true);
      wasUp = true;
      resolve();
    });
  });
  ready.catch(() => {});
  client.connect();
  return {
    client, ready,
    stop: () => new Promise<void>((r) => {
      ending = true;
      const t = setTimeout(r, 1000);
      client.end(false, () => { clearTimeout(t); r(); });
    }),
  };
}
