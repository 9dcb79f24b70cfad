// Topic names and filters: validation and matching (MQTT 3.1.1 section 4.7).
import { encodeUtf8 } from "./utf8";

/** null when valid, else [spec rule, what is wrong]. `s` is a JS string (not UTF-8 bytes). */
export function validTopic(s: string, filter: boolean): string[] | null {
  if (!s.length) return ["MQTT-4.7.3-1", "empty topic"];
  // at most 3 bytes a UTF-16 unit: only long strings need encoding to be measured
  if (s.length > 21845 && encodeUtf8(s).length > 65535) return ["MQTT-4.7.3-3", "topic over 65,535 bytes"];
  if (s.indexOf("\0") >= 0) return ["MQTT-4.7.3-2", "U+0000 in a topic"];
  var i = 0, c: string, n = s.length;
  for (; i < n; i++) {
    c = s.charAt(i);
    if (c != "+" && c != "#") continue;
    if (!filter) return ["MQTT-3.3.2-2", "wildcard in a topic name"];
    // a wildcard fills its whole level; # only as the last level
    if ((i && s.charAt(i - 1) != "/") || (i + 1 < n && (c == "#" || s.charAt(i + 1) != "/")))
      return [c == "#" ? "MQTT-4.7.1-2" : "MQTT-4.7.1-3", "misplaced " + c + " in a filter"];
  }
  return null;
}

/** Does topic name `t` match filter `f`? Both valid. `+`/`#` at the first level skip `$` topics [MQTT-4.7.2-1]. */
export function matches(f: string, t: string): boolean {
  if (f == t) return true;
  var fi = 0, ti = 0, fn = f.length, tn = t.length, c: string;
  if (t.charAt(0) == "$" && (f.charAt(0) == "+" || f.charAt(0) == "#")) return false;
  while (fi < fn) {
    c = f.charAt(fi);
    if (c == "#") return true;
    if (c == "+") {
      while (ti < tn && t.charAt(ti) != "/") ti++;
      fi++;
    } else {
      // compare one literal level
      while (fi < fn && f.charAt(fi) != "/") { if (ti >= tn || t.charAt(ti) != f.charAt(fi)) return false; fi++; ti++; }
      if (ti < tn && t.charAt(ti) != "/") return false;
    }
    // both at a level end
    if (fi >= fn) return ti >= tn;
    // f at "/": t must be too, unless f's rest is "#" ("sport/#" matches "sport")
    if (ti >= tn) return f.substring(fi) == "/#";
    fi++; ti++;
  }
  return ti >= tn; // f ended with "/" at a level end
}
