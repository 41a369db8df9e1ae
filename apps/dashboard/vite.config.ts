// Builds the dashboard into dist/web; the API serves it at /app/ (apps/api/src/routes/dashboard.ts).
// No secrets are read at build time: the bundle only knows the API's relative paths.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/app/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist/web',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: 300,
  },
  server: {
    // `npm run dev -w @kgrader/dashboard` against an API on :8080
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
