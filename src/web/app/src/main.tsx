import { render } from 'preact';
import { App } from './app';
import './styles.css';

// (public/early.js has already opened Today's live stream when the phone knows its officer.)
render(<App />, document.getElementById('app')!);

// The app shell from the phone on the next visit (the API is never cached).
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  void import('virtual:pwa-register').then(({ registerSW }) => registerSW({ immediate: true }));
}
