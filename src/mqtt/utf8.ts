// UTF-8 <-> JS strings, where bytes are binary strings (one char per byte). Our own code because
// Espruino's encodeURIComponent is wrong above 0x7F and TextEncoder is not ES5.
export var chr = String.fromCharCode;

/** A character that needs care: above 0x7F (UTF-8), or NUL, + or # (the topic rules). Strings without
 *  one, nearly all topics and text payloads, pass with one built-in test: on Espruino, which runs the
 *  source text, a JS loop costs about 5 us a character. One expression serves both jobs: it is 11
 *  blocks of RAM on Espruino. */
export var SPECIAL = /[^\x01-\x22\x24-\x2a\x2c-\x7f]/;

/** Application payload or text -> bytes as a binary string: a string as UTF-8 (lone surrogates become
 *  U+FFFD), a Uint8Array/Array/Buffer as its bytes, anything else as its text. */
export function toBytes(p: any): string {
  var out = "", i = 0, c: number, d: number, n: number;
  if (p == null) return out;
  if (p.length == null) p += ""; // numbers, booleans (no typeof "object": swc would add a Symbol helper)
  if (typeof p != "string") {
    // bytes, in chunks of 200: some engines (mujs) cap apply() arguments. The end is clamped by hand:
    // Espruino's subarray does not clamp it, and reads past the data
    for (n = p.length; i < n; i += 200) out += chr.apply(null, p[p.subarray ? "subarray" : "slice"](i, i + 200 < n ? i + 200 : n));
    return out;
  }
  if (!SPECIAL.test(p)) return p; // the common case allocates nothing
  for (; i < p.length; i++) {
    c = p.charCodeAt(i);
    if (c >> 11 == 27) { // a surrogate: a pair makes one code point
      d = p.charCodeAt(i + 1);
      if (c < 56320 && d >> 10 == 55) { c = (c - 55287 << 10) + d; i++; } // ((c & 1023) << 10 | d & 1023) + 65536
      else c = 65533;
    }
    n = c < 128 ? 0 : c < 2048 ? 1 : c < 65536 ? 2 : 3; // continuation bytes
    out += chr((n && 3968 >> n & 255) | c >> 6 * n);
    while (n) out += chr(128 | c >> 6 * --n & 63);
  }
  return out;
}

/** JS string -> UTF-8 bytes (toBytes of a string). */
export var encodeUtf8: (s: string) => string = toBytes;

/** UTF-8 bytes (binary string) -> JS string, or null when ill-formed (overlong, surrogate, > U+10FFFF, truncated).
 *  A lenient decode, then a round trip: toBytes only makes well-formed UTF-8 and is exact on it, so the
 *  bytes are well-formed exactly when the decoded string encodes back to them. */
export function decodeUtf8(b: string): string | null {
  var out = "", i = 0, c: number, n: number;
  if (!SPECIAL.test(b)) return b;
  while (i < b.length) {
    c = b.charCodeAt(i++);
    n = c < 192 ? 0 : c < 224 ? 1 : c < 240 ? 2 : 3;
    for (c &= 127 >> n; n--;) c = c << 6 | b.charCodeAt(i++) & 63;
    out += c > 65535 ? chr(55232 + (c >> 10), 56320 | c & 1023) : chr(c); // a surrogate pair
  }
  return toBytes(out) == b ? out : null;
}
