// Updates over MQTT, the device's side (README "Updates over MQTT"; the Storage layout and the boot
// selector: build/ota-image.mjs; the sender: build/ota.mjs).
//
//   <base>/<id>/cmd/ota    control, JSON: {"q":1} asks what runs; {"v","b","l","h","t"} begins an update
//                          (version, board, length, digest, tag: lowercase hex); {"f":1} finishes it;
//                          {"x":1} aborts it
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

// Five functions in all (on Espruino each costs RAM: about 5 blocks and 1 per parameter): the handler
// of everything, and what it does in several places.

function hex(s: string | number) {
  var r = "", i = 0;
  if (typeof s == "number") return ("0000000" + (s >>> 0).toString(16)).substr(-8);
  for (; i < s.length; i++) r += (256 + s.charCodeAt(i)).toString(16).substr(1);
  return r;
}

/** an answer on the ota topic; a refusal (e: why) also on the error topic */
function st(f: any, o: any) {
  o.s = o.s || (o.e ? "refused" : "idle");
  f.client.publish(f.base + "ota", JSON.stringify(o));
  if (o.e) f.report("ota", "update", o.e);
}

/** drop the update under way: its slot's image erased (its record was never written) */
function drop(f: any) {
  f.b.ota.fs.erase("mq.f" + f.u.j);
  f.u = 0;
  f.client.unsubscribe(f.base + "ota/+");
}

// the reboot after the switch: first a DISCONNECT (no will: an "offline" from the broker could come after
// the new image's "online"), then the reboot once it had time to go
function bye(f: any) {
  if (!f.client.connected) return f.b.reboot();
  f.client.end();
  f.b.clock.setTimer(bye, 300, f);
}

/**
 * Everything of an update: `off` >= 0 (or NaN) a chunk (ota/<off>, payload `p`); -1 a control message (cmd/ota);
 * -2 a connect: a new image confirms itself (the selector then keeps it), a rollback is told.
 */
export function ota(f: any, off: number, p?: any) {
  // A chunk first, with one local: Espruino makes a function's variables when their `var` runs (it
  // does not hoist), and this runs with the chunk in RAM, at the peak of an update.
  var u: Upd = f.u;
  if (off >= 0 || off != off) { // (NaN: a chunk topic whose offset is not a number)
    if (!u) return st(f, { e: "no update under way" });
    u.a = f.b.clock.now();
    // (a chunk sent again after a lost acknowledgement: written already, and Storage cannot write twice)
    if (off < u.o) return st(f, { s: "dup", o: u.o });
    if (off != u.o) return st(f, { e: "chunk at " + off + ", expected " + u.o, o: u.o });
    if (off + p.length > u.l) return st(f, { e: "chunk past the announced length " + u.l, o: u.o });
    f.b.ota.fs.write("mq.f" + u.j, p, 64 + off);
    u.o += p.length;
    return st(f, { s: "ack", o: u.o });
  }
  var b = f.b, o = b.ota, fs = o.fs, c = f.c, k = c.ota.k, m: any, j: number, n: number, g: any, i: number, now = b.clock.now();
  if (off < -1) {
    if ((i = o.s) < 0) return;
    o.s = i & 1;
    if (i & 4) { fs.write("mq.k" + (i & 1), "1"); m = { s: "updated" }; }
    else if (i & 2) m = { s: "rolled back" };
    else return;
  } else {
    try { m = JSON.parse(p); } catch (e) { }
    if (!m || m.constructor != Object) return st(f, { e: "not a JSON object" });
    m.s = 0;
    if (m.q) m = {};
  }
  if (!m.s && m.x) { if (u) drop(f); return st(f, { s: "aborted" }); }
  if (!m.s && m.f) {
    if (!u) return st(f, { e: "no update under way" });
    if (u.o != u.l) { drop(f); return st(f, { e: "truncated: " + u.o + " of " + u.l + " bytes" }); }
    n = u.j;
    if (hex(o.dg(fs.read("mq.f" + n, 64)!)) != u.h) { drop(f); return st(f, { e: "wrong digest" }); }
    // the tag: HMAC = H(key ^ opad, H(key ^ ipad, image)); the slot's header is key ^ ipad (begin)
    if (k) {
      for (g = "", i = 0; i < 64; i++) g += String.fromCharCode((k.charCodeAt(i) | 0) ^ 0x5c);
      if (hex(o.hash(g + o.hash(fs.read("mq.f" + n)!))) != u.t) { drop(f); return st(f, { e: "wrong tag: not signed with this device's key" }); }
    }
    // the switch: this slot's record, one generation newer than what runs
    m = fs.readJSON("mq.m" + (1 - n), 1) || { g: 0 };
    fs.write("mq.m" + n, JSON.stringify({ g: m.g + 1, v: u.v, l: u.l, h: u.h }));
    f.u = 0;
    st(f, { s: "rebooting", v: u.v });
    return b.clock.setTimer(bye, 500, f);
  }
  if (!m.l) {
    // what runs: version, board, digest and its kind, the hash of the tag (none without a key)
    g = fs.readJSON("mq.m" + (o.s & 1), 1) || {};
    m.v = c.sw; m.b = b.name; m.h = g.h; m.d = o.dg == o.hash ? "sha256" : "crc32"; m.k = k ? o.hn || "none" : undefined;
    return st(f, m);
  }
  // a begin
  if (o.s < 0) return st(f, { e: "not started by the boot selector: flash it with npm run flash -- --save" });
  if (m.b != b.name) return st(f, { e: "the image is for board " + m.b + ", this is " + b.name });
  if (!(m.l > 0 && m.l % 1 == 0) || typeof m.v != "string" || typeof m.h != "string") return st(f, { e: "a begin needs v, b, l, h" });
  if (k && typeof m.t != "string") return st(f, { e: "no tag: this device takes only images signed with its key" });
  if (k && !o.hn) return st(f, { e: "this board's Espruino has no crypto module: it cannot check a tag" });
  // (an update not heard of for 2 minutes may be replaced by another)
  if (u && u.a + 120000 > now) {
    // the same image again (the sender lost its place): go on from where it is
    if (u.h == m.h && u.l == m.l) { u.a = now; return st(f, { s: "ready", o: u.o }); }
    return st(f, { e: "another update is under way (" + u.v + ", " + u.o + " of " + u.l + " bytes)" });
  }
  if (u) drop(f);
  j = 1 - (o.s & 1);
  g = fs.getStats();
  n = g.freeBytes + g.trashBytes + (fs.read("mq.f" + j) || "").length;
  if (n < m.l + 512) return st(f, { e: "no room for a second image: " + (m.l + 512) + " bytes needed, " + n + " free" });
  // the record first: a slot without one is never run
  fs.erase("mq.m" + j);
  fs.erase("mq.k" + j);
  fs.erase("mq.t" + j);
  fs.erase("mq.f" + j);
  for (g = "", i = 0; i < 64; i++) g += String.fromCharCode(k ? (k.charCodeAt(i) | 0) ^ 0x36 : 32);
  fs.write("mq.f" + j, g, 0, 64 + m.l);
  // (the digest and tag as sent, lowercase hex: a lowered copy would be two strings more at this peak)
  f.u = { j: j, l: m.l, o: 0, h: m.h, t: m.t, v: m.v, a: now };
  f.client.subscribe(f.base + "ota/+", { qos: 1 });
  st(f, { s: "ready", o: 0 });
}
