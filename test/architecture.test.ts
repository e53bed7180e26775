import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/**
 * The dependency rules of docs/architecture.md, checked on every import in src/: arrows point
 * inward, services never reach into the payment core, and only the composition root picks an
 * engine. A new service that imports payments, or a core folder that imports a service, fails here.
 */
const src = path.resolve(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every relative import of every file, as src-relative paths: [from, to]. */
const imports: Array<[string, string]> = files(src).flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)].map(
    (m) =>
      [path.relative(src, file), path.relative(src, path.resolve(path.dirname(file), m[1]!))] as [
        string,
        string,
      ],
  );
});

function violations(from: (f: string) => boolean, to: (t: string) => boolean): string[] {
  return imports.filter(([f, t]) => from(f) && to(t)).map(([f, t]) => `${f} -> ${t}`);
}

const under =
  (...folders: string[]) =>
  (p: string) =>
    folders.some((f) => p === f || p.startsWith(`${f}/`));

test('the import scan sees the code base', () => {
  assert.ok(imports.length > 200, `only ${imports.length} imports found`);
  assert.ok(imports.some(([f, t]) => f.startsWith('services/') && t.startsWith('runtime/')));
});

test('platform imports nothing of paystream but itself', () => {
  assert.deepEqual(
    violations(under('platform'), (t) => !t.startsWith('platform/')),
    [],
  );
});

test('services import the runtime, the event catalogue, store types, http plumbing and platform; never the core or an engine', () => {
  const allowed = under('runtime', 'events', 'store', 'platform', 'http', 'services');
  assert.deepEqual(
    violations(under('services'), (t) => !allowed(t) || under('store/sqlite', 'store/postgres')(t)),
    [],
  );
});

test('a service does not import another service', () => {
  assert.deepEqual(
    imports.filter(
      ([f, t]) =>
        f.startsWith('services/') && t.startsWith('services/') && f.split('/')[1] !== t.split('/')[1],
    ),
    [],
  );
});

test('the runtime knows the transport port and the events, not the core, the services or the app', () => {
  assert.deepEqual(
    violations(under('runtime'), under('payments', 'services', 'app', 'idempotency', 'gateway', 'relay')),
    [],
  );
});

test('the payment core never imports the runtime, a service or the app', () => {
  assert.deepEqual(
    violations(under('payments', 'idempotency', 'gateway', 'events'), under('runtime', 'services', 'app')),
    [],
  );
});

test('only the composition root (and the engines themselves) pick a transport engine', () => {
  const engines = under('transport/kafka', 'transport/embedded');
  assert.deepEqual(
    violations((f) => !under('app', 'transport/kafka', 'transport/embedded')(f), engines),
    [],
  );
});

test('nothing but the app imports the app', () => {
  assert.deepEqual(
    violations((f) => !f.startsWith('app/'), under('app')),
    [],
  );
});
