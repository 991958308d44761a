// The compromise signal's evidence goes into a ledger kept for years and never rewritten, so it
// must not carry a secret: what is kept is a SHA-256 digest of what was sent (it proves later which
// evidence was meant) and a short, scrubbed reference (a ticket id or a URL without its query).
// A value that looks like key material or a credential is refused outright, with the reason: a
// scrubbed copy of a leaked key would still be a leaked key in an append-only store.
import { createHash } from "node:crypto";
import { InvalidRequestError } from "./errors";
import { replaceUnsafeText } from "./unsafeText";

export const MAX_EVIDENCE_REFERENCE = 200;

export interface CheckedEvidence {
  /** hex SHA-256 of the evidence exactly as sent. */
  sha256: string;
  /** At most MAX_EVIDENCE_REFERENCE characters: no control or bidi characters, URLs without query
   * or fragment, whitespace collapsed. */
  reference: string;
}

interface SecretShape {
  why: string;
  test: (s: string) => boolean;
}

const BASE64_RUN = /[A-Za-z0-9+/_-]{43,}={0,2}/g;

/** 32 random bytes are 43 base64 characters; a random string that long mixes digits and both
 * cases (a lowercase slug of that length does not, so it passes). "/" is a base64 character, so in
 * free text it stays inside a run; in a URL or an Azure resource id it separates path segments,
 * and each segment is checked alone (a URL's query and fragment never reach the reference). */
function longBase64Run(s: string): boolean {
  for (const token of s.split(/\s+/)) {
    const pathLike = /^[a-z][a-z0-9+.-]*:\/\//i.test(token) || /^\/subscriptions\//i.test(token);
    for (const piece of pathLike ? token.split(/[/?#&=;]/) : [token]) {
      for (const m of piece.matchAll(BASE64_RUN)) {
        const run = m[0];
        if (/[0-9]/.test(run) && /[a-z]/.test(run) && /[A-Z]/.test(run)) return true;
      }
    }
  }
  return false;
}

const SECRET_SHAPES: readonly SecretShape[] = [
  { why: "it contains a PEM block (-----BEGIN ...-----)", test: (s) => /-----BEGIN [A-Z0-9 ]*-----/.test(s) },
  { why: "it contains a JSON Web Key private or symmetric member (\"d\", \"k\", \"p\", \"q\", \"dp\", \"dq\", \"qi\")", test: (s) => /"(?:d|k|p|q|dp|dq|qi)"\s*:\s*"/.test(s) },
  {
    why: "it contains a credential (AccountKey=, SharedAccessKey=, SharedAccessSignature=, Password=, client_secret=, or a SAS sig=)",
    test: (s) => /(?:AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|client_secret|ClientSecret)\s*=/i.test(s) || /[?&;]sig=/i.test(s),
  },
  { why: "it contains a JSON Web Token (eyJ...)", test: (s) => /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/.test(s) },
  { why: "it contains a hex run of 32 bytes or more", test: (s) => /[0-9a-fA-F]{64,}/.test(s) },
  { why: "it contains a base64 run of 32 bytes or more", test: longBase64Run },
];


function scrub(raw: string): string {
  const flat = replaceUnsafeText(raw, " ").replace(/\s+/g, " ").trim();
  // A URL's query and fragment are where tokens travel; the path is enough to find the evidence.
  const noQuery = flat.replace(/(https?:\/\/[^\s?#]*)[?#][^\s]*/gi, "$1");
  return noQuery.length > MAX_EVIDENCE_REFERENCE ? `${noQuery.slice(0, MAX_EVIDENCE_REFERENCE - 1)}…` : noQuery;
}

/** The digest and reference to keep, or a 400 saying why the value is refused. */
export function checkEvidence(raw: string): CheckedEvidence {
  for (const shape of SECRET_SHAPES) {
    if (shape.test(raw)) {
      throw new InvalidRequestError(
        "EvidenceLooksSecret",
        `evidence is refused because ${shape.why}; send a reference (a ticket id or URL) to where the evidence is kept, never key material or credentials`,
        { field: "evidence" },
      );
    }
  }
  const reference = scrub(raw);
  if (reference.length === 0) throw new InvalidRequestError("EvidenceEmpty", "evidence has no printable characters; send a ticket id or URL", { field: "evidence" });
  return { sha256: createHash("sha256").update(raw, "utf8").digest("hex"), reference };
}
