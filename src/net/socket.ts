// TCP/TLS transport over a Node-style socket module: Espruino's `net`/`tls` and Node's share the
// shape connect({host, port, ...}, cb) -> socket with on("data"|"close"|"error") and write().
// Nothing is made per link but the socket and what it holds: the socket keeps its link's events as
// `ev` and is itself the link (with a `close` of ours); the listeners are shared functions (`this` is
// the socket in Espruino's, Node's and IoT.js's listeners and connect callback): the client's decoder
// for data (LinkEvents.dd), and onSocket.
import { err, TRANSPORT } from "../mqtt/errors";
import type { Link, LinkEvents, Transport } from "../mqtt/port";

declare const __ESPRUINO__: boolean;

// One listener for the socket's events, told apart by what they pass (one function, not four: each is
// RAM on Espruino): data a string (when the events cannot take it directly); close a boolean (had an
// error); error an object with a message; connect nothing (Node) or the socket itself (Espruino). After
// the first of error and close (Node sends both) the link is gone: the other says nothing, and data
// goes nowhere.
// (Its argument and the transport's are read from `arguments`: a declared parameter is a block of the
// device's RAM for as long as the function lives.)
function onSocket(this: any) {
  var v = this.ev, x = arguments[0];
  if (!v) return;
  if (typeof x == "string") v.data(x);
  else if (x == null || x == this) { this.removeAllListeners("connect"); v.open(); } // (the listener held on the socket: 2 blocks)
  else { this.ev = 0; v.close(x === !!x ? undefined : err(TRANSPORT, "socket: ", null, x)); }
}

/** The TCP transport: a Transport as it is (no closure: one function of the module serves every
 *  client), over require("net"); or, called by socketTransport's, over its `mod` with its `extra`. */
export function tcp(host: string, port: number, ev: LinkEvents, mod?: any, extra?: any): Link;
export function tcp(): any {
  var a = arguments, mod = a[3] || __REQUIRE__("net"), extra = a[4], o: any = { host: a[0], port: a[1] }, ev = a[2], k: string, s: any;
  for (k in extra) o[k] = extra[k];
  // Espruino throws here on a refused connect or a DNS failure: the client catches it
  s = mod.connect(o, onSocket);
  s.ev = ev;
  // Link.close: the client calls the socket's own end() (Espruino's: a copy of it as `close` would be 5
  // blocks), which lets what is still buffered (a DISCONNECT) go out before the FIN. Node's sockets (only
  // they have destroy; the function is made for them only): also destroy a socket the peer has not
  // closed after 1 s idle, and hold no process open; strings of byte chars both ways (writes too:
  // Espruino sends a Uint8Array as text like "65,0,255", so the core only ever writes binary strings),
  // and no Nagle delay for small packets. (__ESPRUINO__: a firmware build for an Espruino board leaves
  // this out)
  if (!(typeof __ESPRUINO__ != "undefined" && __ESPRUINO__)) {
    if (s.destroy) {
      s.close = function () { s.end(); s.setTimeout(1000, s.destroy).unref(); };
      s.setEncoding("latin1"); s.setDefaultEncoding("latin1"); s.setNoDelay(true);
    }
  }
  // the bytes straight into the client's decoder where its events allow it (LinkEvents.dd)
  s.on("data", ev.dd ? ev.data : onSocket);
  s.on("error", onSocket);
  s.on("close", onSocket);
  return s;
}

/** A socket transport over `mod`, a module with Espruino's / Node's net.connect(options, cb) (require("tls"),
 *  a wrapper...); `extra` adds connect options (ca, cert, key...). */
export function socketTransport(mod: any, extra?: any): Transport {
  return function (host, port, ev) { return tcp(host, port, ev, mod, extra); };
}
