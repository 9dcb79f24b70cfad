// Shared by the reliability-*.test.ts suites: our client on a real socket, polling with deadlines,
// and a framer that splits a recorded byte stream into packets.
import * as net from "node:net";
import { createClient } from "../../src/index";
import { socketTransport } from "../../src/net/socket";
import { decode, isError, Packet, NAMES } from "../../src/mqtt/packets";
import type { Client, ClientOptions } from "../../src/mqtt/client";
import type { MqttError } from "../../src/mqtt/errors";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `cond` every 5 ms until it holds; throw `what` after `ms`. */
export async function until(cond: () => boolean, what: () => string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(5);
  }
}

let seq = 0;
export const uniq = (what: string) => `${what}${process.pid % 1000}-${++seq}`;

export interface Probe {
  c: Client;
  errs: MqttError[];
  events: string[];
  /** lines a device would log: every error message */
  lines: string[];
}

/** Our client (src/index.ts) over Node's net through src/net/socket.ts; not connected yet. */
export function probe(port: number, o: Partial<ClientOptions> = {}): Probe {
  const c = createClient({
    host: "127.0.0.1", port, transport: socketTransport(net), keepalive: 5, connectTimeout: 2000,
    reconnect: { min: 10, max: 50, stable: 1000 }, ...o,
  });
  const p: Probe = { c, errs: [], events: [], lines: [] };
  c.on("error", (e: MqttError) => { p.errs.push(e); p.lines.push(e.code + " " + e.message); });
  for (const ev of ["connect", "reconnect", "offline", "close", "end"]) c.on(ev, () => p.events.push(ev));
  return p;
}

/** A recorded byte stream -> whole packets (decoded with the codec's broker side), the rest unparsed. */
export function frames(b: string): { packets: Packet[]; rest: string; bad: string[] } {
  const packets: Packet[] = [], bad: string[] = [];
  let i = 0;
  for (;;) {
    if (i + 2 > b.length) break;
    let len = 0, mul = 1, j = i + 1, c = 0;
    do { c = b.charCodeAt(j++); len += (c & 127) * mul; mul *= 128; } while (c & 128 && j < b.length);
    if (c & 128 || j + len > b.length) break;
    const p = decode(b.charCodeAt(i), b.substring(j, j + len));
    if (isError(p)) bad.push(p.message); else packets.push(p);
    i = j + len;
  }
  return { packets, rest: b.substring(i), bad };
}

export const names = (ps: Packet[]) => ps.map((p) => NAMES[p.type] + (p.id ? ":" + p.id : "") + (p.type == 2 ? (p.sessionPresent ? ":sp" : ":new") : ""));

/** Run `fn` over `items`, `k` at a time. */
export async function pool<T>(items: T[], k: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < items.length) await fn(items[next++]); };
  await Promise.all(Array.from({ length: k }, worker));
}

/** p-th percentile of numbers (nearest rank) */
export function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** A figure for docs/reliability.md: printed as one greppable line. */
export function figure(name: string, value: any) {
  console.log(`[reliability] ${name}: ${typeof value == "string" ? value : JSON.stringify(value)}`);
}
