import { render } from 'preact';
import { knownMe } from './api';
import { App } from './app';
import { startLiveEarly } from './today/live';
import './styles.css';

// Opening on Today with an officer this phone knows: the live stream starts before the first render.
if (location.pathname === '/' && knownMe()) startLiveEarly();
render(<App />, document.getElementById('app')!);

// The app shell from the phone on the next visit (the API is never cached).
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  void import('virtual:pwa-register').then(({ registerSW }) => registerSW({ immediate: true }));
}
