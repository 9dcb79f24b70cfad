// UTF-8 <-> JS strings, where bytes are binary strings (one char per byte). Our own code because
// Espruino's encodeURIComponent is wrong above 0x7F and TextEncoder is not ES5.

function ascii(s: string) {
  for (var i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/** JS string -> UTF-8 bytes as a binary string. Lone surrogates become U+FFFD. */
export function encodeUtf8(s: string): string {
  var out = "", i = 0, c: number, d: number;
  if (ascii(s)) return s; // the common case allocates nothing
  for (; i < s.length; i++) {
    c = s.charCodeAt(i);
    if (c < 128) { out += s.charAt(i); continue; }
    if (c >= 0xd800 && c < 0xe000) {
      d = s.charCodeAt(i + 1);
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + d - 0xdc00; i++; }
      else c = 0xfffd;
    }
    out += c < 0x800 ? String.fromCharCode(0xc0 | c >> 6, 0x80 | c & 63)
      : c < 0x10000 ? String.fromCharCode(0xe0 | c >> 12, 0x80 | c >> 6 & 63, 0x80 | c & 63)
      : String.fromCharCode(0xf0 | c >> 18, 0x80 | c >> 12 & 63, 0x80 | c >> 6 & 63, 0x80 | c & 63);
  }
  return out;
}

/** UTF-8 bytes (binary string) -> JS string, or null when ill-formed (overlong, surrogate, > U+10FFFF, truncated). */
export function decodeUtf8(b: string): string | null {
  var out = "", i = 0, c: number, n: number, min: number, k: number, x: number;
  if (ascii(b)) return b;
  while (i < b.length) {
    c = b.charCodeAt(i++);
    if (c < 128) { out += String.fromCharCode(c); continue; }
    if (c >= 0xf0) { n = 3; c &= 15; min = 0x10000; } // f8..ff keep bit 3: > U+10FFFF below
    else if (c >= 0xe0) { n = 2; c &= 15; min = 0x800; }
    else if (c >= 0xc0) { n = 1; c &= 31; min = 0x80; }
    else return null;
    for (k = 0; k < n; k++) {
      x = b.charCodeAt(i++);
      if ((x & 0xc0) != 0x80) return null; // NaN past the end fails too
      c = c << 6 | x & 63;
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) return null;
    if (c >= 0x10000) { c -= 0x10000; out += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023)); }
    else out += String.fromCharCode(c);
  }
  return out;
}

/** Application payload (string -> UTF-8, Uint8Array/Array/Buffer -> its bytes) as a binary string. */
export function toBytes(p: any): string {
  if (p == null) return "";
  if (typeof p == "string" || p.length == null) return encodeUtf8("" + p); // numbers, booleans too (no typeof "object": swc would add a Symbol helper)
  var out = "", i = 0;
  // chunks of 200: some engines (mujs) cap apply() arguments
  for (; i < p.length; i += 200) out += String.fromCharCode.apply(null, p.subarray ? p.subarray(i, i + 200) : p.slice(i, i + 200));
  return out;
}
