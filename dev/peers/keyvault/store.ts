// The vault's objects (keys with their versions and rotation policies, secrets, soft-deleted
// entries) and their optional persistence. Writes to the state file are debounced and
// asynchronous so no request ever waits on the disk.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadMaterial, storeMaterial, type KeyMaterial, type Kty, type StoredMaterial } from "./crypto";

export interface Attributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  exportable?: boolean;
}

export interface KeyVersion {
  version: string;
  kty: Kty;
  keyOps: string[];
  attributes: Attributes;
  tags?: Record<string, string>;
  material: KeyMaterial;
  /** Event types already delivered for this version (each fires once). */
  notified: string[];
}

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: string };
}

export interface RotationPolicy {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface KeyEntry {
  name: string;
  /** Creation order; the last one is the current version. */
  versions: KeyVersion[];
  byVersion: Map<string, KeyVersion>;
  rotationPolicy?: RotationPolicy;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  attributes: Attributes;
  tags?: Record<string, string>;
  notified: string[];
}

export interface SecretEntry {
  name: string;
  versions: SecretVersion[];
  byVersion: Map<string, SecretVersion>;
}

export interface Deleted<T> {
  entry: T;
  deletedDate: number;
  scheduledPurgeDate: number;
}

interface StoredKeyVersion extends Omit<KeyVersion, "material"> {
  material: StoredMaterial;
}
interface StateFile {
  format: 1;
  keys: Array<{ name: string; versions: StoredKeyVersion[]; rotationPolicy?: RotationPolicy; deleted?: { deletedDate: number; scheduledPurgeDate: number } }>;
  secrets: Array<{ name: string; versions: SecretVersion[]; deleted?: { deletedDate: number; scheduledPurgeDate: number } }>;
}

export function keyEntry(name: string, versions: KeyVersion[] = [], rotationPolicy?: RotationPolicy): KeyEntry {
  return { name, versions, byVersion: new Map(versions.map((v) => [v.version, v])), ...(rotationPolicy ? { rotationPolicy } : {}) };
}

export function secretEntry(name: string, versions: SecretVersion[] = []): SecretEntry {
  return { name, versions, byVersion: new Map(versions.map((v) => [v.version, v])) };
}

// Key Vault object names are case-insensitive; maps are keyed by the lower-cased name.
export const nameKey = (name: string): string => name.toLowerCase();

export class VaultStore {
  readonly keys = new Map<string, KeyEntry>();
  readonly deletedKeys = new Map<string, Deleted<KeyEntry>>();
  readonly secrets = new Map<string, SecretEntry>();
  readonly deletedSecrets = new Map<string, Deleted<SecretEntry>>();
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly stateFile?: string) {
    if (stateFile && existsSync(stateFile)) this.load(stateFile);
  }

  private load(file: string): void {
    let state: StateFile;
    try {
      state = JSON.parse(readFileSync(file, "utf8")) as StateFile;
    } catch (err) {
      throw new Error(`[keyvault-peer] cannot read state file ${file}`, { cause: err });
    }
    for (const k of state.keys) {
      const versions = k.versions.map((v) => ({ ...v, material: loadMaterial(v.material) }));
      const entry = keyEntry(k.name, versions, k.rotationPolicy);
      if (k.deleted) this.deletedKeys.set(nameKey(k.name), { entry, ...k.deleted });
      else this.keys.set(nameKey(k.name), entry);
    }
    for (const s of state.secrets) {
      const entry = secretEntry(s.name, s.versions);
      if (s.deleted) this.deletedSecrets.set(nameKey(s.name), { entry, ...s.deleted });
      else this.secrets.set(nameKey(s.name), entry);
    }
  }

  /** Call after every change; the file is written shortly after, off the request path. */
  changed(): void {
    if (!this.stateFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saving = this.saving.then(() => this.write()).catch((err: unknown) => {
        process.stderr.write(`[keyvault-peer] saving ${this.stateFile} failed: ${String(err)}\n`);
      });
    }, 100);
  }

  async flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      this.saving = this.saving.then(() => this.write());
    }
    await this.saving;
  }

  private async write(): Promise<void> {
    const file = this.stateFile!;
    const keyOut = (e: KeyEntry, deleted?: Deleted<KeyEntry>): StateFile["keys"][number] => ({
      name: e.name,
      versions: e.versions.map((v) => ({ ...v, material: storeMaterial(v.material) })),
      ...(e.rotationPolicy ? { rotationPolicy: e.rotationPolicy } : {}),
      ...(deleted ? { deleted: { deletedDate: deleted.deletedDate, scheduledPurgeDate: deleted.scheduledPurgeDate } } : {}),
    });
    const secretOut = (e: SecretEntry, deleted?: Deleted<SecretEntry>): StateFile["secrets"][number] => ({
      name: e.name,
      versions: e.versions,
      ...(deleted ? { deleted: { deletedDate: deleted.deletedDate, scheduledPurgeDate: deleted.scheduledPurgeDate } } : {}),
    });
    const state: StateFile = {
      format: 1,
      keys: [...[...this.keys.values()].map((e) => keyOut(e)), ...[...this.deletedKeys.values()].map((d) => keyOut(d.entry, d))],
      secrets: [...[...this.secrets.values()].map((e) => secretOut(e)), ...[...this.deletedSecrets.values()].map((d) => secretOut(d.entry, d))],
    };
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
    await rename(tmp, file);
  }
}
