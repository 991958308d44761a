// The fence rows (invariant 8): one contract run against the memory adapter and the Table Storage
// adapter on Azurite. A grant is recorded once, a newer one replaces it, an older one is refused,
// racing claims leave exactly the newest, and a step is admitted only under the recorded grant.
import { describe, expect, it } from "vitest";
import { checkFence, claimFence, fenceFloor, MemoryFenceStore, type FenceStore } from "../../../lib/orchestration/fence";
import { TableFenceStore } from "../../../lib/stores/fenceStore";
import { freshTable } from "../../support/tables";

const KEY = "kek:demo-vault/tenant-kek";

const adapters: [string, () => Promise<FenceStore>][] = [
  ["memory", async () => new MemoryFenceStore()],
  ["Table Storage (Azurite)", async () => new TableFenceStore(await freshTable("lock"))],
];

describe.each(adapters)("fence rows: %s", (_name, make) => {
  it("records a grant once, replaces it with a newer one and refuses an older one, changing nothing", async () => {
    const store = await make();
    expect(await fenceFloor(store, KEY)).toEqual({ token: 0 });
    expect(await claimFence(store, KEY, { owner: "a", token: 1 })).toEqual({ recorded: true });
    expect(await claimFence(store, KEY, { owner: "a", token: 1 })).toEqual({ recorded: false });
    expect(await claimFence(store, KEY, { owner: "b", token: 2 })).toEqual({ recorded: true });
    await expect(claimFence(store, KEY, { owner: "a", token: 1 })).rejects.toMatchObject({ code: "FencedOut" });
    expect((await store.read(KEY))?.record).toEqual({ owner: "b", token: 2 });
    expect(await fenceFloor(store, KEY)).toEqual({ token: 2 });
  });

  it("admits a step only under the recorded grant", async () => {
    const store = await make();
    await expect(checkFence(store, KEY, { owner: "a", token: 1 })).rejects.toMatchObject({ code: "FencedOut" });
    await claimFence(store, KEY, { owner: "a", token: 1 });
    await expect(checkFence(store, KEY, { owner: "a", token: 1 })).resolves.toBeUndefined();
    await claimFence(store, KEY, { owner: "b", token: 2 });
    await expect(checkFence(store, KEY, { owner: "a", token: 1 })).rejects.toThrow(/grant 2 of b/);
    await expect(checkFence(store, "kek:demo-vault/other", { owner: "b", token: 2 })).rejects.toMatchObject({ code: "FencedOut" });
  });

  it("keeps the newest grant when claims race", async () => {
    const store = await make();
    const claims = [3, 1, 5, 2, 4].map((token) => claimFence(store, KEY, { owner: `r${token}`, token }).then(() => "ok", () => "refused"));
    await Promise.all(claims);
    expect((await store.read(KEY))?.record).toEqual({ owner: "r5", token: 5 });
  });
});

describe("fence rows in Table Storage", () => {
  it("refuse a malformed row instead of reading it as no grant", async () => {
    const table = await freshTable("lock");
    await table.createEntity({ partitionKey: "fence", rowKey: "kek:demo-vault%2ftenant-kek", owner: "a", token: "1" });
    await expect(new TableFenceStore(table).read(KEY)).rejects.toMatchObject({ code: "FenceRowMalformed" });
  });
});
