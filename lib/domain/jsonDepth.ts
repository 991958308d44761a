// Nesting depth of JSON, bounded before anything recursive sees it. A 5,000-deep body parses, but
// every recursive walk after the parse (serialising an event for the trigger, canonical JSON, schema
// validation, the error path) can overflow the stack, and a 500 on the Event Grid path is retried
// for 24 hours. Nothing keyrotor accepts nests deeper than a few levels; 32 leaves room.

export const MAX_JSON_DEPTH = 32;

/** Does this JSON text nest arrays/objects deeper than `max`? One pass over the text, no parse,
 * strings (and escapes inside them) skipped; invalid JSON is left for JSON.parse to refuse. */
export function jsonTextTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}

/** Does this parsed value nest arrays/objects deeper than `max`? Iterative, so a value of any depth
 * is measured without recursion. */
export function jsonValueTooDeep(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d + 1 > max) return true;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, d + 1]);
  }
  return false;
}
