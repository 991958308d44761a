// Published JWKS documents of signing keys (Table Storage): what GET /api/jwks/{vault}/{key} serves.
// The signing-key rotation writes the document (primary + retained versions, and a new version just
// before it signs), so verifiers never see a signature from a key they cannot fetch.
//
//   PartitionKey = vault (escaped)   RowKey = key name (escaped)   doc0..docN = the JSON, chunked
//
// Public keys only: a document with a private JWK member is refused.
import type { TableClient } from "@azure/data-tables";
import type { Config } from "../config";
import { InvariantViolationError } from "../domain/errors";
import type { JwksDocument, JwksPort } from "../ports";
import { ensureTable, getRowOrUndefined, escapeKey, tableClient, translateTableError } from "./tables";

export type { JwksDocument } from "../ports";

export interface PublishedJwks {
  jwks: JwksDocument;
  /** ISO instant of the last publication. */
  updatedAt: string;
}

/** A string property holds at most 32K UTF-16 characters; a JWKS with many retained RSA keys is split. */
const CHUNK = 30_000;
const MAX_CHUNKS = 15;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

/** Refuses a document with a private JWK member (every JWKS adapter publishes public keys only). */
export function checkPublicJwks(jwks: JwksDocument): void {
  for (const k of jwks.keys) {
    const leaked = PRIVATE_MEMBERS.filter((m) => k[m] !== undefined);
    if (leaked.length > 0) throw new InvariantViolationError("PrivateJwk", `[keyrotor] [jwks] refusing to publish ${k.kid} with private members (${leaked.join(", ")})`);
  }
}

type JwksEntity = { partitionKey: string; rowKey: string; chunks: number; updatedAt: string } & Record<`doc${number}`, string>;

/** The table the JWKS documents live in (KEYROTOR_TABLE_JWKS, default "jwks"); created on first use. */
export function jwksTableName(cfg: Pick<Config, "KEYROTOR_TABLE_JWKS">): string {
  return cfg.KEYROTOR_TABLE_JWKS;
}

export class JwksStore implements JwksPort {
  constructor(private readonly table: TableClient, private readonly clock: () => Date = () => new Date()) {}

  private async ready(): Promise<TableClient> {
    try {
      return await ensureTable(this.table);
    } catch (err) {
      return translateTableError(err, "jwks: create table");
    }
  }

  /** Replaces the published document of one signing key. */
  async put(vault: string, key: string, jwks: JwksDocument): Promise<void> {
    checkPublicJwks(jwks);
    const json = JSON.stringify({ keys: jwks.keys });
    const chunks = Math.max(1, Math.ceil(json.length / CHUNK));
    if (chunks > MAX_CHUNKS) throw new InvariantViolationError("JwksTooLarge", `[keyrotor] [jwks] ${vault}/${key}: ${jwks.keys.length} keys do not fit one row; retire old versions`);
    const entity = { partitionKey: escapeKey(vault.toLowerCase()), rowKey: escapeKey(key), chunks, updatedAt: this.clock().toISOString() } as JwksEntity;
    for (let i = 0; i < chunks; i++) entity[`doc${i}`] = json.slice(i * CHUNK, (i + 1) * CHUNK);
    const table = await this.ready();
    try {
      await table.upsertEntity(entity, "Replace");
    } catch (err) {
      translateTableError(err, `jwks: put ${vault}/${key}`);
    }
  }

  /** The published document and when it was written; undefined when none was published. */
  async read(vault: string, key: string): Promise<PublishedJwks | undefined> {
    const table = await this.ready();
    const e = await getRowOrUndefined<JwksEntity>(table, escapeKey(vault.toLowerCase()), escapeKey(key), `jwks: get ${vault}/${key}`);
    if (!e) return undefined;
    let json = "";
    for (let i = 0; i < e.chunks; i++) json += e[`doc${i}`] ?? "";
    return { jwks: JSON.parse(json) as JwksDocument, updatedAt: e.updatedAt };
  }

  /** The published document (what GET /api/jwks/{vault}/{key} returns); undefined when none. */
  async get(vault: string, key: string): Promise<JwksDocument | undefined> {
    return (await this.read(vault, key))?.jwks;
  }
}

export function jwksStoreFromConfig(cfg: Config): JwksStore {
  return new JwksStore(tableClient(cfg, "jwks"));
}
