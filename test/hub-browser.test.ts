// The hub's web pages in a real browser (Debian's chromium driven by playwright-core): sign in, create an
// organisation and a token, push an image with the CLI using that token, find it by live search, open
// its page, make it public, copy the WasmPlugin snippet and apply it to a running `wasmgate run` through
// its admin API, then revoke the token and see the next push refused. Also: keyboard navigation and a
// phone-sized viewport. Screenshots of the main pages go to a temporary directory, or to
// $WASMGATE_HUB_SCREENSHOTS (docs/images when refreshing the docs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import type { Hub } from '../src/hub/server.js';
import { repoRoot } from './support/fixtures.js';
import { startTestHub } from './support/hub.js';
import {
  basicConfig,
  CLI,
  h1,
  type ProxyProcess,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
} from './support/proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);
const wasmFile = join(repoRoot, 'examples', 'add-header', 'add_header.wasm');

describe('hub web pages in a browser', {
  skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed`,
}, () => {
  let hub: Hub;
  let host: string;
  let context: BrowserContext;
  let page: Page;
  let proxy: ProxyProcess | undefined;
  let upstream: Upstream | undefined;
  const home = mkdtempSync(join(tmpdir(), 'wasmgate-hub-browser-'));
  const shots = process.env.WASMGATE_HUB_SCREENSHOTS
    ? resolve(process.env.WASMGATE_HUB_SCREENSHOTS)
    : join(home, 'screenshots');
  mkdirSync(shots, { recursive: true });
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        WASMGATE_STORE_DIR: join(home, 'store'),
        WASMGATE_CACHE_DIR: join(home, 'cache'),
        WASMGATE_AUTH_FILE: join(home, 'auth.json'),
        DOCKER_CONFIG: join(home, 'docker'),
      },
    });
  const shot = (name: string) => page.screenshot({ path: join(shots, `hub-${name}.png`) });

  before(async () => {
    hub = await startTestHub({ open: false, adminPassword: 'admin-secret-1' });
    host = new URL(hub.url).host;
    const res = await fetch(`${hub.url}/api/v1/users`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('admin:admin-secret-1').toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'alice', password: 'alice-password' }),
    });
    assert.equal(res.status, 201, await res.text());
    // A fresh profile directory for each run.
    context = await chromium.launchPersistentContext(join(home, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1100, height: 800 },
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    await shutdown(proxy, upstream);
    await hub?.close();
  });

  it('sign in, organisation, token, CLI push, live search, page, WasmPlugin applied, token revoked', async () => {
    await page.goto(`${hub.url}/signin`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${hub.url}/`);
    assert.ok(await page.getByRole('link', { name: 'alice' }).isVisible());

    await page.getByRole('link', { name: 'New organisation' }).click();
    await page.getByLabel('Name').fill('acme');
    await page.getByRole('button', { name: 'Create organisation' }).click();
    await page.waitForURL(`${hub.url}/u/acme`);

    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Name').fill('ci');
    await page.getByLabel('Scopes').fill('push:acme');
    await page.getByLabel('Expires').selectOption('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('#new-token').textContent()) ?? '';
    assert.match(token, /^wgh_[0-9a-f]{16}_/);
    await shot('tokens');

    const ref = `${host}/acme/add-header:v1`;
    await cli('login', host, '-u', 'alice', '-p', token);
    await cli('build', wasmFile, '-t', ref);
    await cli('push', ref, '--description', 'Adds response headers', '--label', 'headers', 'example');

    // Live search: results come while typing, the address follows.
    await page.goto(`${hub.url}/search`);
    await page.getByLabel('Words').fill('nothing-like-it');
    await page.getByText('No filter matches').waitFor();
    await page.getByLabel('Words').fill('add-hea');
    const result = page.locator('#results').getByRole('link', { name: 'acme/add-header' });
    await result.waitFor();
    assert.match(page.url(), /\/search\?q=add-hea/);
    await shot('search');
    await result.click();
    await page.waitForURL(`${hub.url}/r/acme/add-header`);

    // Make it public so the proxy can pull it without credentials.
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('public').check();
    await page.getByLabel('README (Markdown)').fill('# add-header\n\nAdds **headers** to responses.');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(`${hub.url}/r/acme/add-header`);
    assert.equal(await page.locator('.markdown strong').textContent(), 'headers');
    await shot('repository');

    await page.locator('button[data-copy="wasmplugin"]').click();
    const yaml = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(yaml, /kind: WasmPlugin/);
    assert.match(yaml, new RegExp(`url: oci://${host}/acme/add-header:v1`));

    upstream = await startUpstream();
    proxy = await startProxy(basicConfig(upstream.port));
    const applied = await proxy.admin('/plugins/default/add-header', {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml' },
      body: yaml,
    });
    assert.equal(applied.status, 200, await applied.text());
    const r = await h1(proxy.ports.main, '/through');
    assert.equal(r.status, 200);
    assert.equal(upstream.last().headers['x-wasmgate-filter'], 'add-header');

    await page.goto(`${hub.url}/settings/tokens`);
    await page.getByRole('button', { name: 'Revoke token ci' }).click();
    await page.waitForURL(`${hub.url}/settings/tokens`);
    assert.equal(await page.getByText('No tokens.').count(), 1);
    await assert.rejects(cli('push', ref), (e: { stderr: string }) => {
      assert.match(e.stderr, /401|unauthori[sz]ed|invalid user name, password or token/i);
      return true;
    });

    await page.goto(`${hub.url}/`);
    await shot('home');
  });

  it('keyboard: the skip link comes first, forms work from the keyboard', async () => {
    await page.goto(`${hub.url}/`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'nav-q');
    await page.keyboard.type('header');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/search\?q=header/);
    assert.equal(await page.locator('#results').getByRole('link', { name: 'acme/add-header' }).count(), 1);
  });

  it('a phone-sized screen: no page scrolls sideways', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 360, height: 740 });
    // The tokens page with a new token shown and one in its table.
    await phone.goto(`${hub.url}/settings/tokens`);
    await phone.getByLabel('Name').fill('phone');
    await phone.getByRole('button', { name: 'Create token' }).click();
    await phone.locator('#new-token').waitFor();
    for (const path of ['', '/', '/search?q=add', '/r/acme/add-header', '/settings/tokens']) {
      if (path) await phone.goto(`${hub.url}${path}`);
      const { overflow, wide } = await phone.evaluate(() => {
        const width = document.documentElement.clientWidth;
        return {
          overflow: document.documentElement.scrollWidth - width,
          wide: Array.from(document.querySelectorAll('body *'))
            .filter((e) => e.getBoundingClientRect().right > width)
            .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
        };
      });
      assert.ok(overflow <= 0, `${path} is ${overflow} px wider than the screen: ${wide.join(', ')}`);
    }
    await phone.close();
  });
});
