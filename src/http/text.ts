/**
 * Text a client sends that the store cannot keep exactly as it was sent. PostgreSQL `text` refuses
 * U+0000 (the statement fails: it was a 500). A lone UTF-16 surrogate is no Unicode character, so
 * both drivers (pg and node:sqlite encode to UTF-8) silently write U+FFFD in its place: the payment
 * would read back different from the answer that accepted it, and its event would carry a string
 * other services cannot encode. No identifier, amount, description or metadata needs either.
 */

export interface UnstorableText {
  /** The parameter, Stripe-style (`metadata[order]`); '' for the value itself. */
  param: string;
  problem: 'a NUL character' | 'a lone UTF-16 surrogate';
}

function problemOf(text: string): UnstorableText['problem'] | undefined {
  if (text.includes('\u0000')) return 'a NUL character';
  if (!text.isWellFormed()) return 'a lone UTF-16 surrogate';
  return undefined;
}

interface Visit {
  value: unknown;
  key: string;
  parent: Visit | undefined;
}

function paramOf(visit: Visit): string {
  const keys: string[] = [];
  for (let v: Visit | undefined = visit; v?.parent; v = v.parent) keys.push(v.key);
  keys.reverse();
  return keys.length === 0
    ? ''
    : keys[0] +
        keys
          .slice(1)
          .map((k) => `[${k}]`)
          .join('');
}

/**
 * The first string or object key in a parsed value (body, query, params) that holds unstorable
 * text, or undefined. Iterative, and a name is built only for the culprit: a body nested 30,000
 * deep fits in the default body limit, and recursing over it overflowed the stack (a 500).
 */
export function unstorableTextIn(value: unknown): UnstorableText | undefined {
  const stack: Visit[] = [{ value, key: '', parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const problem =
      (visit.parent ? problemOf(visit.key) : undefined) ??
      (typeof visit.value === 'string' ? problemOf(visit.value) : undefined);
    if (problem) return { param: paramOf(visit), problem };
    if (visit.value === null || typeof visit.value !== 'object') continue;
    const children = Object.entries(visit.value);
    // Pushed last to first, so the first offending parameter in document order is the one named.
    for (let i = children.length - 1; i >= 0; i -= 1) {
      const [key, child] = children[i]!;
      stack.push({ value: child, key, parent: visit });
    }
  }
  return undefined;
}
