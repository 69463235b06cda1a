import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

// docs/troubleshooting.md and .ko.md follow the seed guide one to one (its sections and symptoms, in its
// order), and every test they name exists in test/seed/.
const GUIDE: Array<[string, string[]]> = [
  ['시스템 시작 및 설정 문제', ['1. 서버 시작 실패', '2. 설정 파일 로드 실패', '3. 데이터베이스 연결 실패']],
  ['인증 및 권한 문제', ['1. JWT 토큰 검증 실패', '2. OAuth2 인증 실패', '3. 권한 부족 오류']],
  ['API 및 네트워크 문제', ['1. API 응답 시간 초과', '2. CORS 오류', '3. Rate Limit 초과']],
  ['데이터베이스 문제', ['1. 연결 풀 고갈', '2. 마이그레이션 실패', '3. 쿼리 성능 저하']],
  ['Docker 및 컨테이너 문제', ['1. 컨테이너 시작 실패', '2. 컨테이너 네트워킹 문제', '3. 볼륨 마운트 문제']],
  ['Claude CLI 통합 문제', ['1. Claude API 인증 실패', '2. Claude CLI 프로세스 실패', '3. 워크스페이스 격리 문제']],
  ['성능 및 리소스 문제', ['1. 메모리 누수', '2. CPU 사용률 높음', '3. 데이터베이스 성능 저하']],
  ['로깅 및 모니터링 문제', ['1. 로그 파일 없음', '2. 로그 레벨 문제', '3. 메트릭 수집 실패']],
  ['보안 관련 문제', ['1. 보안 헤더 누락', '2. 세션 보안 문제']],
];
const FAQ = 6;

const doc = (name: string) => readFileSync(path.join(REPO_ROOT, 'docs', name), 'utf8');
/** The `##` sections with their `###` headings, in order, from `## <first>` on. */
function outline(text: string): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) out.push([line.slice(3), []]);
    else if (line.startsWith('### ')) out.at(-1)?.[1].push(line.slice(4));
  }
  return out;
}

describe('the troubleshooting docs follow the guide', () => {
  it('troubleshooting.ko.md has the guide\'s sections and symptoms, in its order', () => {
    const ko = outline(doc('troubleshooting.ko.md'));
    const walked = ko.filter(([title]) => GUIDE.some(([g]) => g === title));
    expect(walked).toEqual(GUIDE);
    expect(ko.map(([t]) => t)).toEqual(['개요', '목차', ...GUIDE.map(([t]) => t), '자주 묻는 질문 (FAQ)', '추가 지원']);
    expect(ko.find(([t]) => t === '자주 묻는 질문 (FAQ)')?.[1]).toHaveLength(FAQ);
  });

  it('troubleshooting.md has the same outline in English: as many sections and symptoms, in order', () => {
    const en = outline(doc('troubleshooting.md'));
    expect(en.map(([, symptoms]) => symptoms.length)).toEqual([0, 0, ...GUIDE.map(([, s]) => s.length), FAQ, 0]);
  });

  it('every test either doc names is a describe of that file in test/seed/', () => {
    for (const name of ['troubleshooting.md', 'troubleshooting.ko.md']) {
      const refs = [...doc(name).matchAll(/`([\w-]+\.test\.ts)` › "([^"]+)"/g)];
      expect(refs.length, name).toBeGreaterThanOrEqual(26);
      for (const [, file, title] of refs) {
        const source = readFileSync(path.join(REPO_ROOT, 'test/seed', file as string), 'utf8');
        const declared = source.includes(`describe('${title}`) || source.includes(`describe("${title}`);
        expect(declared, `${name}: ${file} › ${title}`).toBe(true);
      }
    }
  });
});
