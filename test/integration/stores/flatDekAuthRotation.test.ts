// A tenant DEK rotation's flat path (rotateTenantDek, no branch keys) signs the new format-1 DEK
// with the configured signing key (the Key Vault peer through the SDK) before the DEK gate, and the
// row as stored in the DEK table (Azurite) reads through a resolver that requires signatures.
import { afterEach, describe, expect, it } from "vitest";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { rotateTenantDek } from "../../../lib/orchestration/activities";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { FlatDekAuth } from "../../../lib/envelope/flatDekAuth";
import { vaultSigner } from "../../../lib/envelope/recordSigner";
import { DekResolver } from "../../../lib/envelope/resolver";
import { Envelope } from "../../../lib/envelope/envelope";
import { kekPortOver } from "../../../lib/validation/activity";
import { freshTable } from "../../support/tables";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

const VAULT = "demo-vault";
const KEK = `kek:${VAULT}/tenant-kek`;
const T0 = "2026-01-01T00:00:00.000Z";

let h: Hierarchy | undefined;
afterEach(async () => {
  await stopHierarchy(h);
  h = undefined;
});

describe("rotateTenantDek's flat path", () => {
  it("stores the new DEK signed by the configured signing key (one sign per DEK), readable by a resolver that requires signatures", async () => {
    h = await startHierarchy();
    const auth = new FlatDekAuth({ signer: vaultSigner(h.signingKeyId, h.vault), requireSignature: true });
    const mem = memoryRotationDeps({ clock: { now: () => new Date("2026-03-01T00:00:00Z") } });
    const port = new TableDekPort(await freshTable("deks"));
    const deps: RotationDeps = { ...mem, deks: port, flatDekAuth: auth };
    const v1 = mem.vault.seedKey(VAULT, "tenant-kek", "wrap");
    await mem.inventory.put({ keyId: KEK, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0 }] }, undefined);
    const signs = () => h!.peer.admin.stats().calls.sign ?? 0;

    await rotateTenantDek(deps, { rotationId: "dek:contoso@1", tenant: "contoso", at: T0, kekKeyId: KEK });
    const before = signs();
    const out = await rotateTenantDek(deps, { rotationId: "dek:contoso@2", tenant: "contoso", at: "2026-02-01T00:00:00.000Z" });

    expect(out).toMatchObject({ dekVersion: "v2", reused: false });
    expect(signs() - before).toBe(1);
    const primary = (await port.store.getPrimary("contoso"))!;
    expect(primary).toMatchObject({ dekVersion: 2, signerKeyId: h.signingKeyId, state: "primary" });
    expect(primary.signature).toMatch(/^[A-Za-z0-9_-]{100,}$/);
    const env = new Envelope(new DekResolver(port.store, kekPortOver(mem.validationVault!, VAULT, "tenant-kek"), { auth }));
    const ct = await env.encrypt("contoso", Buffer.from("order #1"));
    expect((await env.decrypt(ct)).toString()).toBe("order #1");
    // The first one is signed too: the tenant has no unsigned row a strict reader would refuse.
    expect((await port.store.get("contoso", primary.dekId.replace(/2$/, "1")))?.signature).toMatch(/\S/);
  });
});
