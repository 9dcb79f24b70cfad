// A throwaway PKI made by `openssl` at test time: a CA, a server certificate for 127.0.0.1, a client
// certificate, and an unrelated CA. Nothing here needs a broker.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  /** the CA that signed the server certificate (PEM text and path) */
  ca: string; caFile: string;
  /** server certificate for CN/subjectAltName IP:127.0.0.1 and its key (paths, for the broker) */
  certFile: string; keyFile: string;
  /** a client certificate and key signed by the same CA (PEM text) */
  clientCert: string; clientKey: string;
  /** an unrelated CA (PEM text): a client trusting only it must refuse the server */
  wrongCa: string;
}

/** Make a throwaway PKI with `openssl` in `dir` (created when missing). */
export function makeTestCerts(dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-pki-"))): TestCerts {
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed:\n${r.stderr}`);
  };
  const ca = (name: string) => run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
    "-keyout", `${name}.key`, "-out", `${name}.crt`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const leaf = (name: string, ext: string) => {
    run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), ext + "\n");
    run(["x509", "-req", "-in", `${name}.csr`, "-CA", "test-ca.crt", "-CAkey", "test-ca.key", "-CAcreateserial",
      "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`]);
  };
  ca("test-ca");
  ca("wrong-ca");
  leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth");
  leaf("client", "extendedKeyUsage=clientAuth");
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return {
    dir,
    ca: read("test-ca.crt"), caFile: join(dir, "test-ca.crt"),
    certFile: join(dir, "server.crt"), keyFile: join(dir, "server.key"),
    clientCert: read("client.crt"), clientKey: read("client.key"),
    wrongCa: read("wrong-ca.crt"),
  };
}
