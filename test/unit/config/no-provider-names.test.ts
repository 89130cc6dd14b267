import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROVIDER_DEFINITIONS } from '../../../src/providers/registry.ts';

/**
 * src/config knows no provider by name: it takes the types, their settings schemas and identity
 * defaults from the provider registry, so adding a provider never touches it. This reads the
 * sources, since nothing in the types stops someone writing `type === 'postgres'` there.
 */
const CONFIG = fileURLToPath(new URL('../../../src/config/', import.meta.url));
const sources = readdirSync(CONFIG, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts'))
  .map((file) => ({ file, text: readFileSync(join(CONFIG, file), 'utf8') }));

describe('src/config', () => {
  it('has sources to read', () => {
    expect(sources.map(({ file }) => file)).toContain('policy-file.ts');
  });

  it.each(PROVIDER_DEFINITIONS.map((definition) => definition.type))('never names the provider type %s in quotes', (type) => {
    const literal = new RegExp(`(['"\`])${type.replace(/[-.]/g, '\\$&')}\\1`);
    expect(sources.filter(({ text }) => literal.test(text)).map(({ file }) => file)).toEqual([]);
  });

  it('reaches providers only through the registry', () => {
    const imports = sources.flatMap(({ file, text }) => [...text.matchAll(/from '([^']*providers\/[^']*)'/g)].map((match) => `${file}: ${match[1]}`));
    expect(imports.filter((line) => !line.endsWith('/providers/registry.ts'))).toEqual([]);
  });
});
