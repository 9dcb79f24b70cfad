// Our client against aedes 1.x (in this process) on a free loopback port, with the `mqtt` package as
// the peer. Real sockets, real time; keepalive 2 s and 100 ms retries keep it fast.
import { afterAll, afterEach, beforeAll, describe, it } from "vitest";
import { startAedes, type AedesBroker } from "../helpers/aedes";
import { closeAll, sharedTests, wrongPassword } from "../helpers/client-integration";

describe("client with aedes", () => {
  let b: AedesBroker;
  beforeAll(async () => {
    b = await startAedes({
      // anonymous clients are welcome; user "u" needs password "right" (else CONNACK 5)
      authenticate: (_c, user, pass, cb) => cb(null, user == null || (user === "u" && String(pass) === "right")),
    });
  });
  afterEach(closeAll);
  afterAll(() => b?.stop());

  sharedTests(() => b.port);

  it("wrong password: EREFUSED and retries at the maximum delay", () => wrongPassword(b.port, [4, 5]));
});
