// Imported by the app's service worker (vite.config.ts, workbox.importScripts). The API and the docs
// never come from the service worker's cache, so where the browser has static routing (Chromium 123
// and later) their requests go straight to the network, without waiting for the worker to start or
// to answer a fetch event: the live receiver stream opens one step sooner on a phone.
self.addEventListener('install', (event) => {
  if (typeof event.addRoutes !== 'function') return;
  event.waitUntil(
    event
      .addRoutes([
        { condition: { urlPattern: { pathname: '/api/*' } }, source: 'network' },
        { condition: { urlPattern: { pathname: '/docs*' } }, source: 'network' },
      ])
      .catch(() => undefined),
  );
});
