// The Cosmos DB provider's connection strings carry the data endpoint ARM states for the account
// (databaseAccounts GET, properties.documentEndpoint), through the real @azure/arm-cosmosdb client
// against the ARM peer: a sovereign cloud's or a custom endpoint is kept as ARM gives it, and an
// answer that is not an https endpoint stops the rotation before any key is regenerated.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startArmPeer, type ArmPeer } from "../../../dev/peers/arm";
import { parseSecretProvider, type ProviderSpecOf } from "../../../lib/domain/secretProviders";
import { MemoryKeyVault } from "../../../lib/orchestration/memory";
import { connectionPart, cosmosDbKeyProvider } from "../../../lib/secrets/arm";
import { DualCredentialRotation } from "../../../lib/secrets/dualCredential";
import { secretProviders } from "../../../lib/secrets/registry";
import { armConnection, RG, SUB } from "../../support/arm";

let peer: ArmPeer;

const ENDPOINTS = {
  "cosmos-private": "https://cosmos-private.privatelink.contoso.example:443/",
  "cosmos-usgov": "https://cosmos-usgov.documents.azure.us:443/",
  "cosmos-china": "https://cosmos-china.documents.azure.cn:443/",
} as const;

const HOSTILE = {
  "cosmos-plain-http": "http://cosmos-plain-http.documents.azure.com:443/",
  "cosmos-injected": "https://cosmos-injected.documents.azure.com:443/;AccountKey=attacker",
  "cosmos-userinfo": "https://user:pass@cosmos-userinfo.documents.azure.com/",
  "cosmos-path": "https://attacker.example/collect?to=",
  "cosmos-not-url": "cosmos-not-url.documents.azure.com",
  "cosmos-empty": "",
} as const;

beforeAll(async () => {
  peer = await startArmPeer();
  peer.addCosmosAccount(SUB, RG, "cosmos-default");
  for (const [account, documentEndpoint] of Object.entries({ ...ENDPOINTS, ...HOSTILE })) peer.addCosmosAccount(SUB, RG, account, { documentEndpoint });
});
afterAll(async () => {
  await peer?.stop();
});

const spec = (account: string, readOnly = false): ProviderSpecOf<"cosmosDbKey"> =>
  parseSecretProvider({ kind: "cosmosDbKey", subscriptionId: SUB, resourceGroup: RG, account, ...(readOnly ? { readOnly } : {}) }) as ProviderSpecOf<"cosmosDbKey">;
const provider = (account: string, readOnly = false) => cosmosDbKeyProvider(spec(account, readOnly), armConnection(peer));
const resourceId = (account: string) => `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DocumentDB/databaseAccounts/${account}`;
const keysAt = (account: string) => ["primary", "secondary", "primaryReadonly", "secondaryReadonly"].map((slot) => peer.key(resourceId(account), slot));

function rotation(kv: MemoryKeyVault): DualCredentialRotation {
  const c = armConnection(peer);
  const unused = () => { throw new Error("not a Cosmos DB policy"); };
  return new DualCredentialRotation(
    {
      listSecretVersions: (v, n) => kv.listSecretVersions(v, n),
      setSecret: (v, n, value, o) => kv.setSecret(v, n, value, o),
      getSecretValue: async (v, n, version) => kv.secretValue(v, n, version) ?? "",
    },
    secretProviders({ storageAccountKey: unused, serviceBusSas: unused, cosmosDbKey: (s) => cosmosDbKeyProvider(s, c) }),
  );
}

describe("Cosmos DB provider: the account's endpoint comes from ARM", () => {
  it("reads the account (databaseAccounts GET) and puts its documentEndpoint, not one built from the account name, in the connection string", async () => {
    const from = peer.calls.length;
    const value = await provider("cosmos-private").read("primary");
    expect(connectionPart(value, "AccountEndpoint")).toBe(ENDPOINTS["cosmos-private"]);
    expect(connectionPart(value, "AccountKey")).toBe(peer.key(resourceId("cosmos-private"), "primary"));
    const calls = peer.calls.slice(from);
    expect(calls.map((c) => `${c.method} ${c.path.split("/").pop()} ${c.apiVersion}`)).toEqual(["GET cosmos-private 2026-03-15", "POST listKeys 2026-03-15"]);
  });

  it("a public-cloud account keeps the endpoint ARM states for it (https://<account>.documents.azure.com:443/)", async () => {
    const value = await provider("cosmos-default", true).read("secondaryReadonly");
    expect(connectionPart(value, "AccountEndpoint")).toBe("https://cosmos-default.documents.azure.com:443/");
  });

  it.each(["cosmos-usgov", "cosmos-china"] as const)("a sovereign cloud's account (%s): the rotated version stored in Key Vault carries that cloud's endpoint and the new key", async (account) => {
    const kv = new MemoryKeyVault();
    const ref = { vault: "demo-vault", name: account };
    const r = rotation(kv);
    const s = spec(account);
    const inUse = await provider(account).read("primary");
    const v0 = (await kv.setSecret(ref.vault, ref.name, inUse, { rotationId: "registered", slot: "primary" })).version;
    const prepared = await r.prepare(ref, s, { rotationId: "r1", versions: [{ version: v0, slot: "primary", state: "primary" }], primaryVersion: v0, emergency: false });
    const made = await r.create(ref, s, { rotationId: "r1", prepared });
    const stored = kv.secretValue(ref.vault, ref.name, made.version)!;
    expect(connectionPart(stored, "AccountEndpoint")).toBe(ENDPOINTS[account]);
    expect(connectionPart(stored, "AccountKey")).toBe(peer.key(resourceId(account), "secondary"));
    await expect(r.test(ref, s, made.version)).resolves.toEqual({ ok: true });
  });
});

describe("Cosmos DB provider: validate checks the endpoint too", () => {
  it("a connection string with a current key but another endpoint than the account's documentEndpoint does not validate", async () => {
    const p = provider("cosmos-usgov");
    const key = peer.key(resourceId("cosmos-usgov"), "primary")!;
    expect(await p.validate(`AccountEndpoint=https://cosmos-usgov.documents.azure.com:443/;AccountKey=${key};`)).toEqual({ ok: false, reason: `the secret's AccountEndpoint is not the account's documentEndpoint ${ENDPOINTS["cosmos-usgov"]}` });
    expect(await p.validate(`AccountKey=${key};`)).toMatchObject({ ok: false });
  });

  it("the same endpoint spelled without the default port or in upper case validates with a current key", async () => {
    const p = provider("cosmos-usgov");
    const key = peer.key(resourceId("cosmos-usgov"), "primary")!;
    expect(await p.validate(`AccountEndpoint=https://COSMOS-USGOV.documents.azure.us/;AccountKey=${key};`)).toEqual({ ok: true });
    expect(await p.validate(await p.read("primary"))).toEqual({ ok: true });
  });
});

describe("Cosmos DB provider: an endpoint ARM answers that is not https://<host>[:port]/ is refused and nothing is regenerated", () => {
  it.each(Object.keys(HOSTILE) as (keyof typeof HOSTILE)[])("%s: regenerate refuses with CosmosEndpointInvalid before asking ARM to regenerate", async (account) => {
    const before = keysAt(account);
    const from = peer.calls.length;
    const err = await provider(account).regenerate("secondary").then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ family: "invariantViolation", code: "CosmosEndpointInvalid" });
    expect((err as Error).message).toContain(`databaseAccounts/${account}`);
    expect((err as Error).message).toContain("no key was regenerated");
    expect(peer.calls.slice(from).map((c) => `${c.method} ${c.path.split("/").pop()}`)).toEqual([`GET ${account}`]);
    expect(keysAt(account)).toEqual(before);
  });

  it("a whole rotation of such an account stops at its first step: no regenerate at ARM, no new version in Key Vault", async () => {
    const kv = new MemoryKeyVault();
    const ref = { vault: "demo-vault", name: "injected" };
    const account = "cosmos-injected";
    const before = keysAt(account);
    const from = peer.calls.length;
    await expect(rotation(kv).prepare(ref, spec(account), { rotationId: "r1", versions: [], emergency: false })).rejects.toMatchObject({ code: "CosmosEndpointInvalid" });
    expect(peer.calls.slice(from).some((c) => c.path.toLowerCase().endsWith("/regeneratekey"))).toBe(false);
    expect(keysAt(account)).toEqual(before);
    expect(await kv.listSecretVersions(ref.vault, ref.name)).toEqual([]);
  });
});
