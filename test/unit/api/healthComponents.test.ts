// /api/health shows each managed Key Vault's reachability and the ledger's last complete
// verification; a vault that does not answer, refuses us, or a ledger that did not verify make
// health degraded (200), never an error.
import { describe, expect, it } from "vitest";
import { memoryApiServices } from "../../../lib/api/services";
import { health } from "../../../lib/api/queries";
import { PROBE_KEY_NAME, VAULT_PROBE_REUSE_MS, VERIFICATION_STALE_MS } from "../../../lib/api/healthComponents";
import { runLedgerAudit } from "../../../lib/api/ledgerAudit";
import type { VaultReader } from "../../../lib/api/ports";
import { DependencyUnavailableError, InvalidRequestError } from "../../../lib/domain/errors";
import { ephemeralSealSigner, memoryLedger } from "../../../lib/ledger";
import { MemoryAuditCheckpointStore } from "../../../lib/ledger/verifyCheckpoint";
import { step } from "../ledger/ledgerContract";

const NOW = new Date("2026-06-01T12:00:00Z");
const clock = { now: () => new Date(NOW) };

function world(vault?: Partial<VaultReader>) {
  const { services } = memoryApiServices({ clock, vaults: ["vault-a", "vault-b"] });
  const ledger = memoryLedger({ signer: ephemeralSealSigner(), clock });
  const checkpoints = new MemoryAuditCheckpointStore();
  const real = services.vault;
  const reader: VaultReader = {
    listKeyVersions: vault?.listKeyVersions ?? ((v, n) => real.listKeyVersions(v, n)),
    listSecretVersions: (v, n) => real.listSecretVersions(v, n),
    publicJwk: (v, n, ver) => real.publicJwk(v, n, ver),
  };
  return { services: { ...services, ledger, vault: reader }, ledger, checkpoints };
}

describe("health: Key Vault reachability", () => {
  it("reports every managed vault as ok with its latency when the vault answers (an unknown key's 404 is an answer)", async () => {
    const asked: string[] = [];
    const w = world({
      listKeyVersions: async (vault, name) => {
        asked.push(`${vault}/${name}`);
        throw new InvalidRequestError("KeyNotFound", "not found", { status: 404 });
      },
    });
    const h = await health(w.services);
    expect(h.status).toBe("ok");
    expect(h.components["keyVault:vault-a"]).toMatchObject({ status: "ok", latencyMs: expect.any(Number) });
    expect(h.components["keyVault:vault-b"]).toMatchObject({ status: "ok" });
    expect(asked.sort()).toEqual([`vault-a/${PROBE_KEY_NAME}`, `vault-b/${PROBE_KEY_NAME}`]);
  });

  it("makes health degraded, not an error, when a vault is unreachable, and says which", async () => {
    const w = world({
      listKeyVersions: async (vault) => {
        if (vault === "vault-b") throw new DependencyUnavailableError("keyvault", "[keyrotor] [keyvault] list versions: no response", { code: "NetworkError" });
        return [];
      },
    });
    const h = await health(w.services);
    expect(h.status).toBe("degraded");
    expect(h.components["keyVault:vault-a"]).toMatchObject({ status: "ok" });
    expect(h.components["keyVault:vault-b"]).toMatchObject({ status: "degraded", detail: expect.stringContaining("vault-b") });
  });

  it("probes each vault at most once per reuse period, however many callers ask at once (the route needs no role)", async () => {
    let probes = 0;
    let at = NOW.getTime();
    const w = world({
      listKeyVersions: async () => {
        probes += 1;
        await new Promise((r) => setTimeout(r, 20));
        return [];
      },
    });
    const services = { ...w.services, clock: { now: () => new Date(at) } };
    await Promise.all(Array.from({ length: 50 }, () => health(services)));
    expect(probes).toBe(2);
    at += VAULT_PROBE_REUSE_MS - 1;
    await health(services);
    expect(probes).toBe(2);
    at += 1;
    expect((await health(services)).components["keyVault:vault-a"]).toMatchObject({ status: "ok" });
    expect(probes).toBe(4);
  });

  it("gives up on a vault that does not answer within the timeout", async () => {
    const w = world({ listKeyVersions: () => new Promise<never>(() => {}) });
    const h = await health(w.services, { vaultTimeoutMs: 20 });
    expect(h.status).toBe("degraded");
    expect(h.components["keyVault:vault-a"]).toMatchObject({ status: "degraded", detail: expect.stringContaining("20 ms") });
  });
});

describe("health: the last ledger verification", () => {
  it("shows the time, outcome and size of the audit's last complete verification", async () => {
    const w = world();
    for (let i = 1; i <= 3; i++) await w.ledger.append(step("kek:vault-a/k1", i));
    await runLedgerAudit(w.services, { checkpoints: w.checkpoints });
    const h = await health(w.services, { auditRecord: () => w.checkpoints.read() });
    expect(h.components.ledgerVerification).toMatchObject({ status: "ok", lastVerifiedAt: NOW.toISOString(), ok: true, chains: 1, entries: 3, sealSeq: 1 });
    expect(h.status, JSON.stringify(h.components)).toBe("ok");
  });

  it("reads the audit's record from the services' shared store by default (the timer and the HTTP function may run on different instances)", async () => {
    const w = world();
    await w.ledger.append(step("kek:vault-a/k1", 1));
    await runLedgerAudit(w.services);
    const h = await health(w.services);
    expect(h.components.ledgerVerification).toMatchObject({ status: "ok", ok: true, entries: 1, lastVerifiedAt: NOW.toISOString() });
  });

  it("is degraded when the last audit found the ledger broken", async () => {
    const w = world();
    await w.checkpoints.write({ last: { at: NOW.toISOString(), startedAt: NOW.toISOString(), ok: false, chains: 1, entries: 3, seals: 0, pages: 1, firstBreak: { keyId: "kek:vault-a/k1", seq: 2, problem: "hashMismatch", detail: "x" } } });
    const h = await health(w.services, { auditRecord: () => w.checkpoints.read() });
    expect(h.status).toBe("degraded");
    expect(h.components.ledgerVerification).toMatchObject({ status: "degraded", ok: false, firstBreak: { seq: 2 } });
  });

  it("is degraded when no verification completed for days", async () => {
    const w = world();
    const at = new Date(NOW.getTime() - VERIFICATION_STALE_MS - 1).toISOString();
    await w.checkpoints.write({ last: { at, startedAt: at, ok: true, chains: 1, entries: 3, seals: 1, pages: 1 } });
    const h = await health(w.services, { auditRecord: () => w.checkpoints.read() });
    expect(h.components.ledgerVerification).toMatchObject({ status: "degraded", detail: expect.stringContaining(at) });
  });

  it("is degraded, not an error, when the audit record cannot be read", async () => {
    const w = world();
    const h = await health(w.services, { auditRecord: () => Promise.reject(new Error("table unavailable")) });
    expect(h.status).toBe("degraded");
    expect(h.components.ledgerVerification).toMatchObject({ status: "degraded", detail: expect.stringContaining("table unavailable") });
  });
});
