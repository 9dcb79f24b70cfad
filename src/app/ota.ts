// Updates over MQTT, the device's side (README "Updates over MQTT"; the Storage layout and the boot
// selector: build/ota-image.mjs; the sender: build/ota.mjs).
//
//   <base>/<id>/cmd/ota    control, JSON: {"q":1} asks what runs; {"v","b","l","h","t"} begins an update
//                          (version, board, length, digest, tag); {"f":1} finishes it; {"x":1} aborts it
//   <base>/<id>/ota/<off>  the image's bytes from offset <off> (subscribed only while an update runs)
//   <base>/<id>/ota        the device's answers, JSON {"s": state, ...}: idle, ready, ack (o: the next
//                          offset), dup, refused (e: why), aborted, rebooting, updated, rolled back
//
// One chunk at a time: each is written into the new slot at its offset as it comes and acknowledged with
// the next offset, and the sender waits for that (the device never holds more than one chunk). The
// image is checked (length, digest, tag) before its record, the switch, is written. Anything refused
// leaves the running firmware and its slot untouched, and is also reported on the error topic.
// Module-level functions (no closures): the firmware passes itself.

/** an update in progress: target slot, length, next offset, digest, tag, version, last activity (ms) */
interface Upd { j: number; l: number; o: number; h: string; t: string; v: string; a: number }

function hex(s: string | number) {
  var r = "", i = 0;
  if (typeof s == "number") return ("0000000" + (s >>> 0).toString(16)).substr(-8);
  for (; i < s.length; i++) r += (256 + s.charCodeAt(i)).toString(16).substr(1);
  return r;
}

/** the key XOR an HMAC pad (0x36 inner, 0x5c outer), 64 bytes; without a key 64 spaces */
function pad(k: string | undefined, x: number) {
  var r = "", i = 0;
  for (; i < 64; i++) r += String.fromCharCode(k ? (k.charCodeAt(i) | 0) ^ x : 32);
  return r;
}

function st(f: any, o: any) {
  o.s = o.s || "idle";
  f.client.publish(f.base + "ota", JSON.stringify(o));
}

/** refused: on the ota topic (with the offset expected, for a chunk) and on the error topic */
function no(f: any, why: string, o?: number) {
  st(f, { s: "refused", e: why, o: o });
  f.report("ota", "update", why);
}

/** drop the update under way: its slot's image erased (its record was never written) */
function drop(f: any) {
  var u: Upd = f.u, fs = f.b.ota.fs;
  f.u = 0;
  fs.erase("mq.f" + u.j);
  f.client.unsubscribe(f.base + "ota/+");
}

function bye(f: any) {
  f.client.end(true);
  f.b.reboot();
}

/** what runs: version, board, digest, the hash of the tag (none without a key), the room for an image */
function idle(f: any, s?: string) {
  var o = f.b.ota, m = o.fs.readJSON("mq.m" + (o.s & 1), 1) || {};
  st(f, { s: s, v: f.c.sw, b: f.b.name, h: m.h, d: o.dg == o.hash ? "sha256" : "crc32", k: f.c.ota.k ? o.hn || "none" : undefined });
}

/** at each connect: a new image confirms itself (the selector then keeps it), and a rollback is told */
export function otaOn(f: any) {
  var o = f.b.ota, s = o.s;
  if (s < 0) return;
  o.s = s & 1;
  if (s & 4) { o.fs.write("mq.k" + (s & 1), "1"); idle(f, "updated"); }
  else if (s & 2) idle(f, "rolled back");
}

/** cmd/ota */
export function otaCmd(f: any, p: string) {
  var b = f.b, o = b.ota, fs = o.fs, u: Upd = f.u, c = f.c, m: any, j: number, n: number, g: any, now = b.clock.now();
  try { m = JSON.parse(p); } catch (e) { }
  if (!m || m.constructor != Object) return no(f, "not a JSON object");
  if (m.q) return idle(f);
  if (m.x) { if (u) drop(f); return st(f, { s: "aborted" }); }
  if (m.f) {
    if (!u) return no(f, "no update under way");
    if (u.o != u.l) { drop(f); return no(f, "truncated: " + u.o + " of " + u.l + " bytes"); }
    n = u.j;
    g = fs.read("mq.f" + n);
    if (hex(o.dg(fs.read("mq.f" + n, 64)!)) != u.h) { drop(f); return no(f, "wrong digest"); }
    if (c.ota.k && hex(o.hash(pad(c.ota.k, 0x5c) + o.hash(g))) != u.t) { drop(f); return no(f, "wrong tag: not signed with this device's key"); }
    // the switch: this slot's record, one generation newer than what runs
    m = fs.readJSON("mq.m" + (1 - n), 1) || { g: 0 };
    fs.write("mq.m" + n, JSON.stringify({ g: m.g + 1, v: u.v, l: u.l, h: u.h }));
    f.u = 0;
    st(f, { s: "rebooting", v: u.v });
    return b.clock.setTimer(bye, 500, f);
  }
  // a begin
  if (o.s < 0) return no(f, "not started by the boot selector: flash it with npm run flash -- --save");
  if (m.b != b.name) return no(f, "the image is for board " + m.b + ", this is " + b.name);
  if (!(m.l > 0 && m.l % 1 == 0) || typeof m.v != "string" || typeof m.h != "string") return no(f, "a begin needs v, b, l, h");
  if (c.ota.k && typeof m.t != "string") return no(f, "no tag: this device takes only images signed with its key");
  if (c.ota.k && !o.hn) return no(f, "this board's Espruino has no crypto module: it cannot check a tag");
  // (an update not heard of for 2 minutes may be replaced by another)
  if (u && u.a + 120000 > now) {
    // the same image again (the sender lost its place): go on from where it is
    if (u.h == m.h && u.l == m.l) { u.a = now; return st(f, { s: "ready", o: u.o }); }
    return no(f, "another update is under way (" + u.v + ", " + u.o + " of " + u.l + " bytes)");
  }
  if (u) drop(f);
  j = 1 - (o.s & 1);
  g = fs.getStats();
  n = (fs.read("mq.f" + j) || "").length;
  if (g.freeBytes + g.trashBytes + n < m.l + 512) return no(f, "no room for a second image: " + (m.l + 512) + " bytes needed, " + (g.freeBytes + g.trashBytes + n) + " free");
  // the record first: a slot without one is never run
  fs.erase("mq.m" + j);
  fs.erase("mq.k" + j);
  fs.erase("mq.t" + j);
  fs.erase("mq.f" + j);
  fs.write("mq.f" + j, pad(c.ota.k, 0x36), 0, 64 + m.l);
  f.u = { j: j, l: m.l, o: 0, h: m.h.toLowerCase(), t: ("" + m.t).toLowerCase(), v: m.v, a: now };
  f.client.subscribe(f.base + "ota/+", { qos: 1 });
  st(f, { s: "ready", o: 0 });
}

/** ota/<off>: a chunk */
export function otaData(f: any, off: number, p: string) {
  var u: Upd = f.u;
  if (!u) return no(f, "no update under way");
  u.a = f.b.clock.now();
  // (a chunk sent again after a lost acknowledgement: written already)
  if (off < u.o) return st(f, { s: "dup", o: u.o });
  if (off != u.o) return no(f, "chunk at " + off + ", expected " + u.o, u.o);
  if (off + p.length > u.l) return no(f, "chunk past the announced length " + u.l, u.o);
  f.b.ota.fs.write("mq.f" + u.j, p, 64 + off);
  u.o += p.length;
  st(f, { s: "ack", o: u.o });
}
