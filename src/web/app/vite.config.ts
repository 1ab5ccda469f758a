/**
 * The officer's phone app (issue 10): Preact + signals + preact-iso, built by Vite into dist/web,
 * served by the controller at `/`. A service worker (vite-plugin-pwa) caches the app shell so a
 * second visit starts from the phone, not the 3G link; the API is never cached.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../../../dist/web', import.meta.url));

/** Writes .br and .gz beside each text file, which the controller serves as they are (no CPU per request). */
function precompress() {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  return {
    name: 'loalang-precompress',
    apply: 'build' as const,
    closeBundle() {
      for (const file of walk(outDir).filter((f) => /\.(js|css|html|svg|webmanifest|json)$/.test(f))) {
        const bytes = readFileSync(file);
        if (bytes.length < 512) continue;
        writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npm run dev:web`: the app with hot reload, the API from a controller on :8080 (npm run dev)
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/docs': 'http://127.0.0.1:8080' } },
  plugins: [
    precompress(),
    preact({ prerender: { enabled: false } }),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: null,
      includeAssets: ['icon.svg'],
      manifest: {
        name: 'Loa làng — đài truyền thanh xã',
        short_name: 'Loa làng',
        description: 'Phát thanh, thông báo khẩn và lịch phát của xã',
        lang: 'vi',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'portrait',
        background_color: '#ffffff',
        theme_color: '#b91c1c',
        icons: [
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,webmanifest}'],
        navigateFallback: '/index.html',
        // the API, the docs and audio are always fetched from the controller
        navigateFallbackDenylist: [/^\/api\//, /^\/docs/],
        runtimeCaching: [],
        // the API skips the worker where the browser can route statically (public/sw-routes.js)
        importScripts: ['/sw-routes.js'],
      },
    }),
  ],
});
