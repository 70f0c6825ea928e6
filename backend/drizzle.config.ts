import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./backend/src/db/schema.ts', './backend/src/db/portal-schema.ts'],
  out: './backend/drizzle',
});
