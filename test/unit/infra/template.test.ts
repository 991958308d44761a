import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROLES } from "../../../lib/http/principal";
import { bicepFiles, blockAfter, moduleCalls, outputs, params, read, ROOT } from "./bicep";

describe("the Bicep templates (checked without a compiler)", () => {
  const calls = bicepFiles().flatMap((f) => moduleCalls(f).map((c) => ({ caller: f, ...c })));

  it("call only modules that exist", () => {
    expect(calls.length).toBeGreaterThan(10);
    for (const c of calls) expect(existsSync(join(ROOT, c.file)), `${c.caller} → ${c.file}`).toBe(true);
  });

  it("pass every required module parameter and no undeclared one", () => {
    for (const c of calls) {
      const declared = params(read(c.file));
      const names = declared.map((p) => p.name);
      for (const p of c.params) expect(names, `${c.caller} passes ${p} to ${c.file}`).toContain(p);
      for (const p of declared.filter((d) => !d.hasDefault)) expect(c.params, `${c.caller} omits ${p.name} of ${c.file}`).toContain(p.name);
    }
  });

  it("main.parameters.json gives every required parameter of main.bicep and nothing it lacks", () => {
    const declared = params(read("infra/main.bicep"));
    const given = Object.keys((JSON.parse(read("infra/main.parameters.json")) as { parameters: object }).parameters);
    for (const g of given) expect(declared.map((p) => p.name)).toContain(g);
    for (const p of declared.filter((d) => !d.hasDefault)) expect(given).toContain(p.name);
  });

  it("output every environment value the postdeploy hook reads", () => {
    const out = new Set([...outputs(read("infra/main.bicep")), "AZURE_ENV_NAME"]);
    const used = [...read("infra/hooks/postdeploy.sh").matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(5);
    for (const v of used) expect(out, v).toContain(v);
  });

  it("pass the postdeploy hook's parameters to eventSubscriptions.bicep as declared", () => {
    const declared = params(read("infra/eventSubscriptions.bicep")).map((p) => p.name);
    const passed = [...read("infra/hooks/postdeploy.sh").matchAll(/^\s+(\w+)="\$/gm)].map((m) => m[1]!);
    expect(passed.sort()).toEqual([...declared].sort());
  });

  it("run the function on Flex Consumption with Node 22 and a user-assigned identity only", () => {
    const app = read("infra/modules/functionApp.bicep");
    expect(app).toMatch(/tier:\s*'FlexConsumption'/);
    expect(app).toMatch(/runtime:\s*\{\s*name:\s*'node',\s*version:\s*'22'\s*\}/);
    expect(blockAfter(app, "identity:")).toMatch(/type:\s*'UserAssigned'/);
    expect(app).not.toMatch(/SystemAssigned/);
  });

  it("keep vaults in RBAC mode with soft delete and purge protection", () => {
    for (const f of ["infra/modules/keyVault.bicep", "infra/modules/ledgerVault.bicep"]) {
      const v = read(f);
      expect(v, f).toMatch(/enableRbacAuthorization:\s*true/);
      expect(v, f).toMatch(/enableSoftDelete:\s*true/);
      expect(v, f).toMatch(/enablePurgeProtection:\s*true/);
    }
  });

  it("turn off key-based access on storage, Service Bus and Application Insights", () => {
    for (const f of ["infra/modules/hostStorage.bicep", "infra/modules/ledgerStorage.bicep"]) expect(read(f), f).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(read("infra/modules/serviceBus.bicep")).toMatch(/disableLocalAuth:\s*true/);
    expect(read("infra/modules/monitoring.bicep")).toMatch(/DisableLocalAuth:\s*true/);
  });

  it("create the events topic with duplicate detection on, and a sample subscription", () => {
    const sb = read("infra/modules/serviceBus.bicep");
    expect(blockAfter(sb, "resource topic")).toMatch(/requiresDuplicateDetection:\s*true/);
    expect(sb).toMatch(/resource \w+ 'Microsoft\.ServiceBus\/namespaces\/topics\/subscriptions@/);
  });

  it("protect the API with Easy Auth v2 (Entra ID), leaving anonymous only health, JWKS, OpenAPI and the Event Grid webhook", () => {
    const app = read("infra/modules/functionApp.bicep");
    const auth = blockAfter(app, "name: 'authsettingsV2'");
    expect(auth).toMatch(/requireAuthentication:\s*true/);
    expect(auth).toMatch(/unauthenticatedClientAction:\s*'Return401'/);
    expect(auth).toMatch(/azureActiveDirectory:/);
    const excluded = blockAfter(auth, "excludedPaths:");
    expect([...excluded.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort()).toEqual(
      ["/api/health", "/api/jwks", "/api/jwks/*", "/api/openapi.json", "/runtime/webhooks/eventgrid"].sort(),
    );
  });

  it("register exactly the app roles the API checks", () => {
    const roles = JSON.parse(read("infra/auth/appRoles.json")) as { value: string; id: string; isEnabled: boolean }[];
    expect(roles.map((r) => r.value).sort()).toEqual(Object.values(ROLES).sort());
    expect(new Set(roles.map((r) => r.id)).size).toBe(roles.length);
    for (const r of roles) expect(r.isEnabled).toBe(true);
  });

  it("azure.yaml deploys the function app from this project and runs hooks that exist", () => {
    const y = read("azure.yaml");
    expect(y).toMatch(/host:\s*function/);
    expect(y).toMatch(/language:\s*ts/);
    for (const m of y.matchAll(/run:\s*(\S+)/g)) expect(existsSync(join(ROOT, m[1]!)), m[1]).toBe(true);
    // The service name is the tag azd finds the Function App by.
    const service = /services:\s*\n\s+(\w+):/.exec(y)?.[1];
    expect(read("infra/modules/functionApp.bicep")).toContain(`'azd-service-name': '${service}'`);
  });
});
