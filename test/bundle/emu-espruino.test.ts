// The Espruino emulation itself (emu/espruino.ts): each trap it promises, checked, so the
// bundle tests that rely on it prove what they claim.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createServer, Server, Socket } from "node:net";
import { createServer as createTlsServer, TLSSocket } from "node:tls";
import { readFileSync, rmSync } from "node:fs";
import { createEspruino, Espruino } from "../../emu/espruino";
import { freePort } from "../helpers/mosquitto";
import { makeTestCerts, TestCerts } from "../helpers/certs";

let emu: Espruino | null = null;
const servers: Server[] = [];
afterEach(async () => {
  emu?.dispose();
  emu = null;
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** a TCP server on 127.0.0.1 that records what it receives */
async function server(onConn?: (s: Socket) => void) {
  const got: Buffer[] = [], conns: Socket[] = [];
  const srv = createServer((s) => { conns.push(s); s.on("data", (d) => got.push(d)); s.on("error", () => {}); onConn?.(s); });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as any).port as number, got: () => Buffer.concat(got), conns };
}

describe("language traps", () => {
  it("Array.prototype.slice/push and String.prototype.* read undefined; instances keep their methods", async () => {
    emu = await createEspruino();
    expect(emu.eval("[typeof Array.prototype.slice, typeof Array.prototype.push, typeof Array.prototype.indexOf]")).toEqual(["undefined", "undefined", "function"]);
    expect(emu.eval("[].slice.call([1,2,3], 1)")).toEqual([2, 3]);
    expect(emu.eval("var a = []; a.push(4); a")).toEqual([4]);
    expect(emu.eval("[typeof String.prototype.charCodeAt, typeof String.prototype.substring]")).toEqual(["undefined", "undefined"]);
    expect(emu.eval("'ab'.charCodeAt(1) + 'xyz'.substring(1)")).toBe("98yz");
    expect(emu.eval("[[] instanceof Array, Array.isArray([]), new Array(3).length, Array(1, 2).length, String(12), typeof new String('a')]")).toEqual([true, true, 3, 2, "12", "object"]);
    expect(emu.eval("String.fromCharCode(65, 0, 255).length")).toBe(3);
  });

  it("no ES2015+ built-ins the bundle must not use; errors are not instanceof Error and have no name", async () => {
    emu = await createEspruino();
    expect(emu.eval("[typeof Map, typeof Set, typeof Symbol, typeof Object.freeze, typeof Array.from, typeof Reflect]")).toEqual(Array(6).fill("undefined"));
    expect(emu.eval("var e; try { null.x } catch (x) { e = x } [e instanceof Error, e.name === undefined, typeof e.message]")).toEqual([false, true, "string"]);
    expect(emu.eval("new Error('m').message")).toBe("m");
  });

  // observed on Espruino 2v29 for Linux (ESPR_UNICODE_SUPPORT): h = ""; h += d.charAt(0) gives C2 82 for 0x82
  it("espruino-linux: charAt of a byte >= 0x80 appends as its 2 UTF-8 bytes (a warning); substr does not; ESP builds neither", async () => {
    const code = `var d = String.fromCharCode(0x82, 0x41, 0xff), h = ""; h += d.charAt(0); h += d.charAt(1); h += d.substr(2, 1);
      var r = []; for (var i = 0; i < h.length; i++) r.push(h.charCodeAt(i)); r`;
    emu = await createEspruino();
    expect(emu.eval(code)).toEqual([0xc2, 0x82, 0x41, 0xff]);
    expect(emu.warnings).toEqual([expect.stringMatching(/^charAt\(\) of a byte >= 0x80 gives a UTF-8 string/)]);
    emu.dispose();
    emu = await createEspruino({ board: "esp32" });
    expect(emu.eval(code)).toEqual([0x82, 0x41, 0xff]);
    expect(emu.warnings).toEqual([]);
  });

  // observed on Espruino 2v29: new Uint8Array(7).subarray(0, 200).length is 200, reading 0 past the data
  it("typed arrays: subarray does not clamp its end; past the data it reads 0 (a warning), E.toString of it throws", async () => {
    emu = await createEspruino({ board: "esp8266" });
    expect(emu.eval(`var u = new Uint8Array([0, 1, 0x7f, 0x80, 0xfe, 0xff, 0]), v = u.subarray(0, 200);
      [v.length, v[3], v[6], v[7], v[199], String.fromCharCode.apply(null, v).length, u.subarray(2, 4).length, u.subarray(-2).length,
       u.subarray(5, 3).length, u.subarray(0, -1).length, u.subarray(9, 12).length]`)).toEqual([200, 0x80, 0, 0, 0, 200, 2, 2, 0, 6, 3]);
    expect(emu.warnings).toEqual([expect.stringMatching(/^subarray\(begin, end\) with end past the array's length/)]);
    // a view of a bigger buffer: the bytes after it
    expect(emu.eval(`var b = new Uint8Array([9, 8, 7, 6, 5]), w = new Uint8Array(b.buffer, 1, 2).subarray(0, 4); w[3] = 4; [w.length, w[2], b[4]]`)).toEqual([4, 6, 4]);
    expect(emu.eval(`var r; try { E.toString(v) } catch (e) { r = e.message } r`)).toMatch(/never returns/);
    expect(emu.eval(`E.toString(u.subarray(1, 3)) == "\\x01\\x7f"`)).toBe(true);
  });

  it("strict: false keeps QuickJS as it is", async () => {
    emu = await createEspruino({ strict: false });
    expect(emu.eval("[typeof Map, typeof Array.prototype.slice]")).toEqual(["function", "function"]);
  });
});

describe("timers", () => {
  it("ids are reused, a fired timeout is gone (clearing it throws 'Unknown Timeout'), clearTimeout() clears all", async () => {
    emu = await createEspruino({ fakeTime: true });
    emu.eval("var log = []; var a = setTimeout(function () { log.push('a') }, 10); var b = setTimeout(function () { log.push('b') }, 20);");
    expect(emu.eval("[a, b]")).toEqual([1, 2]);
    await emu.run(30);
    expect(emu.eval("log")).toEqual(["a", "b"]);
    expect(emu.eval("setTimeout(function () {}, 1000)")).toBe(1); // no timers left: ids start again at 1
    expect(emu.eval("var r; try { clearTimeout(b) } catch (e) { r = e.message } r")).toBe("Unknown Timeout");
    emu.eval("setInterval(function () {}, 5); clearTimeout()");
    expect(emu.warnings.join()).toMatch(/clears EVERY timer/);
    expect(emu.eval("var r; try { clearInterval(1) } catch (e) { r = e.message } r")).toBe("Unknown Interval");
  });

  it("a timeout is removed after its callback: inside it, its id is still taken", async () => {
    emu = await createEspruino({ fakeTime: true });
    emu.eval("var inner; setTimeout(function () { inner = setTimeout(function () {}, 5); clearTimeout(1); }, 5)");
    await emu.run(6);
    expect(emu.eval("inner")).toBe(2);
    expect(emu.uncaught).toEqual([]);
  });

  it("fake time jumps over idle periods; intervals, changeInterval, arguments, Date.now and getTime follow it", async () => {
    emu = await createEspruino({ fakeTime: { start: 1000000 } });
    emu.eval("var n = 0, args; var iv = setInterval(function () { n++ }, 1000); setTimeout(function (x, y) { args = [x, y] }, 60000, 1, 'b');");
    const t0 = Date.now();
    await emu.run(60000);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(emu.eval("[n, args, Date.now(), getTime(), new Date().getTime()]")).toEqual([60, [1, "b"], 1060000, 1060, 1060000]);
    emu.eval("changeInterval(iv, 10000)");
    await emu.run(30000);
    expect(emu.eval("n")).toBe(63);
  });

  it("an exception in a callback is 'Uncaught' and the next callbacks still run", async () => {
    emu = await createEspruino({ fakeTime: true });
    emu.eval("var ok = 0; setTimeout(function () { null.x }, 1); setTimeout(function () { ok = 1 }, 2);");
    await emu.run(5);
    expect(emu.eval("ok")).toBe(1);
    expect(emu.uncaught.length).toBe(1);
    expect(emu.console.join("\n")).toMatch(/Uncaught .*null/);
  });

  it("a runaway callback is interrupted", async () => {
    emu = await createEspruino({ fakeTime: true, cpuLimitMs: 200 });
    emu.eval("setTimeout(function () { for (;;); }, 1)");
    await emu.run(5);
    expect(emu.uncaught.join()).toMatch(/interrupted/);
  });
});

describe("net", () => {
  it("bytes arrive as binary strings; a string is written as bytes", async () => {
    const srv = await server((s) => s.write(Buffer.from([0, 1, 0x7f, 0x80, 0xff, 0x41])));
    emu = await createEspruino();
    emu.eval(`var got = "", opened = 0; var s = require("net").connect({host: "127.0.0.1", port: ${srv.port}}, function () { opened++; this.write("\\u0000\\u00ff\\u0080A"); });
      s.on("data", function (d) { got += d; });`);
    await emu.runUntil(() => emu!.eval("got.length") === 6, 3000, "data");
    expect(emu.eval("[opened, got.charCodeAt(0), got.charCodeAt(3), got.charCodeAt(4), typeof got]")).toEqual([1, 0, 0x80, 0xff, "string"]);
    await emu.runUntil(() => srv.got().length === 4, 3000, "bytes at the server");
    expect([...srv.got()]).toEqual([0, 0xff, 0x80, 0x41]);
    expect(emu.warnings).toEqual([]);
  });

  it("a Uint8Array, an Array or an ArrayBuffer is written as TEXT, like Espruino", async () => {
    const srv = await server();
    emu = await createEspruino();
    emu.eval(`var s = require("net").connect({host: "127.0.0.1", port: ${srv.port}}, function () {
      s.write(new Uint8Array([65, 0, 255])); s.write("|"); s.write([1, 2]); s.write("|"); s.write(new Uint8Array([7]).buffer); });`);
    await emu.runUntil(() => srv.got().length >= 13, 3000, "text at the server");
    expect(srv.got().toString("latin1")).toBe("65,0,255|1,2|7");
    expect(emu.warnings.length).toBe(3);
  });

  it("server close: 'end' then 'close'(false); then write throws 'This socket is closed'", async () => {
    const srv = await server((s) => setTimeout(() => s.end(), 20));
    emu = await createEspruino();
    emu.eval(`var ev = []; var s = require("net").connect({host: "127.0.0.1", port: ${srv.port}});
      s.on("end", function () { ev.push("end") }); s.on("close", function (e) { ev.push("close:" + e) }); s.on("error", function () { ev.push("error") });`);
    await emu.runUntil(() => emu!.eval("ev.length") === 2, 3000, "end + close");
    expect(emu.eval("ev")).toEqual(["end", "close:false"]);
    expect(emu.eval("var r; try { s.write('x') } catch (e) { r = e.message } r")).toBe("This socket is closed");
  });

  it("connect() THROWS on a refused connection and on an unknown host", async () => {
    emu = await createEspruino();
    const port = await freePort();
    expect(emu.eval(`var r; try { require("net").connect({host: "127.0.0.1", port: ${port}}) } catch (e) { r = e.message } r`)).toBe("Unable to create socket");
    expect(emu.eval(`var r; try { require("net").connect({host: "no.such.host", port: 1}) } catch (e) { r = e.message } r`)).toBe("Unable to locate host");
    expect(emu.stats.refused).toBe(1);
  });

  it("end() closes; the VM sees 'close'; a dropped network shows as 'close' only", async () => {
    const srv = await server();
    emu = await createEspruino();
    emu.eval(`var ev = []; function mk() { var s = require("net").connect({host: "localhost", port: ${srv.port}});
      s.on("end", function () { ev.push("end") }); s.on("close", function (e) { ev.push("close") }); return s; }
      var s1 = mk();`);
    await emu.runUntil(() => srv.conns.length === 1, 3000, "accepted");
    emu.eval("s1.end()");
    await emu.runUntil(() => emu!.eval("ev.indexOf('close') >= 0"), 3000, "close after end()");
    emu.eval("ev = []; var s2 = mk();");
    await emu.runUntil(() => srv.conns.length === 2, 3000, "accepted");
    emu.dropConnections();
    await emu.runUntil(() => emu!.eval("ev.length") > 0, 3000, "close after drop");
    expect(emu.eval("ev")).toEqual(["close"]);
  });
});

// Espruino 2v29 (libs/network/network.c + its mbedtls, built without a PEM parser), observed on the Linux
// build: PEM (with or without a trailing NUL) throws from tls.connect; DER as a binary string, a Uint8Array
// or a function's result connects; a short string is a file name; the server is never verified.
describe("tls", () => {
  let certs: TestCerts;
  const b64 = (pem: string) => pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  /** a TLS echo-less server that answers "hi" and records the client certificate's CN */
  async function tlsServer(requestCert = false) {
    certs ??= makeTestCerts();
    const peers: string[] = [];
    const srv = createTlsServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile), ca: certs.ca, requestCert, rejectUnauthorized: false },
      (s: TLSSocket) => { peers.push((s.getPeerCertificate() as any)?.subject?.CN || ""); s.on("error", () => {}); s.write("hi"); });
    servers.push(srv as any);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    return { port: (srv.address() as any).port as number, peers };
  }
  /** tls.connect with `opts` (VM source) in the VM: the message it throws, or "" when it connected and got "hi" */
  async function attempt(port: number, opts: string) {
    emu!.eval(`var got = "", thrown = null; try { require("tls").connect({host: "127.0.0.1", port: ${port}, ${opts}}, function () {})
      .on("data", function (d) { got += d; }); } catch (e) { thrown = e.message; }`);
    if (emu!.eval("thrown") !== null) return emu!.eval("thrown");
    await emu!.runUntil(() => emu!.eval("got") === "hi", 5000, "TLS data");
    return "";
  }
  afterAll(() => { if (certs) rmSync(certs.dir, { recursive: true, force: true }); });

  it("PEM is refused as Espruino's mbedtls refuses it: connect() throws", async () => {
    const srv = await tlsServer();
    emu = await createEspruino();
    emu.eval(`var CA = ${JSON.stringify(certs.ca)}, CERT = ${JSON.stringify(certs.clientCert)}, KEY = ${JSON.stringify(certs.clientKey)};
      var DCA = atob("${b64(certs.ca)}"), DCERT = atob("${b64(certs.clientCert)}");`);
    expect(await attempt(srv.port, "ca: CA")).toBe("HTTPS init failed! mbedtls_x509_crt_parse of 'ca': Invalid format");
    expect(await attempt(srv.port, `ca: CA + "\\0"`)).toBe("HTTPS init failed! mbedtls_x509_crt_parse of 'ca': Invalid format");
    expect(await attempt(srv.port, "ca: DCA, cert: CERT, key: KEY")).toBe("HTTPS init failed! mbedtls_x509_crt_parse of 'cert': Invalid format");
    expect(await attempt(srv.port, "ca: DCA, cert: DCERT, key: KEY")).toBe("HTTPS init failed! mbedtls_pk_parse_key: Invalid format");
  });

  it("a string of at most 100 chars is a file name: a PEM file is read and decoded (Linux), a missing one throws", async () => {
    const srv = await tlsServer();
    emu = await createEspruino({ files: { "/etc/mqtt/ca.pem": certs.ca } });
    expect(await attempt(srv.port, `ca: "/etc/mqtt/ca.pem"`)).toBe("");
    expect(await attempt(srv.port, `ca: "ca.pem"`)).toBe("Could not open file : UNKNOWN");
    expect(emu.console).toContain('WARNING: File "ca.pem" not found');
  });

  it("DER is accepted (binary string, Uint8Array, a function's result); the server is not verified", async () => {
    const srv = await tlsServer();
    emu = await createEspruino();
    emu.eval(`var DCA = atob("${b64(certs.ca)}"), WRONG = atob("${b64(certs.wrongCa)}");`);
    expect(await attempt(srv.port, "ca: DCA")).toBe("");
    expect(await attempt(srv.port, "ca: E.toUint8Array(DCA)")).toBe("");
    expect(await attempt(srv.port, "ca: function () { return DCA; }")).toBe("");
    expect(await attempt(srv.port, "ca: WRONG")).toBe(""); // Espruino runs mbedtls with MBEDTLS_SSL_VERIFY_NONE
    expect(emu.warnings).toEqual([]);
  });

  it("a DER client certificate and key are presented", async () => {
    const srv = await tlsServer(true);
    emu = await createEspruino();
    emu.eval(`var DCERT = atob("${b64(certs.clientCert)}"), DKEY = atob("${b64(certs.clientKey)}");`);
    expect(await attempt(srv.port, "cert: DCERT, key: DKEY")).toBe("");
    expect(srv.peers).toEqual(["client"]);
  });
});

describe("WiFi (ESP boards)", () => {
  it("espruino-linux has no Wifi module", async () => {
    emu = await createEspruino({ board: "espruino-linux" });
    expect(emu.eval(`var r; try { require("Wifi") } catch (e) { r = e.message } r`)).toBe("Module Wifi not found");
  });

  it("connect -> 'connected' + callback; sockets need the link; a drop closes them and the station retries", async () => {
    const srv = await server();
    emu = await createEspruino({ board: "esp8266", fakeTime: true, wifi: { ssid: "ap", password: "pw" } });
    emu.eval(`var W = require("Wifi"), ev = [], cb = [];
      W.on("connected", function (d) { ev.push("up " + d.ip) }); W.on("disconnected", function (d) { ev.push("down") });
      var s0 = require("net").connect({host: "127.0.0.1", port: ${srv.port}});`);
    expect(emu.console.join()).toMatch(/Not connected to the internet/);
    expect(emu.eval("W.getIP().ip")).toBe(undefined);
    emu.eval(`W.connect("ap", {password: "pw"}, function (e) { cb.push(e) })`);
    await emu.run(1000);
    expect(emu.eval("[ev, cb, W.getIP().ip, W.getIP().mac, W.getDetails().status]")).toEqual([["up 192.168.1.50"], [null], "192.168.1.50", "5c:cf:7f:00:00:01", "connected"]);
    emu.eval(`var closed = 0, s = require("net").connect({host: "127.0.0.1", port: ${srv.port}}); s.on("close", function () { closed++ });`);
    await emu.runUntil(() => srv.conns.length === 1, 3000, "accepted");
    emu.wifi.drop();
    await emu.run(1000);
    expect(emu.eval("[ev, closed]")).toEqual([["up 192.168.1.50", "down"], 1]);
    emu.wifi.restore();
    await emu.run(1000);
    expect(emu.eval("ev")).toEqual(["up 192.168.1.50", "down", "up 192.168.1.50"]);
  });

  it("a wrong password gives 'Bad password'", async () => {
    emu = await createEspruino({ board: "esp32", fakeTime: true, wifi: { ssid: "ap", password: "pw" } });
    emu.eval(`var cb = []; require("Wifi").connect("ap", {password: "nope"}, function (e) { cb.push(e) })`);
    await emu.run(1000);
    expect(emu.eval("cb")).toEqual(["Bad password"]);
  });
});

describe("pins", () => {
  it("outputs are visible to the host, inputs settable by it; reading an auto-mode pin makes it an input", async () => {
    emu = await createEspruino({ board: "esp32" });
    emu.eval("digitalWrite(D5, 1); digitalWrite('D12', true); analogWrite(D14, 0.25, {freq: 1000});");
    expect([emu.pins.get("D5"), emu.pins.get("D12"), emu.pins.mode("D5"), emu.pins.pwm("D14")]).toEqual([1, 1, "output", { duty: 0.25, freq: 1000 }]);
    emu.pins.set("D4", 1);
    emu.pins.setAnalog("D34", 0.5);
    expect(emu.eval("[digitalRead(D4), D4.read(), analogRead(D34)]")).toEqual([1, true, 0.5]);
    expect(emu.eval("digitalRead(D5)")).toBe(0); // auto mode: switched to input, nothing drives it
    expect(emu.pins.mode("D5")).toBe("input");
    emu.eval("pinMode(D13, 'output'); digitalWrite(D13, 1);");
    expect(emu.eval("digitalRead(D13)")).toBe(1); // forced mode: stays an output
    expect(emu.eval(`var r; try { digitalWrite("D99", 1) } catch (e) { r = e.message } r`)).toMatch(/Invalid pin/);
    expect(emu.pins.log.filter((e) => e.pin === "D5").map((e) => e.op + ":" + e.value)).toEqual(["write:1", "mode:input"]);
  });

  it("setWatch: edges, debounce, repeat; clearWatch", async () => {
    emu = await createEspruino({ board: "espruino-linux", fakeTime: true });
    emu.eval(`var ev = []; pinMode(D4, "input_pullup");
      var w = setWatch(function (e) { ev.push(e.state + "@" + Math.round(e.time * 1000)) }, D4, {repeat: true, edge: "both", debounce: 50});
      var once = setWatch(function (e) { ev.push("rising") }, D17, {edge: "rising"});`);
    const t0 = emu.now();
    emu.pins.set("D4", 1);
    await emu.run(10);
    emu.pins.set("D4", 0); // bounce
    await emu.run(10);
    emu.pins.set("D4", 1);
    await emu.run(100);
    expect(emu.eval("ev")).toEqual([`true@${t0 + 70}`]);
    emu.pins.set("D17", 1); emu.pins.set("D17", 0); emu.pins.set("D17", 1);
    await emu.run(10);
    expect(emu.eval("ev.length")).toBe(2);
    emu.eval("clearWatch(w)");
    expect(emu.eval(`var r; try { clearWatch(w) } catch (e) { r = e.message } r`)).toBe("Unknown Watch");
  });

  it("esp8266: A0 is the analog pin and NodeMCU names map to GPIOs", async () => {
    emu = await createEspruino({ board: "esp8266" });
    emu.pins.setAnalog("A0", 0.75);
    expect(emu.eval("[analogRead(A0), String(NodeMCU.D1)]")).toEqual([0.75, "D5"]);
    expect(emu.eval("analogRead(D5)")).toBeNaN(); // not an ADC
    expect(emu.warnings.join()).toMatch(/not an ADC/);
  });
});

describe("Storage, E, process, memory", () => {
  it("Storage keeps binary strings and JSON in a host-visible map; long names throw", async () => {
    emu = await createEspruino({ storage: { "pre": "x" } });
    emu.eval(`var S = require("Storage"); S.write("bin", "\\u0000\\u00ff"); S.writeJSON("j", {a: 1}); S.write("p", "AB", 0, 4); S.write("p", "CD", 2);`);
    expect(emu.storage.get("bin")).toBe("\x00\xff");
    expect(emu.eval(`[S.read("pre"), S.readJSON("j").a, S.read("p"), S.read("nope") === undefined, S.readJSON("nope", true) === undefined, S.list().length]`)).toEqual(["x", 1, "ABCD", true, true, 4]);
    expect(emu.eval(`var r; try { S.write("0123456789012345678901234567890", "") } catch (e) { r = e.message } r`)).toMatch(/filename length/);
  });

  // (an update key XOR HMAC's pads, the header of an image's slot, has a NUL wherever the key has "6")
  it("E.CRC32 and crypto.SHA1/SHA256 hash every byte of a binary string, NULs and bytes >= 0x80 included", async () => {
    const { createHash } = await import("node:crypto");
    const { crc32 } = await import("../../build/ota-image.mjs" as any);
    const data = "a\u0000b\u00ff" + "\u0036".repeat(60) + "\u0000";
    emu = await createEspruino();
    emu.eval(`var S = require("Storage"); S.write("f", ${JSON.stringify(data)});`);
    const hex = (e: string) => emu!.eval(`var h = ${e}, s = "", i = 0; for (; i < h.length; i++) s += (256 + h.charCodeAt(i)).toString(16).substr(1); s`);
    const b = Buffer.from(data, "latin1");
    expect(hex(`E.toString(require("crypto").SHA256(S.read("f")))`)).toBe(createHash("sha256").update(b).digest("hex"));
    expect(hex(`E.toString(require("crypto").SHA1(${JSON.stringify(data)}))`)).toBe(createHash("sha1").update(b).digest("hex"));
    expect(emu.eval(`("0000000" + E.CRC32(S.read("f")).toString(16)).substr(-8)`)).toBe(crc32(b));
  });

  it("E.toString, E.toUint8Array, E.getSizeOf, E.getTemperature; E.reboot halts the emulation", async () => {
    let rebooted = 0;
    emu = await createEspruino({ temperature: 42, fakeTime: true, onReboot: () => { rebooted++; } });
    expect(emu.eval("var s = E.toString(new Uint8Array([65, 0, 255]), 'b', [67]); [s.length, s.charCodeAt(2), s.charAt(3)]")).toEqual([5, 255, "b"]);
    expect(emu.eval("E.toUint8Array('AB', 1).length")).toBe(3);
    expect(emu.eval("E.getSizeOf({a: 1, b: 'x'}) > 2")).toBe(true);
    expect(emu.eval("E.getTemperature()")).toBe(42);
    emu.eval("var after = 0; setTimeout(function () { E.reboot(); after = 1; }, 1); setTimeout(function () { after = 2 }, 10);");
    await emu.run(20);
    await Promise.resolve();
    expect([emu.reboots.length, emu.halted, rebooted, emu.eval("after")]).toEqual([1, true, 1, 0]);
  });

  it("process.memory() is in blocks of 16 bytes and follows the program's allocations; the limit is enforced", async () => {
    emu = await createEspruino({ memoryLimit: 2000 });
    const m0 = emu.eval("process.memory()");
    expect(m0).toMatchObject({ total: 2000, blocksize: 16 });
    emu.eval("var keep = []; for (var i = 0; i < 500; i++) keep.push({i: i});");
    const m1 = emu.eval("process.memory()");
    expect(m1.usage - m0.usage).toBeGreaterThanOrEqual(500);
    expect(m1.free).toBe(2000 - m1.usage);
    expect(emu.eval("var r; try { for (var i = 0; i < 5000; i++) keep.push({i: i}); } catch (e) { r = e.message } r")).toMatch(/out of memory/);
  });

  it("mallocCount counts allocations made; gc() frees garbage cycles", async () => {
    emu = await createEspruino();
    const a0 = emu.mallocCount();
    emu.eval("for (var i = 0; i < 1000; i++) { var o = {x: i}; }");
    expect(emu.mallocCount() - a0).toBeGreaterThanOrEqual(1000);
    emu.gc(); // QuickJS runs its own GC when the heap has grown by half since the last one: stay below
    const b0 = emu.memory().blocks;
    emu.eval("for (var i = 0; i < 500; i++) { var o = {}; o.self = o; }");
    expect(emu.memory().blocks - b0).toBeGreaterThanOrEqual(500);
    expect(emu.gc()).toBeGreaterThanOrEqual(500);
    expect(Math.abs(emu.memory().blocks - b0)).toBeLessThan(50);
  });

  it("modules: Modules.addCached / require, and 'Module x not found'", async () => {
    emu = await createEspruino();
    emu.load("exports.x = 41 + 1;", "m");
    expect(emu.eval(`[require("m").x, Modules.getCached().indexOf("m") >= 0]`)).toEqual([42, true]);
    expect(emu.eval(`var r; try { require("nope") } catch (e) { r = e.message } r`)).toBe("Module nope not found");
  });
});
