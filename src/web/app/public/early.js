// Loaded by index.html before the app's own JavaScript (a few hundred bytes, from the service
// worker's cache on a phone that has the app): when the phone opens on Today with an officer it
// knows, the live receiver stream starts now, while the app is still being parsed, and the events
// that arrive meanwhile are kept for the app (src/web/app/src/today/live.ts adopts the stream).
(() => {
  try {
    if (
      location.pathname !== '/' ||
      !localStorage.getItem('loalang.me') ||
      typeof EventSource === 'undefined'
    )
      return;
    const source = new EventSource('/api/receivers/events');
    const kept = [];
    const keep = (e) => kept.push(e);
    for (const name of ['snapshot', 'receiver', 'removed']) source.addEventListener(name, keep);
    window.__loalangEarlyStream = {
      source,
      kept,
      release() {
        for (const name of ['snapshot', 'receiver', 'removed']) source.removeEventListener(name, keep);
      },
    };
  } catch {
    // the app opens the stream itself
  }
})();
