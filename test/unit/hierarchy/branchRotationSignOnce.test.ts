// A branch-key version costs ONE remote sign even when its creation is retried: the local wrap under
// the KEK (which may first fetch the KEK version's public key) comes before the sign, so a fetch the
// vault refuses (429) fails the attempt before anything remote was spent on it.
import { afterEach, describe, expect, it } from "vitest";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

let h: Hierarchy | undefined;
afterEach(async () => {
  await stopHierarchy(h);
  h = undefined;
});

describe("branch-key creation and the remote sign", () => {
  it("a creation whose public-key fetch is throttled signs nothing; its retry signs once", async () => {
    h = await startHierarchy();
    // A first branch key: the signer's key and the KEK's first version are read (once per process).
    (await h.keys.create({ kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, branchId: "s4-00000", version: 1, state: "primary" })).key?.fill(0);
    const kekVersion = await h.newKekVersion(); // its public key is not read yet
    const signs = () => h!.peer.admin.stats().calls.sign ?? 0;
    const before = signs();
    h.peer.admin.failNext("getKey", 1, 429, { code: "Throttled", message: "too many requests" });
    const spec = { kekKeyId: h.kekKeyId, kekVersion, branchId: "s4-00001", version: 1, state: "primary" as const };
    await expect(h.keys.create(spec)).rejects.toThrow(/429/);
    expect(signs() - before).toBe(0);
    const made = await h.keys.create(spec);
    expect(made.key).toBeDefined();
    made.key?.fill(0);
    expect(signs() - before).toBe(1);
    expect(h.keys.remote.signs).toBe(2);
  });
});
