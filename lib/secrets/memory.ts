// In-memory credential pairs with the behaviour of the real providers (tests and local reasoning):
// a slot's credential authenticates until that slot is regenerated or retired.
import { randomBytes } from "node:crypto";
import { slotsOf, type SecretProviderSpec } from "../domain/secretProviders";
import type { CredentialCheck, CredentialProvider } from "./port";

/** One credential pair. `issuer` says who makes new values, like the provider it stands for. */
export class MemoryCredentialPair {
  readonly values = new Map<string, string>();
  readonly disabled = new Set<string>();
  readonly calls: string[] = [];

  constructor(
    readonly spec: SecretProviderSpec,
    readonly issuer: "provider" | "keyrotor" = spec.kind === "postgresPassword" ? "keyrotor" : "provider",
  ) {
    for (const slot of slotsOf(spec)) this.values.set(slot, `${slot}:${randomBytes(16).toString("base64url")}`);
  }

  authenticates(credential: string): boolean {
    return [...this.values].some(([slot, v]) => v === credential && !this.disabled.has(slot));
  }

  provider(): CredentialProvider {
    const slots = slotsOf(this.spec);
    const validate = async (credential: string): Promise<CredentialCheck> =>
      this.authenticates(credential) ? { ok: true } : { ok: false, reason: "no slot holds this credential" };
    const retire = async (slot: string): Promise<void> => {
      this.calls.push(`retire:${slot}`);
      if (this.issuer === "provider") this.values.set(slot, `${slot}:${randomBytes(16).toString("base64url")}`);
      else this.disabled.add(slot);
    };
    if (this.issuer === "keyrotor") {
      return {
        kind: this.spec.kind, slots, issuer: "keyrotor", validate, retire,
        compose: (slot, password) => `${slot}:${password}`,
        apply: async (slot, credential) => {
          this.calls.push(`apply:${slot}`);
          this.values.set(slot, credential);
          this.disabled.delete(slot);
        },
      };
    }
    return {
      kind: this.spec.kind, slots, issuer: "provider", validate, retire,
      read: async (slot) => this.values.get(slot) ?? "",
      regenerate: async (slot) => {
        this.calls.push(`regenerate:${slot}`);
        const v = `${slot}:${randomBytes(16).toString("base64url")}`;
        this.values.set(slot, v);
        return v;
      },
    };
  }
}
