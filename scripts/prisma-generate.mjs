// Runs `prisma generate` without network access to Prisma's engine host.
// Generating the client needs no schema engine, but the CLI checks that one exists before it
// starts and would try to download it. PRISMA_SCHEMA_ENGINE_BINARY satisfies that check; the
// file it names is never executed by `generate`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const r = spawnSync('npx', ['--no-install', 'prisma', 'generate'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
