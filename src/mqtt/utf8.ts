// UTF-8 <-> JS strings, where bytes are binary strings (one char per byte). Our own code because
// Espruino's encodeURIComponent is wrong above 0x7F and TextEncoder is not ES5.
export var chr = String.fromCharCode;

function ascii(s: string) {
  for (var i = s.length; i-- && s.charCodeAt(i) < 128;);
  return i < 0;
}

/** JS string -> UTF-8 bytes as a binary string. Lone surrogates become U+FFFD. */
export function encodeUtf8(s: string): string {
  var out = "", i = 0, c: number, d: number, n: number;
  if (ascii(s)) return s; // the common case allocates nothing
  for (; i < s.length; i++) {
    c = s.charCodeAt(i);
    if (c >> 11 == 27) { // a surrogate: a pair makes one code point
      d = s.charCodeAt(i + 1);
      if (c < 56320 && d >> 10 == 55) { c = (c - 55287 << 10) + d; i++; } // ((c & 1023) << 10 | d & 1023) + 65536
      else c = 65533;
    }
    n = c < 128 ? 0 : c < 2048 ? 1 : c < 65536 ? 2 : 3; // continuation bytes
    out += chr((n && 3968 >> n & 255) | c >> 6 * n);
    while (n) out += chr(128 | c >> 6 * --n & 63);
  }
  return out;
}

/** UTF-8 bytes (binary string) -> JS string, or null when ill-formed (overlong, surrogate, > U+10FFFF, truncated).
 *  A lenient decode, then a round trip: encodeUtf8 only makes well-formed UTF-8 and is exact on it, so the
 *  bytes are well-formed exactly when the decoded string encodes back to them. */
export function decodeUtf8(b: string): string | null {
  var out = "", i = 0, c: number, n: number;
  if (ascii(b)) return b;
  while (i < b.length) {
    c = b.charCodeAt(i++);
    n = c < 192 ? 0 : c < 224 ? 1 : c < 240 ? 2 : 3;
    for (c &= 127 >> n; n--;) c = c << 6 | b.charCodeAt(i++) & 63;
    out += c > 65535 ? chr(55232 + (c >> 10), 56320 | c & 1023) : chr(c); // a surrogate pair
  }
  return encodeUtf8(out) == b ? out : null;
}

/** Application payload (string -> UTF-8, Uint8Array/Array/Buffer -> its bytes) as a binary string. */
export function toBytes(p: any): string {
  if (p == null) p = "";
  if (p.length == null) p += ""; // numbers, booleans (no typeof "object": swc would add a Symbol helper)
  if (typeof p == "string") return encodeUtf8(p);
  var out = "", i = 0;
  // chunks of 200: some engines (mujs) cap apply() arguments. The end is clamped: Espruino's subarray
  // does not clamp it (a 7-byte array gave 200 bytes, zeros or whatever follows in its buffer)
  for (; i < p.length; i += 200) out += chr.apply(null, p[p.subarray ? "subarray" : "slice"](i, Math.min(i + 200, p.length)));
  return out;
}
