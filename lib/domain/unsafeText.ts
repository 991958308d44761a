// The characters that make a stored or shown text lie: C0/C1 controls (NUL, LF, ESC, DEL...),
// line/paragraph separators, lone surrogates, and the bidi embeddings, overrides, isolates and marks
// (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C). A name or reference holding one could forge
// lines in logs or display reversed in the ledger and the CLI. One class for every place that
// refuses them (principal names) or replaces them (compromise evidence references).
const CLASS = String.raw`[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]`;

/** True when `text` holds a character that could forge a line or reverse how it reads. */
export function hasUnsafeText(text: string): boolean {
  return new RegExp(CLASS, "u").test(text);
}

/** `text` with every such character replaced by `with`. */
export function replaceUnsafeText(text: string, withText: string): string {
  return text.replace(new RegExp(CLASS, "gu"), withText);
}
