/**
 * Remembers what `make` built for a key, for objects that are costly to build and safe to share,
 * such as Intl formatters (building one costs about 100 µs; formatting with it, about 1). At most
 * `max` entries: past that, the oldest goes (keys come from settings, so there are few in practice).
 */
export function memo<T>(make: (key: string) => T, max = 256): (key: string) => T {
  const built = new Map<string, T>();
  return (key) => {
    let value = built.get(key);
    if (value === undefined) {
      value = make(key);
      if (built.size >= max) built.delete(built.keys().next().value as string);
      built.set(key, value);
    }
    return value;
  };
}
