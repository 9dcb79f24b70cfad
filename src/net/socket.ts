// TCP/TLS transport over a Node-style socket module: Espruino's `net`/`tls` and Node's share the
// shape connect({host, port, ...}, cb) -> socket with on("data"|"close"|"error") and write().
// Nothing is made per link but the socket and what it holds: the socket keeps its link's events as
// `ev` and is itself the link (with a `close` of ours); the listeners are module-level functions
// (`this` is the socket in Espruino's, Node's and IoT.js's listeners and connect callback).
import { TRANSPORT, err } from "../mqtt/errors";
import type { Transport } from "../mqtt/port";

// data (a string) and connect (Espruino passes the socket, Node nothing)
function onIn(this: any, d?: any) { var v = this.ev; if (v) typeof d == "string" ? v.data(d) : v.open(); }
// error (a reason) and close: after the first of them (Node sends both) the link is gone
function onEnd(this: any, e?: any) {
  var v = this.ev;
  if (v) { this.ev = 0; v.close(e && e.message != null ? err(TRANSPORT, "socket: " + e.message) : e && e !== true ? err(TRANSPORT, "socket: " + e) : undefined); }
}
// Link.close: end() lets what is still buffered (a DISCONNECT) go out before the FIN. Node only
// (Espruino sockets have no destroy): destroy a socket the peer has not closed after 1 s idle, and hold
// no process open
function close(this: any) {
  this.end();
  if (this.destroy) this.setTimeout(1000, this.destroy).unref();
}

/** `mod` is require("net") or require("tls"); `extra` adds connect options (ca, cert, key...). */
export function socketTransport(mod: any, extra?: any): Transport {
  return function (host, port, ev) {
    var o: any = { host: host, port: port }, k: string, s: any;
    for (k in extra) o[k] = extra[k];
    // Espruino throws here on a refused connect or a DNS failure: the client catches it
    s = mod.connect(o, onIn);
    s.ev = ev;
    s.close = close;
    // Node: strings of byte chars both ways (writes too: Espruino sends a Uint8Array as text like
    // "65,0,255", so the core only ever writes binary strings), and no Nagle delay for small packets
    if (s.setEncoding) { s.setEncoding("latin1"); s.setDefaultEncoding("latin1"); s.setNoDelay(true); }
    s.on("data", onIn);
    s.on("error", onEnd);
    s.on("close", onEnd);
    return s;
  };
}
