// The linter keeps the shape, not the style: it fails `npm test` on a promise nobody awaits or
// catches, and on a domain file that imports beyond the pure packages the domain may use.
// Import cycles are checked by dpdm (scripts/check-import-cycles.ts), which is faster than a lint rule.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// What src/domain may import besides its own files: pure packages and hashing. Anything else (Slack,
// Prisma, BullMQ, Redis, the network, the file system, the store or the Slack layer) is refused.
export const domainAllowedPackages = ['zod', 'parse-duration', 'cron-parser', 'canonicalize', 'node:crypto'];

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const allowed = domainAllowedPackages.map(escapeRegExp).join('|');

export default defineConfig(
  { ignores: ['src/store/generated/**', 'dist/**', 'node_modules/**', 'test-output/**'] },
  {
    files: ['{src,test,bench,tools}/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Under verbatimModuleSyntax `import { type A }` still loads the module at run time; `import type`
      // does not. Keeping that plain lets the cycle check ignore type-only imports safely.
      '@typescript-eslint/no-import-type-side-effects': 'error',
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // The domain's own files (./x, never through ..) and the allow-list pass; all else is refused.
              regex: `^(?!\\./(?!.*\\.\\./))(?!(?:${allowed})$)`,
              message: `src/domain is pure: it may import only its own files and ${domainAllowedPackages.join(', ')} (see eslint.config.js).`,
            },
          ],
        },
      ],
      // A dynamic import() would slip past no-restricted-imports.
      'no-restricted-syntax': ['error', { selector: 'ImportExpression', message: 'src/domain imports statically, so the purity check sees every import.' }],
    },
  },
);
