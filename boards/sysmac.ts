// The device id of Linux boards (espruino-linux, iotjs): the first real MAC address in /sys/class/net.
/** lowercase hex without colons, or "" when there is none; `text` turns what readFileSync gives into a string */
export function sysMac(text: (data: any) => string): string {
  var fs: any, l: string[], i: number, m: string;
  try {
    fs = __REQUIRE__("fs");
    l = fs.readdirSync("/sys/class/net").sort();
    for (i = 0; i < l.length; i++) {
      m = text(fs.readFileSync("/sys/class/net/" + l[i] + "/address")).split(":").join("").substr(0, 12).toLowerCase();
      if (l[i] != "lo" && m.length == 12 && m != "000000000000") return m;
    }
  } catch (e) {}
  return "";
}
