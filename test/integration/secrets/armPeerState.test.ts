// The ARM peer with a state file (what `npm start` gives it under .keyrotor/): its accounts, rules
// and keys survive a restart, so the secrets Key Vault holds still authenticate after one; adding a
// resource the file already holds keeps its keys; an unreadable file is refused by name.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startArmPeer } from "../../../dev/peers/arm";
import { parseSecretProvider, type ProviderSpecOf } from "../../../lib/domain/secretProviders";
import { storageAccountKeyProvider } from "../../../lib/secrets/arm";
import { armConnection, resourceIds, RG, SUB } from "../../support/arm";

const dir = mkdtempSync(path.join(tmpdir(), "keyrotor-armstate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = parseSecretProvider({ kind: "storageAccountKey", subscriptionId: SUB, resourceGroup: RG, account: "demostore" }) as ProviderSpecOf<"storageAccountKey">;

describe("ARM peer state file", () => {
  it("keeps keys (and a regenerated one) across a restart; the stored connection string still authenticates", async () => {
    const stateFile = path.join(dir, "arm-peer.json");
    const first = await startArmPeer({ stateFile });
    first.addStorageAccount(SUB, RG, "demostore");
    const p1 = storageAccountKeyProvider(spec, armConnection(first));
    const stored = await p1.regenerate("key2");
    const key1 = first.key(resourceIds.storage, "key1");
    await first.stop();
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);

    const second = await startArmPeer({ stateFile });
    second.addStorageAccount(SUB, RG, "demostore"); // as npm start does on every start: keeps what is there
    expect(second.key(resourceIds.storage, "key1")).toBe(key1);
    const p2 = storageAccountKeyProvider(spec, armConnection(second));
    expect(await p2.validate(stored)).toEqual({ ok: true });
    expect(second.caPem).toBe(first.caPem); // the same CA: a KEYROTOR_ARM_CA_FILE written before still works
    await second.stop();
  });

  it("without a state file a restart starts afresh (tests), and an unreadable one is refused naming the file", async () => {
    const a = await startArmPeer();
    a.addStorageAccount(SUB, RG, "demostore");
    const key = a.key(resourceIds.storage, "key1");
    await a.stop();
    const b = await startArmPeer();
    b.addStorageAccount(SUB, RG, "demostore");
    expect(b.key(resourceIds.storage, "key1")).not.toBe(key);
    await b.stop();
    const bad = path.join(dir, "broken.json");
    writeFileSync(bad, "{not json");
    await expect(startArmPeer({ stateFile: bad })).rejects.toThrow(/cannot read its state file .*broken\.json.*delete it/);
  });
});
