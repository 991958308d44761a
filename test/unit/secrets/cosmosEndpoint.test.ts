// What the Cosmos DB provider accepts as an account's documentEndpoint from ARM: an https origin
// (DNS name, optional port, optional trailing slash), kept exactly as ARM spelled it.
import { describe, expect, it } from "vitest";
import { cosmosDocumentEndpoint } from "../../../lib/secrets/arm";

const where = "Microsoft.DocumentDB/databaseAccounts/acct";

describe("cosmosDocumentEndpoint", () => {
  it.each([
    "https://acct.documents.azure.com:443/",
    "https://acct.documents.azure.us:443/",
    "https://acct.documents.azure.cn:443/",
    "https://acct-westeurope.privatelink.documents.azure.com/",
    "https://Acct.Cosmos.Contoso.example:8081",
    "https://acct.documents.azure.com:65535/",
  ])("accepts %s unchanged", (value) => {
    expect(cosmosDocumentEndpoint(value, where)).toBe(value);
  });

  it.each([
    ["absent", undefined],
    ["not a string", 443],
    ["empty", ""],
    ["plain http", "http://acct.documents.azure.com:443/"],
    ["no scheme", "acct.documents.azure.com"],
    ["a single-label host", "https://localhost/"],
    ["port 0", "https://acct.documents.azure.com:0/"],
    ["a port past 65535", "https://acct.documents.azure.com:65536/"],
    ["user info", "https://u:p@acct.documents.azure.com/"],
    ["a path", "https://acct.documents.azure.com/dbs/"],
    ["a query", "https://acct.documents.azure.com/?x=1"],
    ["a connection-string part", "https://acct.documents.azure.com:443/;AccountKey=x"],
    ["whitespace", "https://acct.documents.azure.com :443/"],
    ["a trailing newline", "https://acct.documents.azure.com:443/\n"],
  ])("refuses %s with an InvariantViolationError naming the account", (_label, value) => {
    expect(() => cosmosDocumentEndpoint(value, where)).toThrow(expect.objectContaining({ family: "invariantViolation", code: "CosmosEndpointInvalid", message: expect.stringContaining(where) }) as Error);
  });
});
