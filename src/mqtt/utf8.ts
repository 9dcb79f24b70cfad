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
// (__API__ false, the firmware builds: every payload the firmware publishes is text, so the branch for
// bytes is left out)
declare const __API__: boolean;
export function toBytes(p: any): string {
  var out = "", i = 0, c: number, d: number, n: number;
  if (p == null) return out;
  if (p.length == null) p += ""; // numbers, booleans (no typeof "object": swc would add a Symbol helper)
  if ((typeof __API__ == "undefined" || __API__) && typeof p != "string") {
    // bytes, in chunks of 32: apply() makes a variable of each argument (on Espruino 200 of them needed
    // some 300 blocks at once), and some engines (mujs) cap its arguments. The end is clamped by hand:
    // Espruino's subarray does not clamp it, and reads past the data
    for (n = p.length; i < n; i += 32) out += chr.apply(null, (p.subarray || p.slice).call(p, i, i + 32 < n ? i + 32 : n));
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

declare var E: any;

/** UTF-8 bytes (binary string) -> JS string, or null when ill-formed (a stray or missing continuation
 *  byte, overlong, a surrogate, > U+10FFFF, truncated). Checked byte by byte. Where the engine's strings
 *  cannot hold the text (Espruino, beyond Latin-1): E.asUTF8 of the bytes on its Unicode builds (the
 *  string a literal of the same text gives), else the bytes themselves. */
export function decodeUtf8(b: string): string | null {
  var out = "", i = 0, c: number, n: number, m: number, fits = 1;
  if (!SPECIAL.test(b)) return b;
  while (i < b.length) {
    c = b.charCodeAt(i++);
    // continuation bytes of a lead byte, and the least code point it may encode (else overlong)
    n = c < 128 ? 0 : c < 194 ? -1 : c < 224 ? 1 : c < 240 ? 2 : c < 245 ? 3 : -1;
    if (n < 0) return null;
    m = n < 2 ? 0 : n < 3 ? 2048 : 65536;
    for (c &= 127 >> n; n--; i++) {
      if ((b.charCodeAt(i) & 192) != 128) return null; // (NaN past the end)
      c = c << 6 | b.charCodeAt(i) & 63;
    }
    if (c < m || c >> 11 == 27 || c > 1114111) return null;
    // whether this engine's strings hold UTF-16 units beyond 0xFF (Node, JerryScript, QuickJS), asked
    // only here (a module variable is RAM): Espruino's do not from String.fromCharCode, which keeps the
    // low byte (its Unicode builds, for Linux, make them from UTF-8 with E.asUTF8)
    if (c > 255 && chr(256).charCodeAt(0) != 256) fits = 0;
    if (fits) out += c > 65535 ? chr(55232 + (c >> 10), 56320 | c & 1023) : chr(c); // a surrogate pair
  }
  return fits ? out : typeof E != "undefined" && E.asUTF8 ? E.asUTF8(b) : b;
}
