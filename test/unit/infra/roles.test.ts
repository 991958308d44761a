import { describe, expect, it } from "vitest";
import { bicepFiles, read, resources, stripComments } from "./bicep";

/**
 * Azure built-in role definitions infra/ may assign: name → id. Ids are the same in every
 * subscription. Looked up, not guessed (2026-11-22): the Key Vault ids against Microsoft's
 * built-in roles reference and azadvertizer.net/azure-rbac-catalog.org role pages (Crypto Officer
 * 14b46e9e…, Crypto User 12338af0…), the others against Microsoft's built-in roles page as mirrored
 * in public templates (e.g. Azure-Samples Flex Consumption quickstarts for the storage roles,
 * Service Bus Data Sender 69a216fc…, Monitoring Metrics Publisher 3913510d…).
 */
const BUILT_IN_ROLES: Record<string, { name: string; id: string; why: string }> = {
  KeyVaultCryptoOfficer: { name: "Key Vault Crypto Officer", id: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603", why: "create/rotate/disable key versions in managed vaults" },
  KeyVaultCryptoUser: { name: "Key Vault Crypto User", id: "12338af0-0e69-4776-bea7-57ae8d297424", why: "sign with the ledger seal key; consumers' unwrap" },
  KeyVaultSecretsOfficer: { name: "Key Vault Secrets Officer", id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", why: "rotate managed secrets" },
  StorageTableDataContributor: { name: "Storage Table Data Contributor", id: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", why: "keyrotor's tables; Durable History/Instances" },
  StorageBlobDataOwner: { name: "Storage Blob Data Owner", id: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", why: "Functions host storage, Flex deployment package" },
  StorageBlobDataContributor: { name: "Storage Blob Data Contributor", id: "ba92f5b4-2d11-453d-a403-e96b0029c9fe", why: "Event Grid dead-letter container" },
  StorageQueueDataContributor: { name: "Storage Queue Data Contributor", id: "974c5e8b-45b9-4653-ba55-5f855dd0fb88", why: "Durable task hub queues" },
  AzureServiceBusDataSender: { name: "Azure Service Bus Data Sender", id: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", why: "publish rotation events to the topic" },
  MonitoringMetricsPublisher: { name: "Monitoring Metrics Publisher", id: "3913510d-42f4-4e42-8a64-420c390055eb", why: "telemetry with local auth disabled" },
  StorageAccountKeyOperatorServiceRole: { name: "Storage Account Key Operator Service Role", id: "81a9662b-bebf-436f-a333-f67b29880f12", why: "list and regenerate key1/key2 of storage accounts whose keys keyrotor rotates" },
};
/** Broad roles a least-privilege template never hands out. */
const FORBIDDEN = ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635" /* Owner */, "b24988ac-6180-42a0-ab88-20f7382dd24c" /* Contributor */, "00482a5a-887f-4fb3-b363-3b7fe8e74483" /* Key Vault Administrator */];

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

describe("role assignments", () => {
  it("infra/builtInRoles.json is exactly the documented table", () => {
    const { $comment: _c, ...table } = JSON.parse(read("infra/builtInRoles.json")) as Record<string, string>;
    expect(table).toEqual(Object.fromEntries(Object.entries(BUILT_IN_ROLES).map(([k, v]) => [k, v.id])));
  });

  const assignments = bicepFiles().flatMap((f) => resources(read(f), "Microsoft.Authorization/roleAssignments").map((r) => ({ file: f, ...r })));

  it("exist (the template grants what the app needs)", () => {
    expect(assignments.length).toBeGreaterThanOrEqual(9);
  });

  it("each use a documented built-in role by name from the table, never a literal id", () => {
    for (const a of assignments) {
      // A custom role defined in the same file (key operations only: secretProviderRoles.test.ts).
      const custom = /roleDefinitionId:\s*(\w+)\.id\b/.exec(a.body);
      if (custom && resources(read(a.file), "Microsoft.Authorization/roleDefinitions").some((d) => d.symbol === custom[1])) {
        expect(a.body).toMatch(/guid\(/);
        continue;
      }
      const m = /roleDefinitionId:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*roles\.(\w+)\)/.exec(a.body);
      expect(m, `${a.file} ${a.symbol}`).not.toBeNull();
      expect(Object.keys(BUILT_IN_ROLES), `${a.file} ${a.symbol}`).toContain(m![1]);
      expect(a.body).toMatch(/guid\(/); // deterministic assignment names: redeploys are idempotent
    }
    for (const f of bicepFiles()) {
      const src = read(f);
      if (/roles\.\w+/.test(src)) expect(src, f).toContain("loadJsonContent('../builtInRoles.json')");
      expect(stripComments(src).match(GUID) ?? [], `${f} has a literal GUID`).toEqual([]);
    }
  });

  it("each carry a comment saying why the role is needed", () => {
    for (const a of assignments) expect(a.comment.length, `${a.file} ${a.symbol}`).toBeGreaterThan(40);
  });

  it("never grant Owner, Contributor or Key Vault Administrator", () => {
    const all = bicepFiles().map(read).join("\n") + read("infra/builtInRoles.json");
    for (const id of FORBIDDEN) expect(all).not.toContain(id);
  });

  it("scope the app's Key Vault roles to the vault (or the seal key), Service Bus to the topic", () => {
    const find = (symbol: string) => assignments.find((a) => a.symbol === symbol);
    expect(find("cryptoOfficer")?.body).toMatch(/scope:\s*vault\b/);
    expect(find("secretsOfficer")?.body).toMatch(/scope:\s*vault\b/);
    expect(read("infra/modules/vaultAccess.bicep")).toMatch(/resource secretsOfficer [^=]+= if \(manageSecrets\)/);
    expect(find("sealSigner")?.body).toMatch(/scope:\s*sealKey\b/);
    expect(find("sealSigner")?.body).toContain("roles.KeyVaultCryptoUser");
    expect(find("sender")?.body).toMatch(/scope:\s*topic\b/);
    expect(find("deadLetterWriter")?.body).toMatch(/scope:\s*deadLetterContainer\b/);
  });
});
