// Infra that deploys (issue 14): the runtime Azure still supports, the system topic in the vault's
// region, a task hub name valid for every azd environment name, and a teardown/redeploy path for
// purge-protected vaults and the locked ledger account.
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { BICEP_INSTALL_HINT, findBicep } from "../../support/bicepCli";
import { blockAfter, moduleCalls, params, read, resources, ROOT } from "./bicep";

const run = promisify(execFile);

describe("the Function App runtime", () => {
  it("runs Node 22 on Flex Consumption, a version package.json engines admits, as it admits Node 20 for local use", () => {
    const app = read("infra/modules/functionApp.bicep");
    const version = /runtime:\s*\{\s*name:\s*'node',\s*version:\s*'(\d+)'\s*\}/.exec(app)?.[1];
    expect(version).toBe("22");
    const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    const floor = /^>=\s*(\d+)(?:\.(\d+))?/.exec(engines);
    expect(floor, `engines.node ${engines} is a lower bound only`).not.toBeNull();
    const [major, minor] = [Number(floor![1]), Number(floor![2] ?? 0)];
    expect(major).toBeLessThanOrEqual(20);
    expect(major === 20 ? minor : 0).toBeLessThanOrEqual(19);
  });
});

describe("each managed vault's Event Grid system topic", () => {
  it("is created in the vault's own region (read from the vault), not the deployment's", () => {
    const access = read("infra/modules/vaultAccess.bicep");
    expect(access).toMatch(/resource vault 'Microsoft\.KeyVault\/vaults@[^']+' existing/);
    // vaultAccess has no location of its own to fall back on.
    expect(params(access).map((p) => p.name)).not.toContain("location");
    expect(moduleCalls("infra/main.bicep").find((c) => c.symbol === "vaultAccess")?.params).not.toContain("location");
    const call = moduleCalls("infra/modules/vaultAccess.bicep").find((c) => c.file === "infra/modules/vaultSystemTopic.bicep");
    expect(call?.params).toContain("location");
    expect(blockAfter(access, /^module \w+ 'vaultSystemTopic\.bicep'/m)).toMatch(/^\s*location:\s*vault\.location\s*$/m);
    const topic = resources(read("infra/modules/vaultSystemTopic.bicep"), "Microsoft.EventGrid/systemTopics");
    expect(topic).toHaveLength(1);
    expect(topic[0]!.body).toMatch(/^\s*location:\s*location\s*$/m);
    // Nowhere else is a system topic declared (one per vault, through this module only).
    for (const f of ["infra/main.bicep", "infra/modules/vaultAccess.bicep"]) expect(resources(read(f), "Microsoft.EventGrid/systemTopics"), f).toHaveLength(0);
  });
});

// azd's EnvironmentNameRegexp (Azure/azure-dev, pkg/environment): ^[a-zA-Z0-9-\(\)_\.]{1,64}$.
const AZD_ENV_NAMES = [
  "dev",
  "keyrotor-prod",
  "my-env-with-dashes",
  "1st-env",
  "42",
  "a",
  "-",
  "_.()",
  "Prod_EU.(blue)",
  "release.",
  "v1.2.",
  "UPPER-case-9",
  "a".repeat(64),
  "9".repeat(64),
  "x-".repeat(32),
  `${"-".repeat(63)}z`,
];

describe("names built from the azd environment name", () => {
  it("the table covers azd's accepted names only", () => {
    for (const n of AZD_ENV_NAMES) expect(n, n).toMatch(/^[a-zA-Z0-9\-()_.]{1,64}$/);
  });

  it("main.bicep accepts every environment name azd accepts (1 to 64 characters)", () => {
    const main = read("infra/main.bicep");
    const decorators = /((?:@\w+\([^)]*\)\s*\n|@description\('(?:[^'\\]|\\.)*'\)\s*\n)*)param environmentName string/.exec(main)?.[1] ?? "";
    const max = /@maxLength\((\d+)\)/.exec(decorators)?.[1];
    const min = /@minLength\((\d+)\)/.exec(decorators)?.[1];
    if (max !== undefined) expect(Number(max)).toBeGreaterThanOrEqual(64);
    if (min !== undefined) expect(Number(min)).toBeLessThanOrEqual(1);
  });

  it("the task hub setting is naming.bicep's taskHubName of the environment name", () => {
    const main = read("infra/main.bicep");
    expect(main).toMatch(/^import \{[^}]*\btaskHubName\b[^}]*\} from 'naming\.bicep'$/m);
    expect(blockAfter(main, /^module functionApp /m)).toMatch(/^\s*taskHubName:\s*taskHubName\(environmentName\)\s*$/m);
    expect(read("infra/modules/functionApp.bicep")).toMatch(/KEYROTOR_TASK_HUB:\s*taskHubName/);
    expect(read("host.json")).toContain('"hubName": "%KEYROTOR_TASK_HUB%"');
  });

  const bicep = findBicep();
  if (!bicep) process.stderr.write(`[keyrotor] [bicep] no Bicep CLI: the environment name table is SKIPPED (${BICEP_INSTALL_HINT})\n`);

  /** Evaluates naming.bicep's `func` of that name for every name of the table, with `bicep console`. */
  async function evaluate(func: string): Promise<string[]> {
    const decl = read("infra/naming.bicep").split("\n").find((l) => l.startsWith(`func ${func}(`));
    expect(decl, `naming.bicep declares ${func} on one line`).toBeDefined();
    const input = [decl!, ...AZD_ENV_NAMES.map((n) => `${func}('${n}')`)].join("\n") + "\n";
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(bicep!, ["console"], { cwd: ROOT, encoding: "utf8", timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
      child.stdin!.end(input);
    });
    const values = out.split("\n").filter((l) => l.startsWith("'")).map((l) => l.slice(1, -1));
    expect(values, out).toHaveLength(AZD_ENV_NAMES.length);
    return values;
  }

  it.skipIf(!bicep)(
    "the task hub name, evaluated by Bicep itself, is letters and digits only, 3 to 45 long, starting with a letter, for every azd name",
    async () => {
      const names = await evaluate("taskHubName");
      names.forEach((hub, i) => expect(hub, `env ${AZD_ENV_NAMES[i]}`).toMatch(/^[A-Za-z][A-Za-z0-9]{2,44}$/));
      expect(names[AZD_ENV_NAMES.indexOf("Prod_EU.(blue)")]).toBe("keyrotorprodeublue");
    },
    180_000,
  );

  it.skipIf(!bicep)(
    "the resource group name, evaluated by Bicep itself, is valid for every azd name (no trailing period) and stays rg-<env> otherwise",
    async () => {
      const names = await evaluate("resourceGroupName");
      names.forEach((rg, i) => {
        const env = AZD_ENV_NAMES[i]!;
        expect(rg, `env ${env}`).toMatch(/^[-\w.()]{1,90}$/);
        expect(rg.endsWith("."), `env ${env}`).toBe(false);
        if (!env.endsWith(".")) expect(rg).toBe(`rg-${env}`);
      });
      expect(read("infra/main.bicep")).not.toContain("'rg-${environmentName}'");
    },
    180_000,
  );

  it("the postdeploy hook's deployment name stays within 64 characters for a 64-character environment name", () => {
    const hook = read("infra/hooks/postdeploy.sh");
    const line = /^deployment_name=.*$/m.exec(hook)?.[0];
    expect(line, "postdeploy.sh sets deployment_name").toBeDefined();
    expect(hook).toMatch(/--name "\$deployment_name"/);
    const name = execFileSync("sh", ["-c", `${line}\nprintf '%s' "$deployment_name"`], { env: { PATH: process.env.PATH, AZURE_ENV_NAME: "e".repeat(64) }, encoding: "utf8" });
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(/^keyrotor-eventgrid-e+$/);
  });
});

describe("teardown and redeploy", () => {
  it("both vaults take a createMode parameter ('recover' brings a soft-deleted vault back) that main.parameters.json fills from azd", () => {
    for (const [f, p] of [["infra/modules/keyVault.bicep", "keyVaultCreateMode"], ["infra/modules/ledgerVault.bicep", "ledgerVaultCreateMode"]] as const) {
      const src = read(f);
      expect(src, f).toMatch(/@allowed\(\[ 'default', 'recover' \]\)[\s\S]*?param createMode string/);
      expect(blockAfter(src, /^resource vault /m), f).toMatch(/^\s*createMode:\s*createMode\s*$/m);
      expect(read("infra/main.bicep")).toMatch(new RegExp(`^\\s*createMode:\\s*${p}\\s*$`, "m"));
    }
    const given = (JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: string }> }).parameters;
    expect(given.keyVaultCreateMode?.value).toBe("${KEYROTOR_KEYVAULT_CREATE_MODE=default}");
    expect(given.ledgerVaultCreateMode?.value).toBe("${KEYROTOR_LEDGER_VAULT_CREATE_MODE=default}");
    expect(given.ledgerDeleteLock?.value).toBe("${KEYROTOR_LEDGER_DELETE_LOCK=true}");
  });

  it("the ledger account's delete lock is on by default and can be left off only by a parameter", () => {
    expect(params(read("infra/main.bicep")).find((p) => p.name === "ledgerDeleteLock")?.defaultText).toBe("true");
    const ledger = read("infra/modules/ledgerStorage.bicep");
    expect(ledger).toMatch(/resource \w+ 'Microsoft\.Authorization\/locks@[^']+' = if \(deleteLock\) \{/);
    expect(blockAfter(ledger, /resource \w+ 'Microsoft\.Authorization\/locks@/)).toMatch(/level:\s*'CanNotDelete'/);
  });

  it("main.bicep outputs the vault and ledger account names the preprovision hook and the teardown steps use", () => {
    const main = read("infra/main.bicep");
    for (const o of ["KEYROTOR_KEYVAULT_NAME", "KEYROTOR_LEDGER_VAULT_NAME", "KEYROTOR_LEDGER_ACCOUNT_NAME"]) expect(main).toMatch(new RegExp(`^output ${o} string =`, "m"));
    const doc = read("docs/deploy.md");
    for (const s of ["azd down", "recover", "az lock delete", "KEYROTOR_LEDGER_DELETE_LOCK"]) expect(doc, s).toContain(s);
  });

  /** Runs preprovision.sh with `az` and `azd` replaced by scripts that log their calls. */
  async function preprovision(env: Record<string, string>, softDeleted: string[]): Promise<{ azd: string[]; az: string[] }> {
    const dir = mkdtempSync(join(tmpdir(), "keyrotor-hook-"));
    try {
      const log = (name: string) => join(dir, `${name}.log`);
      writeFileSync(
        join(dir, "az"),
        `#!/bin/sh\necho "$*" >> '${log("az")}'\nif [ "$1 $2" = "keyvault show-deleted" ]; then\n  case " ${softDeleted.join(" ")} " in *" $4 "*) echo "$4"; exit 0;; esac\n  echo "ERROR: (DeletedVaultNotFound)" >&2; exit 3\nfi\nexit 0\n`,
      );
      writeFileSync(join(dir, "azd"), `#!/bin/sh\necho "$*" >> '${log("azd")}'\n`);
      chmodSync(join(dir, "az"), 0o755);
      chmodSync(join(dir, "azd"), 0o755);
      await run("sh", ["infra/hooks/preprovision.sh"], { cwd: ROOT, env: { PATH: `${dir}:${process.env.PATH}`, AZURE_ENV_NAME: "test", AUTH_CLIENT_ID: "00000000-0000-0000-0000-000000000001", ...env } });
      const lines = (name: string) => {
        try {
          return readFileSync(log(name), "utf8").split("\n").filter(Boolean);
        } catch {
          return [];
        }
      };
      return { azd: lines("azd"), az: lines("az") };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("after azd down, the preprovision hook switches a soft-deleted vault to recover and leaves a live one on default", async () => {
    const { azd } = await preprovision({ KEYROTOR_KEYVAULT_NAME: "kv-kr-abc", KEYROTOR_LEDGER_VAULT_NAME: "kv-krl-abc" }, ["kv-krl-abc"]);
    expect(azd).toContain("env set KEYROTOR_LEDGER_VAULT_CREATE_MODE recover");
    expect(azd).toContain("env set KEYROTOR_KEYVAULT_CREATE_MODE default");
  });

  it("on a first provision (no vault names yet) the hook sets both create modes to default without asking az", async () => {
    const { azd, az } = await preprovision({}, ["kv-kr-abc", "kv-krl-abc"]);
    expect(azd).toEqual(["env set KEYROTOR_KEYVAULT_CREATE_MODE default", "env set KEYROTOR_LEDGER_VAULT_CREATE_MODE default"]);
    expect(az).toEqual([]);
  });
});
