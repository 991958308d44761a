// The secret providers' rights in infra/: key operations on the named resources (and the Cosmos DB
// account's read, for its documentEndpoint), nothing more.
import { describe, expect, it } from "vitest";
import { read, resources } from "./bicep";

const file = "infra/modules/secretProviderAccess.bicep";
const src = read(file);

/** Every ARM action a provider calls (lib/secrets/arm.ts), and nothing else may be granted. */
const KEY_ACTIONS = new Set([
  "Microsoft.ServiceBus/namespaces/authorizationRules/listkeys/action",
  "Microsoft.ServiceBus/namespaces/authorizationRules/regenerateKeys/action",
  "Microsoft.ServiceBus/namespaces/queues/authorizationRules/listkeys/action",
  "Microsoft.ServiceBus/namespaces/queues/authorizationRules/regenerateKeys/action",
  "Microsoft.ServiceBus/namespaces/topics/authorizationRules/listkeys/action",
  "Microsoft.ServiceBus/namespaces/topics/authorizationRules/regenerateKeys/action",
  "Microsoft.DocumentDB/databaseAccounts/read",
  "Microsoft.DocumentDB/databaseAccounts/listKeys/action",
  "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action",
]);

describe("secret provider access", () => {
  it("custom roles grant only the actions the providers call (list/regenerate keys, the Cosmos DB account's read), no wildcard, no data actions, assignable in their resource group only", () => {
    const defs = resources(src, "Microsoft.Authorization/roleDefinitions");
    expect(defs.map((d) => d.symbol).sort()).toEqual(["cosmosKeyOperator", "serviceBusKeyOperator"]);
    for (const d of defs) {
      const actions = [...d.body.matchAll(/'(Microsoft\.[^']+)'/g)].map((m) => m[1]!);
      expect(actions.length, d.symbol).toBeGreaterThan(1);
      for (const a of actions) expect(KEY_ACTIONS, `${d.symbol}: ${a}`).toContain(a);
      expect(d.body).not.toMatch(/\*|dataActions/);
      expect(d.body).toMatch(/assignableScopes:\s*\[\s*resourceGroup\(\)\.id\s*\]/);
      expect(d.comment.length).toBeGreaterThan(40);
    }
  });

  it("assign each role on the named resources, never on the resource group or subscription", () => {
    const assignments = resources(src, "Microsoft.Authorization/roleAssignments");
    expect(assignments.map((a) => a.symbol).sort()).toEqual(["cosmosKeys", "serviceBusKeys", "storageKeyOperator"]);
    for (const a of assignments) {
      expect(a.body, a.symbol).toMatch(/scope:\s*(storage|namespaces|cosmos)\[i\]/);
      expect(a.comment.length, a.symbol).toBeGreaterThan(30);
    }
    expect(resources(src, "Microsoft.Authorization/roleAssignments").find((a) => a.symbol === "storageKeyOperator")?.body).toContain("roles.StorageAccountKeyOperatorServiceRole");
  });

  it("main.bicep deploys it per target resource group from rotatedResourcesJson", () => {
    const main = read("infra/main.bicep");
    expect(main).toMatch(/module secretProviderAccess 'modules\/secretProviderAccess\.bicep' = \[for \(t, i\) in json\(rotatedResourcesJson\)/);
    expect(main).toMatch(/scope:\s*resourceGroup\(t\.resourceGroup\)/);
  });
});
