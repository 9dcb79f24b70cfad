// TCP/TLS transport over a Node-style socket module: Espruino's `net`/`tls` and Node's share the
// shape connect({host, port, ...}, cb) -> socket with on("data"|"close"|"error") and write().
import { TRANSPORT, err, text } from "../mqtt/errors";
import type { Transport } from "../mqtt/port";

/** `mod` is require("net") or require("tls"); `extra` adds connect options (ca, cert, key...). */
export function socketTransport(mod: any, extra?: any): Transport {
  return function (host, port, ev) {
    var o: any = { host: host, port: port }, k: string;
    for (k in extra) o[k] = extra[k];
    // Espruino throws here on a refused connect or a DNS failure: the client catches it
    var s = mod.connect(o, ev.open);
    // Node: strings of byte chars, as Espruino gives; and no Nagle delay for small packets
    if (s.setEncoding) { s.setEncoding("latin1"); s.setNoDelay(true); }
    s.on("data", ev.data);
    s.on("error", function (e: any) { ev.close(err(TRANSPORT, "socket: " + text(e))); });
    s.on("close", function () { ev.close(); });
    return {
      // always a binary string: Espruino sends a Uint8Array as text like "65,0,255"
      write: function (d: string) { s.write(d, "latin1"); },
      // end(): what is still buffered (a DISCONNECT) goes out before the FIN. Node only (Espruino sockets
      // have no destroy): destroy a socket the peer has not closed after 1 s idle, and hold no process open
      close: function () {
        s.end();
        if (s.destroy) s.setTimeout(1000, s.destroy).unref();
      },
    };
  };
}
