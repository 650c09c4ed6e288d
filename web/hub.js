// The hub's pages work without this script; it adds live search (results update while typing, the URL
// kept in step) and Copy buttons on snippets. Served as a static file: the CSP forbids inline scripts.

function copyButtons() {
  for (const button of document.querySelectorAll('button.copy[data-copy]')) {
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(target.textContent);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Copy failed: select the text';
      }
      setTimeout(() => {
        button.textContent = 'Copy';
      }, 2000);
    });
  }
}

function liveSearch() {
  const form = document.getElementById('search-form');
  const results = document.getElementById('results');
  if (!form || !results || !window.fetch) return;
  let timer;
  let latest = 0;
  const update = async () => {
    const params = new URLSearchParams(new FormData(form));
    for (const [k, v] of [...params]) if (!v) params.delete(k);
    const query = params.toString();
    history.replaceState(null, '', query ? `/search?${query}` : '/search');
    params.set('partial', '1');
    const mine = ++latest;
    const res = await fetch(`/search?${params}`, { headers: { accept: 'text/html' } });
    if (mine !== latest || !res.ok) return;
    // The server escaped every value in this fragment, as in the full page.
    results.innerHTML = await res.text();
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => update().catch(() => {}), 200);
  };
  form.addEventListener('input', later);
  form.addEventListener('change', later);
}

document.addEventListener('DOMContentLoaded', () => {
  copyButtons();
  liveSearch();
});
