import { defineConfig } from 'prisma/config';

// Used by the Prisma CLI (`prisma generate`, and `prisma migrate deploy|diff` on machines that
// can run the schema engine). The daemon itself applies migrations with src/db/migrate.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined,
  },
});
