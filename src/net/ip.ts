import { isIP } from 'node:net';

// Parsing of IP literals into numbers, so ranges can be compared exactly
// (string prefixes would miss `::ffff:7f00:1`, `0:0::1` and friends).

export interface ParsedIPv4 {
  family: 4;
  /** The address as an unsigned 32-bit number. */
  value: number;
}

export interface ParsedIPv6 {
  family: 6;
  /** The address as an unsigned 128-bit number. */
  value: bigint;
}

export type ParsedIP = ParsedIPv4 | ParsedIPv6;

/** Strips `[...]` around IPv6 and a zone id (`fe80::1%eth0`); the zone never changes which range an address is in. */
export function normalizeIpLiteral(text: string): string {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = unbracketed.indexOf('%');
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

/** True for anything `net.isIP` accepts, with or without brackets or a zone id. */
export function isIpLiteral(text: string): boolean {
  return isIP(normalizeIpLiteral(text)) !== 0;
}

/** Parses an IPv4 or IPv6 literal; null when it is neither. */
export function parseIp(text: string): ParsedIP | null {
  const literal = normalizeIpLiteral(text);
  switch (isIP(literal)) {
    case 4:
      return { family: 4, value: parseIPv4(literal) };
    case 6:
      return { family: 6, value: parseIPv6(literal) };
    default:
      return null;
  }
}

function parseIPv4(text: string): number {
  // net.isIP has validated four decimal octets.
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function parseIPv6(text: string): bigint {
  let groups: number[];
  const [head, tail] = splitCompressed(text);
  const headGroups = groupsOf(head);
  if (tail === null) {
    groups = headGroups;
  } else {
    const tailGroups = groupsOf(tail);
    const zeros = 8 - headGroups.length - tailGroups.length;
    groups = [...headGroups, ...new Array<number>(zeros).fill(0), ...tailGroups];
  }
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

function splitCompressed(text: string): [string, string | null] {
  const at = text.indexOf('::');
  if (at === -1) return [text, null];
  return [text.slice(0, at), text.slice(at + 2)];
}

/** Hex groups, with a trailing dotted quad (`::ffff:1.2.3.4`) turned into two groups. */
function groupsOf(part: string): number[] {
  if (part === '') return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const v4 = parseIPv4(piece);
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
    } else {
      groups.push(parseInt(piece, 16));
    }
  }
  return groups;
}

/** `a.b.c.d` for a 32-bit number. */
export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
