// The host keeps idle keep-alive connections open as the Functions host (Kestrel, 130 s) does. With
// Node's 5 s default, the app's durable client (a keep-alive agent) sometimes wrote on a socket the
// host was closing: ECONNRESET, a 500 from the API (seen in the e2e fuzz test under load).
import { Agent, request } from "node:http";
import { afterEach, expect, it } from "vitest";
import { fixtureHost } from "./support";

let host: Awaited<ReturnType<typeof fixtureHost>> | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

function get(url: string, agent: Agent): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end();
  });
}

it("keeps an idle keep-alive connection open longer than Node's 5 s default, so a client reusing it is not reset", async () => {
  host = await fixtureHost();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    expect((await get(`${host.url}/api/greet/a`, agent)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 6_000));
    const again = await get(`${host.url}/api/greet/b`, agent);
    expect(again).toEqual({ status: 200, reused: true });
  } finally {
    agent.destroy();
  }
}, 20_000);
