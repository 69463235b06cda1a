import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { credentialsPath, readCredentials, removeCredentials, writeCredentials } from '../../src/cli/client/credentials.js';
import { DEFAULT_SERVER, resolveSettings } from '../../src/cli/client/settings.js';

const root = mkdtempSync(path.join(tmpdir(), 'aicli-creds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const freshHome = () => {
  const home = path.join(root, `home${n++}`);
  mkdirSync(home);
  return home;
};

describe('credentials file', () => {
  it('lives under XDG_CONFIG_HOME when it is absolute, else under HOME/.config', () => {
    expect(credentialsPath({ HOME: '/home/u' })).toBe('/home/u/.config/aicli/credentials.json');
    expect(credentialsPath({ HOME: '/home/u', XDG_CONFIG_HOME: '/xdg' })).toBe('/xdg/aicli/credentials.json');
    expect(credentialsPath({ HOME: '/home/u', XDG_CONFIG_HOME: 'relative/dir' })).toBe('/home/u/.config/aicli/credentials.json');
  });

  it('is written with mode 0600 in a 0700 directory, also over an older file that was world-readable', () => {
    const home = freshHome();
    const file = credentialsPath({ HOME: home });
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{}', { mode: 0o644 });
    writeCredentials(file, { server: 'http://127.0.0.1:9', access_token: 'tok-1', email: 'a@example.com' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ server: 'http://127.0.0.1:9', access_token: 'tok-1', email: 'a@example.com' });

    const other = credentialsPath({ HOME: freshHome() });
    writeCredentials(other, { server: 'http://127.0.0.1:9', access_token: 'tok-2' });
    expect(statSync(path.dirname(other)).mode & 0o777).toBe(0o700);
    expect(statSync(other).mode & 0o777).toBe(0o600);
  });

  it('reads back what was written; a missing file is null; a broken one is an error naming the file and the fix', () => {
    const file = credentialsPath({ HOME: freshHome() });
    expect(readCredentials(file)).toBeNull();
    writeCredentials(file, { server: 'http://h:1', access_token: 't', refresh_token: 'r', expires_at: '2030-01-01T00:00:00.000Z' });
    expect(readCredentials(file)).toMatchObject({ server: 'http://h:1', access_token: 't', refresh_token: 'r' });
    writeFileSync(file, 'not json');
    expect(() => readCredentials(file)).toThrow(`${file} is not valid JSON: remove it and run aicli-web login`);
    writeFileSync(file, '{"server": 1}');
    expect(() => readCredentials(file)).toThrow(/has no server and access_token/);
    expect(removeCredentials(file)).toBe(true);
    expect(removeCredentials(file)).toBe(false);
  });
});

describe('server and token lookup', () => {
  const home = freshHome();
  writeCredentials(credentialsPath({ HOME: home }), { server: 'http://saved.local:7000/', access_token: 'saved-token' });
  const emptyHome = freshHome();

  it('uses the saved login when nothing else is given', () => {
    expect(resolveSettings({}, { HOME: home })).toMatchObject({ server: 'http://saved.local:7000', token: 'saved-token', tokenSource: 'file' });
  });

  it('prefers env over the file, and flags over env', () => {
    const env = { HOME: home, AICLI_SERVER: 'http://saved.local:7000', AICLI_TOKEN: 'env-token' };
    expect(resolveSettings({}, env)).toMatchObject({ token: 'env-token', tokenSource: 'env' });
    expect(resolveSettings({ token: 'flag-token' }, env)).toMatchObject({ token: 'flag-token', tokenSource: 'flag' });
    expect(resolveSettings({ server: 'http://flag.local:1' }, env).server).toBe('http://flag.local:1');
    expect(resolveSettings({}, { ...env, AICLI_SERVER: 'http://env.local:2' }).server).toBe('http://env.local:2');
  });

  it('never sends the saved token to another server', () => {
    const s = resolveSettings({ server: 'http://elsewhere.local:8080' }, { HOME: home });
    expect(s.token).toBeNull();
    expect(s.saved).toBeNull();
    expect(resolveSettings({}, { HOME: home, AICLI_SERVER: 'http://elsewhere.local:8080' }).token).toBeNull();
  });

  it('falls back to the default server with no token', () => {
    expect(resolveSettings({}, { HOME: emptyHome })).toMatchObject({ server: DEFAULT_SERVER, token: null, tokenSource: null });
  });

  it('refuses a server that is not an http(s) URL, naming where it came from', () => {
    expect(() => resolveSettings({ server: 'localhost:8080' }, { HOME: emptyHome })).toThrow(/--server must be an http\(s\) URL/);
    expect(() => resolveSettings({}, { HOME: emptyHome, AICLI_SERVER: 'ftp://x' })).toThrow(/AICLI_SERVER must be an http\(s\) URL/);
    expect(() => resolveSettings({ server: 'http://u:p@h' }, { HOME: emptyHome })).toThrow(/must not carry credentials/);
  });
});
