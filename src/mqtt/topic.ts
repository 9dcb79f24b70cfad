// Topic names and filters: validation and matching (MQTT 3.1.1 section 4.7). Char codes, not charAt:
// no string made per character.
import { SPECIAL, toBytes } from "./utf8";

/** null when valid, else the spec rule it breaks ("4.7.3-1": the [MQTT-4.7.3-1] id without its prefix).
 *  `s` is a JS string (not UTF-8 bytes); no string at all (undefined, null...) is an empty one. */
export function validTopic(s: string, filter: any): string | null;
export function validTopic(): string | null {
  // (the arguments are read from `arguments`: a declared parameter is a block of the device's RAM for
  // as long as the function lives; this runs per subscription and per message sent the slow way)
  var a = arguments, s: string = a[0] || "", filter = a[1], i = 0, n = s.length, c: number;
  if (!n) return "4.7.3-1"; // empty
  // at most 3 bytes a UTF-16 unit: only long strings need encoding to be measured
  if (n > 21845 && toBytes(s).length > 65535) return "4.7.3-3";
  // the common case, in one built-in test (names are checked for every message both ways): no NUL,
  // no wildcard (nor anything above 0x7F, which is fine, and looked at below)
  if (!SPECIAL.test(s)) return null;
  if (~s.indexOf("\0")) return "4.7.3-2";
  for (; i < n; i++) if (((c = s.charCodeAt(i)) | 8) == 43) { // + or #
    if (!filter) return "3.3.2-2"; // no wildcard in a name
    // a wildcard fills its whole level; # only as the last level
    if (i && s.charCodeAt(i - 1) != 47 || i + 1 < n && (c == 35 || s.charCodeAt(i + 1) != 47)) return c == 35 ? "4.7.1-2" : "4.7.1-3";
  }
  return null;
}

/** Does topic name `t` match filter `f`? Both valid. `+`/`#` at the first level skip `$` topics [MQTT-4.7.2-1]. */
export function matches(f: string, t: string): boolean {
  var i = 0, j = 0, c: number;
  if (f == t) return true; // a filter without wildcards, or the same text
  if (t.charCodeAt(0) == 36 && (f.charCodeAt(0) | 8) == 43) return false;
  for (;;) {
    c = f.charCodeAt(i++);
    if (c == 35) return true; // # takes the rest
    if (c == 43) while ((t.charCodeAt(j) || 47) != 47) j++; // + takes one level (NaN at the end; a valid name has no NUL)
    // a difference: a match only when t ended and f ended too (c is NaN) or has "/#" ("sport/#" matches "sport")
    else if (c != t.charCodeAt(j++)) return j > t.length && (c != c || c == 47 && f.charCodeAt(i) == 35);
  }
}
