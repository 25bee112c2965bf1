// The console's only script, an enhancement: every page works without it. Served as a static file, so the strict
// Content-Security-Policy (no inline script) holds.
'use strict';

// Deadline countdowns: <time datetime=... data-countdown> reads "in 4 minutes" and keeps counting.
function words(ms) {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const parts = [
    [Math.floor(s / 86400), 'day'],
    [Math.floor((s % 86400) / 3600), 'hour'],
    [Math.floor((s % 3600) / 60), 'minute'],
  ].filter(([n]) => n > 0);
  const text = parts.length
    ? parts
        .slice(0, 2)
        .map(([n, u]) => `${n} ${u}${n === 1 ? '' : 's'}`)
        .join(' ')
    : `${s} second${s === 1 ? '' : 's'}`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
function tick() {
  for (const el of document.querySelectorAll('time[data-countdown]')) {
    el.textContent = words(Date.parse(el.getAttribute('datetime')) - Date.now());
  }
}

// Live job pages: <main data-live=URL data-version=V>. Poll the URL; when the version changes, fetch the page again
// and swap the main content in place (no reload, the scroll position and focus stay where they are when possible).
async function poll(main) {
  const url = main.getAttribute('data-live');
  try {
    const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (res.ok) {
      const live = await res.json();
      if (live.version !== main.getAttribute('data-version') || live.final) {
        const page = await fetch(location.href, { credentials: 'same-origin' });
        const doc = new DOMParser().parseFromString(await page.text(), 'text/html');
        const fresh = doc.querySelector('main');
        if (fresh) {
          main.innerHTML = fresh.innerHTML;
          main.setAttribute('data-version', live.version);
          tick();
        }
        if (live.final) return;
      }
    }
  } catch {
    // The server is restarting or the network blinked: try again on the next round.
  }
  setTimeout(() => poll(main), 1000);
}

document.addEventListener('DOMContentLoaded', () => {
  tick();
  setInterval(tick, 15000);
  const main = document.querySelector('main[data-live]');
  if (main) setTimeout(() => poll(main), 1000);
});
