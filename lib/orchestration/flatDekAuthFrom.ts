// The flat DEK auth (lib/envelope/flatDekAuth.ts) from the settings: the signing key that signs
// branch-key records (KEYROTOR_BRANCH_SIGNING_KEY_ID) signs and verifies format-1 DEKs too, and
// KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE says whether unsigned (legacy) rows are refused.
import type { Config } from "../config";
import { parseKeyId } from "../domain/keys";
import { FlatDekAuth } from "../envelope/flatDekAuth";
import { vaultSigner } from "../envelope/recordSigner";
import type { VaultKeys } from "../vault/keyVault";

export function flatDekAuthFrom(cfg: Pick<Config, "KEYROTOR_BRANCH_SIGNING_KEY_ID" | "KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE">, vaultFor: (vaultName: string) => VaultKeys): FlatDekAuth {
  const signerId = cfg.KEYROTOR_BRANCH_SIGNING_KEY_ID;
  const signer = signerId ? vaultSigner(signerId, vaultFor(parseKeyId(signerId, "KEYROTOR_BRANCH_SIGNING_KEY_ID").vault ?? "")) : undefined;
  return new FlatDekAuth({ ...(signer ? { signer } : {}), requireSignature: cfg.KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE });
}

/** What /api/health and the start-up log say about format-1 DEK authentication (never silent). */
export function flatDekAuthWarning(cfg: Pick<Config, "KEYROTOR_BRANCH_SIGNING_KEY_ID" | "KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE">): { code: string; message: string } | undefined {
  if (!cfg.KEYROTOR_BRANCH_SIGNING_KEY_ID) {
    return { code: "FlatDeksUnsigned", message: "no signing key is configured (KEYROTOR_BRANCH_SIGNING_KEY_ID): new format-1 DEKs are written unsigned and no DEK row can be authenticated; anyone who can write the DEK table and holds the KEK's public key can plant a DEK (docs/flat-dek-signatures.md)" };
  }
  if (!cfg.KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE) {
    return { code: "FlatDeksUnsignedAccepted", message: "new format-1 DEKs are signed and signed rows verified, but unsigned (legacy) rows are still accepted: set KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE=true once none is left in use (docs/flat-dek-signatures.md)" };
  }
  return undefined;
}

/** The /api/health component `flatDeks`: "ok" with the warning's code and text while format-1 DEKs
 * are not fully authenticated, "ok" with `signed` and `unsignedRefused` once they are. */
export function flatDeksComponent(cfg: Pick<Config, "KEYROTOR_BRANCH_SIGNING_KEY_ID" | "KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE">): { status: "ok"; detail?: string; warning?: string; signed: boolean; unsignedRefused: boolean } {
  const w = flatDekAuthWarning(cfg);
  const state = { signed: cfg.KEYROTOR_BRANCH_SIGNING_KEY_ID !== undefined, unsignedRefused: cfg.KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE };
  return w ? { status: "ok", warning: w.code, detail: `[keyrotor] [health] ${w.message}`, ...state } : { status: "ok", ...state };
}
