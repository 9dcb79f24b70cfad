// The embedded broker of npm start: aedes on 127.0.0.1, MQTT over TCP (the firmware, mosquitto_sub...)
// and over WebSocket (the page, MQTT Explorer...). stop() closes every client and both listeners.
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { WebSocketServer, createWebSocketStream } from "ws";
import { originAllowed } from "./origin";

export class PortInUseError extends Error {
  code = "EADDRINUSE";
}

/**
 * Listen on 127.0.0.1:port and resolve with the port. A port in use becomes a PortInUseError whose
 * message names what wanted it and the option that picks another (`hint`), not a stack trace.
 */
export function listen(server: Server | HttpServer, port: number, what: string, hint = ""): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      if (e.code === "EADDRINUSE") reject(new PortInUseError(`${what}: port ${port} on 127.0.0.1 is already in use${hint ? ` (${hint})` : ""}`));
      else if (e.code === "EACCES") reject(new Error(`${what}: no permission to listen on port ${port}${hint ? ` (${hint})` : ""}`));
      else reject(new Error(`${what}: cannot listen on 127.0.0.1:${port}: ${e.message}`));
    };
    const onListening = () => { server.off("error", onError); resolve((server.address() as { port: number }).port); };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, "127.0.0.1");
  });
}

/**
 * `port` given (a number): that port or a clear error. `port` null: `preferred`, or any free port when
 * that one is taken (`onFallback` says so).
 */
export async function listenPreferred(server: Server | HttpServer, port: number | null, preferred: number, what: string, hint: string,
  onFallback?: (msg: string) => void): Promise<number> {
  if (port !== null) return listen(server, port, what, hint);
  try { return await listen(server, preferred, what, hint); } catch (e) {
    if (!(e instanceof PortInUseError)) throw e;
    const p = await listen(server, 0, what, hint);
    onFallback?.(`${what}: port ${preferred} is in use, using ${p}`);
    return p;
  }
}

export interface EmbeddedBroker {
  port: number;
  wsPort: number;
  stop(): Promise<void>;
}

export interface BrokerOptions {
  /** TCP port; null: DEFAULT (1883) or any free one */
  port?: number | null;
  /** WebSocket port; null: DEFAULT (9001) or any free one */
  wsPort?: number | null;
  preferred?: { port: number; wsPort: number };
  onFallback?: (msg: string) => void;
  /** the page's web port: a browser may connect over WebSocket only from that page (no port: none may) */
  webPort?: number;
}

export async function startBroker(o: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const { Aedes } = await import("aedes");
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const tcp = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    aedes.handle(s);
  });
  const http = createHttpServer((_req, res) => { res.writeHead(426, { "content-type": "text/plain" }); res.end("MQTT over WebSocket only\n"); });
  const wss = new WebSocketServer({
    server: http,
    handleProtocols: (p) => (p.has("mqtt") ? "mqtt" : p.has("mqttv3.1") ? "mqttv3.1" : false),
    verifyClient: (info, done) => done(originAllowed(info.req.headers.origin, o.webPort), 403, "Forbidden"),
  });
  wss.on("connection", (ws) => {
    const stream = createWebSocketStream(ws);
    stream.on("error", () => stream.destroy()); // a page closed mid-frame: aedes sees the close
    aedes.handle(stream as any);
  });
  const pref = o.preferred || { port: 1883, wsPort: 9001 };
  const b: EmbeddedBroker = {
    port: 0, wsPort: 0,
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => aedes.close(() => r()));
      for (const s of sockets) s.destroy();
      http.closeAllConnections();
      await Promise.all([
        new Promise<void>((r) => (tcp.listening ? tcp.close(() => r()) : r())),
        new Promise<void>((r) => (http.listening ? http.close(() => r()) : r())),
      ]);
    },
  };
  try {
    b.port = await listenPreferred(tcp, o.port ?? null, pref.port, "embedded broker (MQTT)", "choose another with --mqtt-port N, or 0 for any free port", o.onFallback);
    b.wsPort = await listenPreferred(http, o.wsPort ?? null, pref.wsPort, "embedded broker (WebSocket)", "choose another with --ws-port N, or 0 for any free port", o.onFallback);
  } catch (e) {
    await b.stop();
    throw e;
  }
  return b;
}
