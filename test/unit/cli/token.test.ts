// The credentials behind `keyrotor --scope`: which @azure/identity credential each --credential
// names, and how a scope is read. (The CLI's use of them, with a fake credential, is in cli.test.ts.)
import { AzureCliCredential, DefaultAzureCredential, DeviceCodeCredential } from "@azure/identity";
import { describe, expect, it } from "vitest";
import { azureCredential, credentialKind, normalizeScope } from "../../../lib/cli/token";

describe("azureCredential", () => {
  it("makes DefaultAzureCredential, AzureCliCredential or DeviceCodeCredential, without signing in yet", async () => {
    expect(await azureCredential("default")).toBeInstanceOf(DefaultAzureCredential);
    expect(await azureCredential("cli")).toBeInstanceOf(AzureCliCredential);
    expect(await azureCredential("device-code")).toBeInstanceOf(DeviceCodeCredential);
  });
});

describe("normalizeScope", () => {
  it("reads an app ID URI or a client id alone as the app's /.default scope and keeps any other scope", () => {
    expect(normalizeScope("api://keyrotor-prod")).toBe("api://keyrotor-prod/.default");
    expect(normalizeScope("api://keyrotor-prod/")).toBe("api://keyrotor-prod/.default");
    expect(normalizeScope("0B8E1F6C-3D9A-4C2E-9F1A-5E6D7C8B9A01")).toBe("api://0B8E1F6C-3D9A-4C2E-9F1A-5E6D7C8B9A01/.default");
    expect(normalizeScope("api://keyrotor-prod/user_impersonation")).toBe("api://keyrotor-prod/user_impersonation");
    expect(normalizeScope("https://keyrotor.example.com/.default")).toBe("https://keyrotor.example.com/.default");
  });
});

describe("credentialKind", () => {
  it("defaults to default and refuses a kind it does not know", () => {
    expect(credentialKind(undefined)).toBe("default");
    expect(credentialKind("device-code")).toBe("device-code");
    expect(() => credentialKind("password")).toThrow(/--credential must be one of/);
  });
});
