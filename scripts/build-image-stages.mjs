#!/usr/bin/env node
// Runs the Dockerfile's stages without Docker (no Docker engine runs on the project's machines), so
// a test can check and start what the image would hold. It reads the Dockerfile itself, so the two
// cannot drift: the build context is what .dockerignore lets in; each stage gets a folder of its
// own standing for its root file system; WORKDIR, ENV, COPY (from the context or `--from=` an
// earlier stage) and RUN (`sh -c`, with this machine's node and npm standing for the base image's)
// are carried out in order. Other instructions only describe the image and are recorded.
//
//   node scripts/build-image-stages.mjs [output folder]
// prints, as JSON, the final stage's root, its working directory (app), user, entrypoint and
// command. RUN's output goes to stderr.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));
const output = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'latch-image-stages-'));

/** The Dockerfile's instructions: continuation lines joined, comments and blank lines left out. */
function instructions(text) {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** Whether .dockerignore lets a path (relative to the repository, `/`-separated) into the context. */
function contextFilter() {
  const lines = readFileSync(join(REPOSITORY, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (lines[0] !== '*') throw new Error('.dockerignore must start with `*` (an allow-list); this script reads only that form');
  const allowed = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1));
  const excluded = lines.slice(1).filter((line) => !line.startsWith('!'));
  const glob = (pattern) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  const anywhere = excluded.filter((line) => line.startsWith('**/')).map((line) => glob(line.slice(3)));
  const exact = excluded.filter((line) => !line.startsWith('**/'));
  return (path) => {
    const inside = allowed.some((entry) => path === entry || path.startsWith(`${entry}/`) || entry.startsWith(`${path}/`));
    const out = exact.some((entry) => path === entry || path.startsWith(`${entry}/`)) || path.split('/').some((part) => anywhere.some((pattern) => pattern.test(part)));
    return inside && !out;
  };
}

function assembleContext(into) {
  const keep = contextFilter();
  for (const entry of readdirSync(REPOSITORY)) {
    if (!keep(entry)) continue;
    cpSync(join(REPOSITORY, entry), join(into, entry), {
      recursive: true,
      filter: (source) => {
        const path = relative(REPOSITORY, source).split('\\').join('/');
        return path === '' || keep(path);
      },
    });
  }
}

/** `KEY=value KEY2=value2` (the form this Dockerfile uses). */
function parseEnv(args) {
  return Object.fromEntries([...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map(([, key, value]) => [key, value.replace(/^"|"$/g, '')]));
}

const context = join(output, 'context');
mkdirSync(context, { recursive: true });
assembleContext(context);

const stages = new Map();
let stage;
let stageCount = 0;
for (const { keyword, args } of instructions(readFileSync(join(REPOSITORY, 'Dockerfile'), 'utf8'))) {
  if (keyword === 'FROM') {
    const [image, as, name] = args.split(/\s+/);
    const index = stageCount++;
    stage = { root: join(output, 'stages', name ?? `stage-${index}`), workdir: '/', env: {}, user: 'root', entrypoint: null, cmd: null };
    mkdirSync(stage.root, { recursive: true });
    const parent = stages.get(image);
    if (parent) {
      cpSync(parent.root, stage.root, { recursive: true, verbatimSymlinks: true });
      Object.assign(stage, { workdir: parent.workdir, env: { ...parent.env }, user: parent.user });
    }
    if (as?.toUpperCase() === 'AS') stages.set(name, stage);
    stages.set(`#${index}`, stage);
    continue;
  }
  if (!stage) continue; // ARG before the first FROM: the base image, which this machine stands for.
  const inRoot = (path) => join(stage.root, posix.resolve(stage.workdir, path));
  if (keyword === 'WORKDIR') {
    stage.workdir = posix.resolve(stage.workdir, args);
    mkdirSync(inRoot('.'), { recursive: true });
  } else if (keyword === 'ENV') {
    Object.assign(stage.env, parseEnv(args));
  } else if (keyword === 'COPY') {
    const words = args.split(/\s+/);
    const from = words[0].startsWith('--from=') ? stages.get(words.shift().slice('--from='.length)) : null;
    if (words[0]?.startsWith('--')) throw new Error(`COPY option this script does not know: ${words[0]}`);
    const destination = words.pop();
    for (const source of words) {
      const path = from ? join(from.root, posix.resolve(from.workdir, source)) : join(context, source);
      if (!existsSync(path)) throw new Error(`COPY ${source}: not in the ${from ? 'stage' : 'build context'}`);
      const target = destination.endsWith('/') ? join(inRoot(destination), basename(source)) : inRoot(destination);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target, { recursive: true, verbatimSymlinks: true });
    }
  } else if (keyword === 'RUN') {
    process.stderr.write(`[${basename(stage.root)}] RUN ${args}\n`);
    // npm may answer from its cache here (prefer-offline): the same packages, fewer registry round trips.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true', ...stage.env };
    execFileSync('sh', ['-c', args], { cwd: inRoot('.'), env, stdio: ['ignore', 2, 2] });
  } else if (keyword === 'USER') {
    stage.user = args;
  } else if (keyword === 'ENTRYPOINT') {
    stage.entrypoint = JSON.parse(args);
  } else if (keyword === 'CMD') {
    stage.cmd = JSON.parse(args);
  }
}

const { root, workdir, user, entrypoint, cmd } = stage;
process.stdout.write(`${JSON.stringify({ root, app: join(root, workdir), user, entrypoint, cmd })}\n`);
