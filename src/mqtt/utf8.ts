// UTF-8 <-> JS strings, where bytes are binary strings (one char per byte). Our own code because
// Espruino's encodeURIComponent is wrong above 0x7F and TextEncoder is not ES5.
export var chr = String.fromCharCode;

function ascii(s: string) {
  for (var i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/** continuation bytes that code point `c` needs in UTF-8 */
function extra(c: number) {
  return c < 128 ? 0 : c < 2048 ? 1 : c < 65536 ? 2 : 3;
}

/** JS string -> UTF-8 bytes as a binary string. Lone surrogates become U+FFFD. */
export function encodeUtf8(s: string): string {
  var out = "", i = 0, c: number, d: number, n: number;
  if (ascii(s)) return s; // the common case allocates nothing
  for (; i < s.length; i++) {
    c = s.charCodeAt(i);
    if (c >> 11 == 27) { // a surrogate: a pair makes one code point
      d = s.charCodeAt(i + 1);
      if (c < 56320 && d >> 10 == 55) { c = ((c & 1023) << 10 | d & 1023) + 65536; i++; }
      else c = 65533;
    }
    n = extra(c);
    out += chr((n && 3968 >> n & 255) | c >> 6 * n);
    while (n) out += chr(128 | c >> 6 * --n & 63);
  }
  return out;
}

/** UTF-8 bytes (binary string) -> JS string, or null when ill-formed (overlong, surrogate, > U+10FFFF, truncated). */
export function decodeUtf8(b: string): string | null {
  var out = "", i = 0, c: number, n: number, k: number, x: number;
  if (ascii(b)) return b;
  while (i < b.length) {
    c = b.charCodeAt(i++);
    if ((c & 192) == 128) return null; // a continuation byte cannot lead
    n = c < 192 ? 0 : c < 224 ? 1 : c < 240 ? 2 : 3;
    c &= 127 >> n; // f8..ff keep a bit that makes them > U+10FFFF below
    for (k = n; k--; c = c << 6 | x & 63) if (((x = b.charCodeAt(i++)) & 192) != 128) return null; // NaN past the end fails too
    if (extra(c) != n || c > 1114111 || c >> 11 == 27) return null; // overlong, too big, surrogate
    out += c > 65535 ? chr(55296 + ((c -= 65536) >> 10), 56320 + (c & 1023)) : chr(c);
  }
  return out;
}

/** Application payload (string -> UTF-8, Uint8Array/Array/Buffer -> its bytes) as a binary string. */
export function toBytes(p: any): string {
  if (p == null) return "";
  if (p.length == null) p += ""; // numbers, booleans (no typeof "object": swc would add a Symbol helper)
  if (typeof p == "string") return encodeUtf8(p);
  var out = "", i = 0;
  // chunks of 200: some engines (mujs) cap apply() arguments
  for (; i < p.length; i += 200) out += chr.apply(null, p.subarray ? p.subarray(i, i + 200) : p.slice(i, i + 200));
  return out;
}
