import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { asyncApiDocument } from './asyncapi.ts';

/** `npm run docs:asyncapi`: writes docs/asyncapi.json from the event catalogue. */
const file = path.resolve(import.meta.dirname, '../../docs/asyncapi.json');
writeFileSync(file, `${JSON.stringify(asyncApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
