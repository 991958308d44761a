// The Cosmos DB provider's rights as Azure receives them: infra/main.bicep compiled by the real
// Bicep CLI, every nested module's template walked. The provider reads the account (its
// documentEndpoint), lists and regenerates keys; the identity gets exactly that on each named
// account, through one custom role, and nothing broader anywhere in the deployment.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { BICEP_INSTALL_HINT, findBicep } from "../../support/bicepCli";
import { ROOT } from "./bicep";

const run = promisify(execFile);
const bicep = findBicep();
// The CLI is a .NET program: ~15 s alone for main.bicep, far more on a busy machine.
const BICEP_TIMEOUT = 180_000;

/** Every ARM call the Cosmos DB provider makes (lib/secrets/arm.ts cosmosDbKeyProvider). */
const COSMOS_ACTIONS = [
  "Microsoft.DocumentDB/databaseAccounts/read",
  "Microsoft.DocumentDB/databaseAccounts/listKeys/action",
  "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action",
];

interface ArmResource {
  type: string;
  name: string;
  scope?: string;
  condition?: string;
  properties: Record<string, unknown> & {
    template?: { resources: ArmResource[] | Record<string, ArmResource> };
    permissions?: { actions?: string[]; notActions?: string[]; dataActions?: string[]; notDataActions?: string[] }[];
    assignableScopes?: string[];
    roleDefinitionId?: string;
    principalId?: string;
  };
}

/** Every resource of the template and of the templates of its (nested) modules. */
function allResources(template: { resources: ArmResource[] | Record<string, ArmResource> }): ArmResource[] {
  const own = Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
  return own.flatMap((r) => [r, ...(r.type === "Microsoft.Resources/deployments" && r.properties.template ? allResources(r.properties.template) : [])]);
}

describe("the Cosmos DB provider's rights in the compiled deployment (real Bicep CLI)", () => {
  if (!bicep) {
    process.stderr.write(`[keyrotor] [bicep] no Bicep CLI found: the compiled Cosmos DB role checks are SKIPPED (${BICEP_INSTALL_HINT})\n`);
    it.skip(`SKIPPED, no Bicep CLI: ${BICEP_INSTALL_HINT}`, () => {});
    return;
  }

  let resources: ArmResource[] = [];
  beforeAll(async () => {
    const { stdout } = await run(bicep, ["build", "--stdout", "infra/main.bicep"], { cwd: ROOT, encoding: "utf8", timeout: BICEP_TIMEOUT, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1" } });
    resources = allResources(JSON.parse(stdout) as { resources: ArmResource[] });
  }, BICEP_TIMEOUT);

  const roleDefinitions = () => resources.filter((r) => r.type === "Microsoft.Authorization/roleDefinitions");
  const roleAssignments = () => resources.filter((r) => r.type === "Microsoft.Authorization/roleAssignments");
  const actionsOf = (r: ArmResource) => (r.properties.permissions ?? []).flatMap((p) => p.actions ?? []);

  it("the Cosmos DB key role grants databaseAccounts/read (the account's GET), listKeys and regenerateKey, and nothing else: no data actions, no wildcard, assignable in its resource group only", () => {
    const cosmos = roleDefinitions().filter((d) => d.name.includes("keyrotor-cosmosdb-key-operator"));
    expect(cosmos).toHaveLength(1);
    const role = cosmos[0]!;
    expect(actionsOf(role).sort()).toEqual([...COSMOS_ACTIONS].sort());
    for (const p of role.properties.permissions ?? []) {
      expect(p.notActions ?? []).toEqual([]);
      expect(p.dataActions ?? []).toEqual([]);
      expect(p.notDataActions ?? []).toEqual([]);
    }
    expect(role.properties.assignableScopes).toEqual(["[resourceGroup().id]"]);
  });

  it("no other role definition in the deployment touches Microsoft.DocumentDB, and none uses a wildcard", () => {
    for (const d of roleDefinitions()) {
      const actions = [...actionsOf(d), ...(d.properties.permissions ?? []).flatMap((p) => p.dataActions ?? [])];
      for (const a of actions) expect(a, d.name).not.toContain("*");
      if (!d.name.includes("keyrotor-cosmosdb-key-operator")) expect(actions.filter((a) => /documentdb/i.test(a)), d.name).toEqual([]);
    }
  });

  it("the role is assigned to the app's identity on each named account, and every role assignment in the deployment is scoped to one resource (none on a resource group or subscription, which would reach the accounts)", () => {
    const onAccounts = roleAssignments().filter((a) => /Microsoft\.DocumentDB\/databaseAccounts/i.test(a.scope ?? ""));
    expect(onAccounts).toHaveLength(1);
    const a = onAccounts[0]!;
    expect(a.scope).toBe("[resourceId('Microsoft.DocumentDB/databaseAccounts', parameters('cosmosAccounts')[copyIndex()])]");
    expect(a.properties.roleDefinitionId).toBe("[resourceId('Microsoft.Authorization/roleDefinitions', guid(resourceGroup().id, 'keyrotor-cosmosdb-key-operator'))]");
    expect(a.properties.principalId).toBe("[parameters('appPrincipalId')]");
    for (const r of roleAssignments()) expect(r.scope, r.name).toMatch(/^\[resourceId\('Microsoft\.[A-Za-z]+\/[A-Za-z/]+', /);
  });
});
