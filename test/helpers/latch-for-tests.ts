/**
 * `latch` as bin/latch.js runs it (the compiled dist/, which the slow tests' global setup builds),
 * plus the one thing only tests may have: durations from a second
 * (ServiceContext.minimumDurationSeconds), so a test grants for seconds instead of waiting out a
 * minute. It lives under test/, which the production image leaves out, and no variable or policy
 * field reaches the setting: a deployment cannot grant for less than a minute.
 * Started by LatchProcess with `shortGrants` (see latchNodeArgs) with plain node, which strips this
 * file's types; never imported: it runs on load.
 */
const compiled = new URL('../../dist/cli/main.js', import.meta.url).href;
const { runLatchCli } = (await import(compiled)) as typeof import('../../src/cli/main.ts');
runLatchCli(process.argv.slice(2), { minimumDurationSeconds: 1 });
