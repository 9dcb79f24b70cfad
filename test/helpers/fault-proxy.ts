// A TCP proxy with faults, between a client and a broker, on a free 127.0.0.1 port.
//
//   const px = await startFaultProxy({ port: broker.port });
//   client -> 127.0.0.1:px.port -> proxy -> 127.0.0.1:broker.port
//   px.set({ cut: { dir: "up", after: 17 } });   // the next connection dies after 17 client bytes
//   px.set({ blackhole: true });                 // every link, old and new, goes silent
//   await px.stop();
//
// Directions: "up" is client -> broker, "down" is broker -> client. Offsets count the bytes of one
// connection in one direction, from 0.
// Faults, any mix (set() replaces the ones it names, applies to live links at once):
//  - split: every chunk is forwarded as 1-byte writes, each after the previous one was flushed
//    (plus `splitDelay` ms), so the peer reads it in pieces;
//  - delay: every chunk is held `delay` ms (order kept);
//  - cut: after `after` bytes of `dir` were forwarded the connection is cut: those bytes are flushed
//    with a FIN, the other side is destroyed (no more bytes either way). `times` connections get it
//    (default 1), later ones pass;
//  - blackhole: accept and stay silent: nothing is forwarded either way, nothing is closed. New
//    connections do not even reach the broker. Turned off, live links stay dead (bytes were lost),
//    new ones pass;
//  - corrupt: the byte at offset `at` of `dir` is XORed with `xor` (default 0xff), `times` connections.
// Every connection keeps what was forwarded each way (`record: true`, default) for tests that parse it.
import { createConnection, createServer, Server, Socket } from "node:net";

export type Dir = "up" | "down";

export interface Faults {
  split?: boolean;
  /** ms between 1-byte pieces when split (default 0: just after the previous one was flushed) */
  splitDelay?: number;
  /** ms every chunk is held */
  delay?: number;
  cut?: { dir: Dir; after: number; times?: number } | null;
  blackhole?: boolean;
  corrupt?: { dir: Dir; at: number; xor?: number; times?: number } | null;
}

export interface ProxyConn {
  /** 0, 1, 2... in accept order */
  n: number;
  /** bytes forwarded each way (binary strings), when recording */
  up: string;
  down: string;
  /** bytes seen each way (forwarded or not) */
  seenUp: number;
  seenDown: number;
  closed: boolean;
  /** "cut up@17" / "blackhole" / "corrupt down@5" / "client closed" / "broker closed" ... */
  why: string;
  /** destroy both sides at once */
  kill(): void;
}

export interface FaultProxy {
  port: number;
  set(f: Faults): void;
  faults(): Faults;
  /** every connection accepted so far */
  conns: ProxyConn[];
  /** connections still open */
  live(): number;
  /** Date.now() when the last chunk arrived from either side (0: none yet) */
  lastActivity(): number;
  /** wait until no byte has moved for `ms` (at most `max` ms) */
  quiet(ms: number, max?: number): Promise<void>;
  /** destroy every live connection (a link drop both peers see) */
  killAll(): void;
  /** wait until `n` connections were accepted */
  accepted(n: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

interface Leg { from: Socket; to: Socket | null; dir: Dir; chain: Promise<void> }

export async function startFaultProxy(o: { port: number; host?: string; record?: boolean } & Faults): Promise<FaultProxy> {
  const target = { host: o.host || "127.0.0.1", port: o.port };
  const record = o.record !== false;
  let f: Faults = { ...o };
  let cutLeft = f.cut ? f.cut.times ?? 1 : 0, corruptLeft = f.corrupt ? f.corrupt.times ?? 1 : 0;
  const conns: ProxyConn[] = [];
  let active = 0;
  const live = new Set<{ c: ProxyConn; client: Socket; broker: Socket | null }>();

  const server: Server = createServer({ noDelay: true } as any, (client) => {
    client.setNoDelay(true);
    const c: ProxyConn = {
      n: conns.length, up: "", down: "", seenUp: 0, seenDown: 0, closed: false, why: "",
      kill() { end("killed"); },
    };
    conns.push(c);
    // the faults this connection got when it was accepted (cut/corrupt are per connection)
    const cut = f.cut && cutLeft > 0 ? (cutLeft--, f.cut) : null;
    const corrupt = f.corrupt && corruptLeft > 0 ? (corruptLeft--, f.corrupt) : null;
    const hole = !!f.blackhole;
    let broker: Socket | null = null;
    const entry: { c: ProxyConn; client: Socket; broker: Socket | null } = { c, client, broker };
    live.add(entry);
    let dead = false; // after a cut or a blackhole: forward nothing more
    let ending: Socket | null = null; // the side a cut closes gracefully (its last bytes still flow)
    const sent = { up: 0, down: 0 };

    function end(why: string) {
      if (c.closed) return;
      c.closed = true;
      c.why = c.why || why;
      live.delete(entry);
      for (const s of [client, broker]) if (s && s != ending) s.destroy();
      if (ending) { const s = ending; setTimeout(() => s.destroy(), 1000).unref(); }
    }
    client.on("error", () => end("client error"));
    client.on("close", () => end("client closed"));
    if (hole) { c.why = "blackhole"; dead = true; }
    else {
      broker = createConnection(target);
      entry.broker = broker;
      broker.setNoDelay(true);
      broker.on("error", () => end("broker error"));
      broker.on("close", () => end("broker closed"));
    }

    const legs: Record<Dir, Leg> = {
      up: { from: client, to: broker, dir: "up", chain: Promise.resolve() },
      down: { from: broker!, to: client, dir: "down", chain: Promise.resolve() },
    };

    function write(to: Socket, bytes: string): Promise<void> {
      return new Promise((r) => {
        if (to.destroyed) return r();
        to.write(Buffer.from(bytes, "latin1"), () => r());
      });
    }
    const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

    // one chunk of `dir`, in order after the previous chunk of that direction
    async function forward(leg: Leg, chunk: string) {
      if (dead || f.blackhole) { dead = true; c.why = c.why || "blackhole"; return; }
      if (f.delay) await wait(f.delay);
      if (dead || f.blackhole) return;
      const to = leg.to!;
      let bytes = chunk, cutHere = false;
      const at = sent[leg.dir];
      if (corrupt && corrupt.dir == leg.dir && corrupt.at >= at && corrupt.at < at + bytes.length) {
        const i = corrupt.at - at;
        bytes = bytes.substring(0, i) + String.fromCharCode(bytes.charCodeAt(i) ^ (corrupt.xor ?? 0xff)) + bytes.substring(i + 1);
        c.why = c.why || `corrupt ${leg.dir}@${corrupt.at}`;
      }
      if (cut && cut.dir == leg.dir && at + bytes.length >= cut.after) {
        bytes = bytes.substring(0, cut.after - at);
        cutHere = true;
      }
      sent[leg.dir] += bytes.length;
      if (record) c[leg.dir] += bytes;
      if (f.split) for (let i = 0; i < bytes.length; i++) {
        await write(to, bytes.charAt(i));
        if (f.splitDelay) await wait(f.splitDelay); else await new Promise((r) => setImmediate(r));
      }
      else if (bytes.length) await write(to, bytes);
      if (cutHere) {
        dead = true;
        c.why = `cut ${leg.dir}@${cut!.after}`;
        // the bytes before the cut arrive, then FIN; the other side is gone at once
        ending = to;
        to.end();
        leg.from.destroy();
      }
    }
    function pump(leg: Leg) {
      leg.from.on("data", (d: Buffer) => {
        const s = d.toString("latin1");
        active = Date.now();
        if (leg.dir == "up") c.seenUp += s.length; else c.seenDown += s.length;
        leg.chain = leg.chain.then(() => forward(leg, s));
      });
    }
    if (hole) client.on("data", (d: Buffer) => { c.seenUp += d.length; active = Date.now(); });
    else {
      pump(legs.up);
      pump(legs.down);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as any).port as number;

  return {
    port,
    conns,
    set(x: Faults) {
      f = { ...f, ...x };
      if ("cut" in x) cutLeft = x.cut ? x.cut.times ?? 1 : 0;
      if ("corrupt" in x) corruptLeft = x.corrupt ? x.corrupt.times ?? 1 : 0;
    },
    faults: () => ({ ...f }),
    live: () => live.size,
    lastActivity: () => active,
    async quiet(ms: number, max = 5000) {
      const deadline = Date.now() + max;
      while (Date.now() - active < ms && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    },
    killAll() { for (const e of [...live]) e.c.kill(); },
    async accepted(n: number, ms = 5000) {
      const deadline = Date.now() + ms;
      while (conns.length < n) {
        if (Date.now() > deadline) throw new Error(`fault proxy: ${conns.length} connections accepted, waited for ${n}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop() {
      for (const e of [...live]) e.c.kill();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
