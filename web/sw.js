// The admin app's service worker: the app starts with no network (offline role designers, a
// server that is down). Network first, so an online browser always runs the newest build; the
// last copy of each of the app's own files when the network fails. The API is never cached.
const CACHE = 'capstan-app-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function ours(url) {
  return url.origin === self.location.origin && !url.pathname.startsWith('/api/');
}

// The page sends the files it was started from (they were fetched before this worker ran).
self.addEventListener('message', (event) => {
  const files = Array.isArray(event.data?.cache) ? event.data.cache : [];
  const urls = files.filter((u) => typeof u === 'string' && ours(new URL(u, self.location.href)));
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(urls))
      .then(() => event.source?.postMessage({ cached: urls.length }))
      .catch(() => event.source?.postMessage({ cached: 0 })),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || !ours(url)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(request, { ignoreSearch: request.mode === 'navigate' })
          .then((hit) => hit ?? (request.mode === 'navigate' ? caches.match('./') : undefined))
          .then((hit) => hit ?? Response.error()),
      ),
  );
});
