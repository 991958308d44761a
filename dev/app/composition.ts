// The local host's composition root: one ledger (with a seal key kept under the state directory, so
// seals made before a restart still verify after it) shared by the HTTP API, the policy timer, the
// Event Grid trigger and the rotation activities, over the real adapters the settings point at
// (Table Storage, Key Vault, Service Bus). Installed before the host loads the functions.
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { apiServices, setApiServices } from "../../lib/api/services";
import type { Config } from "../../lib/config";
import type { ManagedKey } from "../../lib/domain/keys";
import { nodeSealSigner, tableLedger, type HashChainLedger, type SealSigner } from "../../lib/ledger";
import { createRotationDeps, setRotationDeps } from "../../lib/orchestration/deps";
import type { JwksDocument, JwksStore, PolicySource, RotationDeps, RotationPolicyView } from "../../lib/orchestration/ports";
import { Inventory } from "../../lib/stores/inventory";
import { PolicyStore } from "../../lib/stores/policyStore";
import { ensureTable, tableClient } from "../../lib/stores/tables";
import type { ApiServices } from "../../lib/api/ports";
import { TableDekPort } from "./tableDeks";

export const LOCAL_SEAL_KID = "local:keyrotor-dev-seal";

/** The local seal key: created once (EC P-256) and kept in the state directory. */
export function localSealSigner(stateDir: string): SealSigner {
  const file = path.join(stateDir, "ledger-seal-key.pem");
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return nodeSealSigner({ kid: LOCAL_SEAL_KID, privateKey: createPrivateKey(readFileSync(file, "utf8")) });
}

/** Policies as the rotation engine reads them, from the policy table. */
export function policySource(store: PolicyStore): PolicySource {
  return {
    async policyFor(key: ManagedKey): Promise<RotationPolicyView | undefined> {
      const p = await store.policyFor(key);
      if (!p) return undefined;
      return {
        policyId: p.policyId, overlap: p.overlap, revokeOld: p.revokeOld, retainFor: p.retainFor ?? "P36500D", rollbackWindow: p.rollbackWindow,
        maxAttempts: p.maxAttempts, ...(p.expiresAfter ? { expiresAfter: p.expiresAfter } : {}),
        ...(p.secret ? { secret: { generator: p.secret.encoding, length: p.secret.length } } : {}),
      };
    },
  };
}

/** Published JWKS documents as files (GET /api/jwks reads the vault; this is the publication). */
export function fileJwks(dir: string): JwksStore {
  const fileOf = (vault: string, key: string) => path.join(dir, `${vault}--${key}.json`);
  return {
    async put(vault: string, key: string, jwks: JwksDocument): Promise<void> {
      mkdirSync(dir, { recursive: true });
      writeFileSync(fileOf(vault, key), `${JSON.stringify(jwks, null, 2)}\n`);
    },
    async get(vault: string, key: string): Promise<JwksDocument | undefined> {
      const f = fileOf(vault, key);
      return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as JwksDocument) : undefined;
    },
  };
}

export interface LocalApp {
  services: ApiServices;
  rotation: RotationDeps;
  ledger: HashChainLedger;
}

/** Builds and installs the services the functions use (setApiServices, setRotationDeps). */
export async function installLocalApp(cfg: Config, stateDir: string, log: (line: string) => void): Promise<LocalApp> {
  const signer = localSealSigner(stateDir);
  const ledger = tableLedger({
    entries: await ensureTable(tableClient(cfg, "ledger")),
    seals: await ensureTable(tableClient(cfg, "seals")),
    signer,
  });
  const base = await apiServices(cfg);
  const services: ApiServices = { ...base, ledger };
  const policies = new PolicyStore(tableClient(cfg, "policies"));
  const rotation = await createRotationDeps(cfg, {
    ledger,
    sealer: ledger,
    inventory: new Inventory(tableClient(cfg, "inventory"), policies),
    deks: new TableDekPort(tableClient(cfg, "deks")),
    policies: policySource(policies),
    events: base.events,
    jwks: fileJwks(path.join(stateDir, "jwks")),
    log,
  });
  setApiServices(services);
  setRotationDeps(rotation);
  return { services, rotation, ledger };
}
