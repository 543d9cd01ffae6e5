import assert from "node:assert/strict";
import { listen } from "../../src/http/listener.ts";
import { silentLogger } from "../../src/log.ts";

Deno.test("listen() serves, and shutdown() resolves finished", async () => {
  let port = 0;
  const listener = listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
    logger: silentLogger,
    onListen: (addr, restarts) => {
      port = addr.port;
      assert.equal(restarts, 0);
    },
  });
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await res.text(), "ok");
  await listener.shutdown();
  await listener.finished;
});

Deno.test("listen() throws at once when the first listen fails, as Deno.serve does", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () =>
        listen({
          hostname: "127.0.0.1",
          port: (taken.addr as Deno.NetAddr).port,
          handler: () => new Response("ok"),
          logger: silentLogger,
          onListen: () => {},
        }),
      Deno.errors.AddrInUse,
    );
  } finally {
    taken.close();
  }
  await Promise.resolve();
});
