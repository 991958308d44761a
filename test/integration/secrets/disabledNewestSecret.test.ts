// A provider secret's next rotation after a rollback retires (disables) the newest Key Vault
// version before it writes the new one. Key Vault refuses to read a disabled secret (403, also as
// "the latest version"), so the write's check-before-act must not depend on reading the newest
// version's value: against the Key Vault peer, which answers as Azure does.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useVaultPeer } from "../../support/keyVaultAdapterPeer";

const kv = useVaultPeer();

describe("createSecretVersion when the newest version is disabled", () => {
  it("writes the new version once, and a repeat of the same rotation finds it", async () => {
    const name = `sec-${randomUUID().slice(0, 8)}`;
    await kv.vault.setSecret(name, "registered");
    const rolledBack = await kv.vault.createSecretVersion(name, () => "rolled-back", { rotationId: "r1" });
    await kv.vault.updateSecretVersion(name, rolledBack.secret.version, { enabled: false });
    await expect(kv.vault.getSecret(name)).rejects.toMatchObject({ code: "VersionDisabled" }); // as Azure answers
    let generated = 0;
    const a = await kv.vault.createSecretVersion(name, () => `new-${++generated}`, { rotationId: "r2" });
    const b = await kv.vault.createSecretVersion(name, () => `new-${++generated}`, { rotationId: "r2" });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, secret: { version: a.secret.version } });
    expect(generated).toBe(1);
    expect((await kv.vault.getSecret(name)).value).toBe("new-1");
  });

  it("a repeat of the rotation whose own version was disabled since finds that version instead of writing another", async () => {
    const name = `sec-${randomUUID().slice(0, 8)}`;
    const own = await kv.vault.createSecretVersion(name, () => "first", { rotationId: "r1" });
    await kv.vault.updateSecretVersion(name, own.secret.version, { enabled: false });
    const again = await kv.vault.createSecretVersion(name, () => "second", { rotationId: "r1" });
    expect(again).toMatchObject({ created: false, secret: { version: own.secret.version } });
  });
});
