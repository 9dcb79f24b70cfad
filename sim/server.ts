// The page's web server on 127.0.0.1: the page itself, /api/info (what the board has), /api/input (set
// a simulated sensor), /api/events (server-sent events: pin levels, readings, diagnostics) and, when the
// broker speaks only TCP, /mqtt: MQTT over WebSocket bridged byte for byte to the broker.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import * as net from "node:net";
import { WebSocketServer, createWebSocketStream } from "ws";
import { listenPreferred } from "./broker";
import { originAllowed } from "./origin";

export interface PageFiles { html: string; css: string; js: string }

export interface WebOptions {
  /** null: 8080, or any free port when it is taken */
  port: number | null;
  preferred?: number;
  onFallback?: (msg: string) => void;
}

export interface Web {
  port: number;
  /** serve the page (503 "starting" until then) */
  ready(page: PageFiles, info: object, input: (name: string, value: number) => string | null): void;
  /** bridge /mqtt to this TCP broker */
  bridge(host: string, port: number): void;
  /** push one event to every page */
  broadcast(data: object): void;
  /** what a page gets first when it connects to /api/events */
  current: (() => object) | null;
  clients(): number;
  stop(): Promise<void>;
}

const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", css: "text/css; charset=utf-8", js: "text/javascript; charset=utf-8" };
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="3" y="3" width="10" height="10" rx="2" fill="#58a6ff"/><path d="M5 1v2M8 1v2M11 1v2M5 13v2M8 13v2M11 13v2M1 5h2M1 8h2M1 11h2M13 5h2M13 8h2M13 11h2" stroke="#8b98a5"/></svg>`;

/** Only requests addressed to this server by a loopback name: a web page elsewhere cannot reach the
 *  API through DNS rebinding. */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (!host) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase());
}

export async function startWeb(o: WebOptions): Promise<Web> {
  let page: PageFiles | null = null, info: object | null = null, input: ((n: string, v: number) => string | null) | null = null;
  let upstream: { host: string; port: number } | null = null, port = 0;
  const sse = new Set<ServerResponse>();

  const send = (res: ServerResponse, code: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
    res.writeHead(code, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff", ...extra });
    res.end(body);
  };
  const json = (res: ServerResponse, code: number, v: object) => send(res, code, "application/json", JSON.stringify(v));

  function handle(req: IncomingMessage, res: ServerResponse) {
    if (!hostAllowed(req.headers.host, port)) return send(res, 403, "text/plain", "use http://127.0.0.1:" + port + "/\n");
    const path = (req.url || "/").split("?")[0];
    if (path === "/favicon.svg" || path === "/favicon.ico") return send(res, 200, "image/svg+xml", ICON);
    if (!page || !info || !input) return send(res, 503, "text/plain", "the simulator is starting, reload in a moment\n", { "retry-after": "1" });
    if (req.method === "GET" && (path === "/" || path === "/index.html")) return send(res, 200, TYPES.html, page.html);
    if (req.method === "GET" && path === "/style.css") return send(res, 200, TYPES.css, page.css);
    if (req.method === "GET" && path === "/app.js") return send(res, 200, TYPES.js, page.js);
    if (req.method === "GET" && path === "/api/info") return json(res, 200, info);
    if (req.method === "GET" && path === "/api/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write("retry: 1000\n\n");
      if (w.current) res.write(`data: ${JSON.stringify(w.current())}\n\n`);
      sse.add(res);
      req.on("close", () => sse.delete(res));
      return;
    }
    if (req.method === "POST" && path === "/api/input") {
      // JSON only: a form on another site cannot send this without a CORS preflight, which fails
      if (!/^application\/json\b/.test(req.headers["content-type"] || "")) return json(res, 415, { error: "send application/json" });
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d) => { body += d; if (body.length > 4096) req.destroy(); });
      req.on("end", () => {
        let m: any;
        try { m = JSON.parse(body); } catch { return json(res, 400, { error: "not JSON" }); }
        const err = m && typeof m.name === "string" ? input!(m.name, m.value) : "expected {name, value}";
        return err ? json(res, 400, { error: err }) : json(res, 200, { ok: true });
      });
      return;
    }
    send(res, 404, "text/plain", "not found\n");
  }

  const server = createServer(handle);
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has("mqtt") ? "mqtt" : false) });
  server.on("upgrade", (req, socket, head) => {
    const path = (req.url || "").split("?")[0];
    if (!upstream || path !== "/mqtt" || !hostAllowed(req.headers.host, port)) { socket.destroy(); return; }
    // another site's page in the developer's browser must not reach the broker through this bridge
    if (!originAllowed(req.headers.origin, port)) { socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"); return; }
    const up = upstream;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const tcp = net.connect(up.port, up.host), stream = createWebSocketStream(ws);
      const close = () => { tcp.destroy(); stream.destroy(); };
      tcp.on("error", close); stream.on("error", close);
      tcp.on("close", close); stream.on("close", close);
      stream.pipe(tcp).pipe(stream);
    });
  });

  port = await listenPreferred(server, o.port, o.preferred ?? 8080, "web page", "choose another with --port N, or --port 0 for any free port", o.onFallback);

  const w: Web = {
    port,
    current: null,
    ready(p, i, fn) { page = p; info = i; input = fn; },
    bridge(host, p) { upstream = { host, port: p }; },
    broadcast(data) {
      const msg = `data: ${JSON.stringify(data)}\n\n`;
      for (const r of sse) r.write(msg);
    },
    clients: () => sse.size,
    async stop() {
      for (const r of sse) r.end();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); });
    },
  };
  return w;
}
