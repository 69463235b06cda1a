/**
 * User-facing error text in English (the default) and Korean, the language of docs/troubleshooting.ko.md. Titles are
 * keyed by their English text; messages are translated when they are one of the known sentences or
 * patterns, and otherwise stay English (they name fields and config keys, which are English anyway).
 */
export type Locale = 'en' | 'ko';

const TITLES_KO: Record<string, string> = {
  'Invalid token': '유효하지 않은 토큰',
  Unauthorized: '인증 필요',
  'Invalid credentials': '잘못된 인증 정보',
  'Insufficient permissions': '권한 부족',
  'Permission escalation refused': '권한 상승 거부',
  'Invalid API key': '유효하지 않은 API 키',
  'Rate limit exceeded': '요청 한도 초과',
  'Too many requests': '요청 한도 초과',
  'Too many tasks': '작업 수 한도 초과',
  'CORS origin not allowed': '허용되지 않은 CORS 출처',
  'Idempotency key reused': '멱등성 키 재사용',
  'Not found': '찾을 수 없음',
  'Invalid request': '잘못된 요청',
  'Unprocessable request': '처리할 수 없는 요청',
  Conflict: '충돌',
  'Payload too large': '요청 본문이 너무 큼',
  'Service unavailable': '서비스를 사용할 수 없음',
  'Internal server error': '내부 서버 오류',
  'CSRF check failed': 'CSRF 검사 실패',
};

/** Whole sentences the API uses verbatim. */
const MESSAGES_KO: Record<string, string> = {
  'token signature is invalid': '토큰 서명이 유효하지 않습니다',
  'token is expired': '토큰이 만료되었습니다',
  'token is malformed': '토큰 형식이 잘못되었습니다',
  'token claims are malformed': '토큰 클레임 형식이 잘못되었습니다',
  'token is not valid yet': '토큰이 아직 유효하지 않습니다',
  'token algorithm is not allowed': '허용되지 않는 토큰 알고리즘입니다',
  'token is invalid': '토큰이 유효하지 않습니다',
  'authorization header must be "Bearer <token>"': 'Authorization 헤더는 "Bearer <token>" 형식이어야 합니다',
  'email or password is incorrect': '이메일 또는 비밀번호가 올바르지 않습니다',
  'IP rate limit exceeded': 'IP 요청 한도를 초과했습니다',
  'too many requests from this IP address': 'IP 요청 한도를 초과했습니다',
  'user rate limit exceeded': '사용자 요청 한도를 초과했습니다',
  'too many requests for this user': '사용자 요청 한도를 초과했습니다',
  'request body is not valid JSON': '요청 본문이 올바른 JSON이 아닙니다',
  'send the body as JSON with Content-Type: application/json': 'Content-Type: application/json 으로 JSON 본문을 보내세요',
  'the server failed to handle this request; see the server log': '서버가 이 요청을 처리하지 못했습니다. 서버 로그를 확인하세요',
  'request body is larger than server.body_limit_bytes': '요청 본문이 server.body_limit_bytes 보다 큽니다',
  'Invalid client credentials': '클라이언트 인증 정보가 유효하지 않습니다',
};

/** Sentences with a variable part; the captured text is kept as it is (ids, permission names, keys). */
const PATTERNS_KO: Array<[RegExp, (...groups: string[]) => string]> = [
  [/^User does not have required permission: (.+)$/, (p) => `사용자에게 필요한 권한이 없습니다: ${p}`],
  [/^cannot grant (.+): you do not hold it yourself$/, (p) => `보유하지 않은 권한은 부여할 수 없습니다: ${p}`],
  [/^(.+) not found$/, (what) => `${what}을(를) 찾을 수 없습니다`],
  [/^no route for (\S+ \S+)$/, (route) => `${route} 에 해당하는 경로가 없습니다`],
  [/^missing bearer token: (.+)$/, (hint) => `Bearer 토큰이 없습니다: ${hint}`],
  [/^request body is larger than (\d+) bytes \((.+)\)$/, (n, key) => `요청 본문이 ${n} 바이트보다 큽니다 (${key})`],
  [/^(.+): must be at most (\d+) characters$/, (field, n) => `${field}: 최대 ${n}자까지 허용됩니다`],
  [/^unknown field (.+)$/, (f) => `알 수 없는 필드: ${f}`],
  [/^(.+) is unavailable; (.+)$/, (what, rest) => `${what}을(를) 사용할 수 없습니다; ${rest}`],
];

/**
 * The locale the client prefers among the supported ones (RFC 9110 Accept-Language with q-values);
 * English when the header is absent, unparseable or names neither.
 */
export function preferredLocale(header: string | undefined | null): Locale {
  if (!header) return 'en';
  let best: { locale: Locale; q: number; order: number } | null = null;
  header.split(',').forEach((part, order) => {
    const [tag = '', ...params] = part.trim().split(';');
    const primary = tag.trim().toLowerCase().split('-')[0];
    if (primary !== 'en' && primary !== 'ko') return;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) return;
    if (!best || q > best.q || (q === best.q && order < best.order)) best = { locale: primary, q, order };
  });
  return (best as { locale: Locale } | null)?.locale ?? 'en';
}

export function localizeTitle(title: string, locale: Locale): string {
  return locale === 'ko' ? (TITLES_KO[title] ?? title) : title;
}

export function localizeMessage(message: string, locale: Locale): string {
  if (locale === 'en') return message;
  const exact = MESSAGES_KO[message];
  if (exact) return exact;
  for (const [pattern, render] of PATTERNS_KO) {
    const m = pattern.exec(message);
    if (m) return render(...m.slice(1));
  }
  return message;
}
