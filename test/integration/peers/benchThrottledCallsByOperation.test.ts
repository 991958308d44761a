// The Key Vault peer's stats say which operations its throttle answered 429, so a caller's served
// calls per operation are calls minus throttledCalls (the branch-rotation bench counts remote
// unwraps and signs this way: a retried 429 is a request, not a second unwrap).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyVaultPeer } from "../../../dev/peers/keyvault";
import { rawRequest, secretClient, startTestVault } from "../../support/keyvault";

let peer: KeyVaultPeer;

beforeAll(async () => {
  peer = await startTestVault();
});
afterAll(async () => {
  await peer.stop();
});

describe("Key Vault peer stats per throttled operation", () => {
  it("counts the calls its throttle answered 429 per operation, beside all calls, and resets them with the stats", async () => {
    const name = `throttled-by-op-${process.pid}`;
    await secretClient(peer).setSecret(name, "v");
    peer.admin.resetStats();
    peer.admin.setThrottle({ ratePerSecond: 0.01 });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await rawRequest(peer, "GET", `/secrets/${name}?api-version=2025-07-01`)).status);
      expect(statuses).toEqual([200, 429, 429]);
      const stats = peer.admin.stats();
      expect(stats.calls).toEqual({ getSecret: 3 });
      expect(stats.throttledCalls).toEqual({ getSecret: 2 });
      expect(stats.throttled429).toBe(2);
    } finally {
      peer.admin.setThrottle(false);
    }
    peer.admin.resetStats();
    expect(peer.admin.stats().throttledCalls).toEqual({});
  });
});
