// Format-1 DEK authentication's settings (docs/flat-dek-signatures.md): unsigned legacy rows are
// accepted by default with a warning on /api/health and at start; requiring signatures needs the
// signing key, refused at start without it; never silent.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config";
import { flatDeksComponent } from "../../lib/orchestration/flatDekAuthFrom";
import { FlatDekAuth } from "../../lib/envelope/flatDekAuth";

const minimal = {
  KEYROTOR_TABLES_CONNECTION: "UseDevelopmentStorage=true",
  KEYROTOR_VAULT_URLS: "https://demo-vault.vault.azure.net",
  KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
};
const SIGNER = { KEYROTOR_BRANCH_SIGNING_KEY_ID: "signing:demo-vault/branch-signer" };

describe("KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE", () => {
  it("is off by default, and on it needs a signing key: refused at start without one, naming both settings", () => {
    expect(loadConfig(minimal).KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE).toBe(false);
    expect(() => loadConfig({ ...minimal, KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE: "true" })).toThrow(/KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE[\s\S]*KEYROTOR_BRANCH_SIGNING_KEY_ID/);
    expect(loadConfig({ ...minimal, ...SIGNER, KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE: "true" }).KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE).toBe(true);
    expect(() => new FlatDekAuth({ requireSignature: true })).toThrow(expect.objectContaining({ code: "FlatDekSignerMissing" }));
  });
});

describe("the health component flatDeks", () => {
  it("warns FlatDeksUnsigned without a signing key, FlatDeksUnsignedAccepted while legacy rows are accepted, and nothing once they are refused", () => {
    expect(flatDeksComponent(loadConfig(minimal))).toMatchObject({ status: "ok", warning: "FlatDeksUnsigned", signed: false, unsignedRefused: false });
    expect(flatDeksComponent(loadConfig({ ...minimal, ...SIGNER }))).toMatchObject({ status: "ok", warning: "FlatDeksUnsignedAccepted", signed: true, unsignedRefused: false });
    const strict = flatDeksComponent(loadConfig({ ...minimal, ...SIGNER, KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE: "true" }));
    expect(strict).toEqual({ status: "ok", signed: true, unsignedRefused: true });
  });
});
