import { describe, expect, it } from 'vitest';
import { checkAddress, resolveAndCheck, type ResolvedAddress, type Resolver } from '../../src/net/address-guard.js';

// Pure checks: no test here opens a connection; names are answered by an injected resolver.

const refused: Array<[string, string]> = [
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['[::1]', 'loopback'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['169.254.169.254', 'metadata'],
  ['169.254.0.1', 'link_local'],
  ['169.254.170.2', 'link_local'],
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf:ffff::1', 'link_local'],
  ['fc00::1', 'unique_local'],
  ['fd12:3456::1', 'unique_local'],
  ['fd00:ec2::254', 'metadata'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['64:ff9b::a9fe:a9fe', 'metadata'],
  ['::127.0.0.1', 'reserved'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['::', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['ff02::1', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.0.192', 'reserved'],
  ['192.0.2.10', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['2001:db8::1', 'documentation'],
  ['198.18.0.1', 'benchmark'],
  ['2001:0:4136:e378::1', 'tunnel'],
  ['2002:7f00:1::1', 'tunnel'],
  ['fec0::1', 'reserved'],
  ['100::1', 'reserved'],
  ['4000::1', 'reserved'],
  ['localhost', 'invalid'],
  ['1.2.3', 'invalid'],
];

const allowed = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '100.63.255.255', '169.253.1.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'];

describe('checkAddress', () => {
  it.each(refused)('refuses %s as %s', (ip, reason) => {
    const verdict = checkAddress(ip);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.reason).toBe(reason);
      expect(verdict.message).toContain(ip);
    }
  });

  it.each(allowed)('allows the public address %s', (ip) => {
    expect(checkAddress(ip)).toMatchObject({ ok: true, category: 'public' });
  });

  it('names the embedded IPv4 address of a mapped one', () => {
    const verdict = checkAddress('::ffff:192.168.0.1');
    expect(verdict).toMatchObject({ ok: false, reason: 'private' });
    if (!verdict.ok) expect(verdict.message).toContain('192.168.0.1');
  });

  it('lets chosen categories through, but never link-local or metadata', () => {
    const allow = ['loopback', 'private'] as const;
    expect(checkAddress('127.0.0.1', { allow })).toMatchObject({ ok: true, category: 'loopback' });
    expect(checkAddress('::1', { allow })).toMatchObject({ ok: true, category: 'loopback' });
    expect(checkAddress('10.1.1.1', { allow })).toMatchObject({ ok: true, category: 'private' });
    expect(checkAddress('100.64.0.1', { allow })).toMatchObject({ ok: false, reason: 'cgnat' });
    expect(checkAddress('169.254.169.254', { allow: ['loopback', 'private', 'cgnat', 'unique_local'] })).toMatchObject({ ok: false, reason: 'metadata' });
    // A caller that forces a category outside the allowable list gets no effect from it.
    expect(checkAddress('169.254.1.1', { allow: ['link_local' as never] })).toMatchObject({ ok: false, reason: 'link_local' });
  });
});

function resolverOf(table: Record<string, ResolvedAddress[] | Error>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolver = async (host: string) => {
    asked.push(host);
    const answer = table[host];
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return Object.assign(resolver, { asked });
}

describe('resolveAndCheck', () => {
  const resolver = resolverOf({
    'public.example': [{ address: '93.184.215.14', family: 4 }, { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 }],
    'private.example': [{ address: '10.0.0.5', family: 4 }],
    'metadata.example': [{ address: '169.254.169.254', family: 4 }],
    'linklocal6.example': [{ address: 'fe80::1', family: 6 }],
    'mapped.example': [{ address: '::ffff:127.0.0.1', family: 6 }],
    'cgnat.example': [{ address: '100.100.100.100', family: 4 }],
    'mixed.example': [{ address: '93.184.215.14', family: 4 }, { address: '127.0.0.1', family: 4 }],
    'empty.example': [],
    'loop.example': [{ address: '127.0.0.1', family: 4 }],
  });

  it('accepts a name whose every address is public, and returns them to connect to', async () => {
    const verdict = await resolveAndCheck('public.example', { resolver });
    expect(verdict).toEqual({
      ok: true,
      host: 'public.example',
      addresses: [{ address: '93.184.215.14', family: 4 }, { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 }],
    });
  });

  it.each([
    ['private.example', 'private', '10.0.0.5'],
    ['metadata.example', 'metadata', '169.254.169.254'],
    ['linklocal6.example', 'link_local', 'fe80::1'],
    ['mapped.example', 'loopback', '::ffff:127.0.0.1'],
    ['cgnat.example', 'cgnat', '100.100.100.100'],
    ['mixed.example', 'loopback', '127.0.0.1'],
  ])('refuses %s (%s)', async (host, reason, address) => {
    const verdict = await resolveAndCheck(host, { resolver });
    expect(verdict).toMatchObject({ ok: false, host, reason, address });
    if (!verdict.ok) expect(verdict.message).toContain(host);
  });

  it('refuses names that do not resolve or resolve to nothing', async () => {
    expect(await resolveAndCheck('nowhere.example', { resolver })).toMatchObject({ ok: false, reason: 'resolve_failed' });
    expect(await resolveAndCheck('empty.example', { resolver })).toMatchObject({ ok: false, reason: 'no_address' });
  });

  it('checks IP literals without asking the resolver', async () => {
    const before = resolver.asked.length;
    expect(await resolveAndCheck('169.254.169.254', { resolver })).toMatchObject({ ok: false, reason: 'metadata' });
    expect(await resolveAndCheck('[fe80::1]', { resolver })).toMatchObject({ ok: false, reason: 'link_local' });
    expect(await resolveAndCheck('8.8.8.8', { resolver })).toMatchObject({ ok: true, addresses: [{ address: '8.8.8.8', family: 4 }] });
    expect(resolver.asked.length).toBe(before);
  });

  it('honours an allowance for loopback', async () => {
    expect(await resolveAndCheck('loop.example', { resolver })).toMatchObject({ ok: false, reason: 'loopback' });
    expect(await resolveAndCheck('loop.example', { resolver, allow: ['loopback'] })).toMatchObject({ ok: true });
    expect(await resolveAndCheck('metadata.example', { resolver, allow: ['loopback', 'private'] })).toMatchObject({ ok: false, reason: 'metadata' });
  });
});
