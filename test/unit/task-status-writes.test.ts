import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

// A task's status has one owner: every SQL statement that assigns tasks.status lives in the life-cycle
// module, so each transition writes its row, events and side effects in one place. This scans the SQL text
// of every string and template literal of the production code for an UPDATE of tasks that assigns status.

const SCANNED_DIRS = ['src', 'workers'];
const OWNER_DIR = path.join('src', 'tasks', 'lifecycle') + path.sep;
/** `update tasks ... set` up to the end of its SET list (the WHERE, RETURNING or the end of the text). */
const UPDATE_TASKS_SET = /\bupdate\s+(?:only\s+)?(?:public\.)?tasks\b(?:\s+(?:as\s+)?(?!set\b)\w+)?\s+set\b([\s\S]*?)(?=\bwhere\b|\breturning\b|\bfrom\b|$)/gi;
/** `status` as an assigned column of the SET list (its first item or one after a comma), `status = case` included. */
const ASSIGNS_STATUS = /(?:^|,)\s*status\s*=/i;

/** Offsets (within `sqlText`) of each UPDATE of tasks whose SET list assigns status. */
function statusAssignments(sqlText: string): number[] {
  const found: number[] = [];
  for (const m of sqlText.matchAll(UPDATE_TASKS_SET)) {
    if (ASSIGNS_STATUS.test(m[1] ?? '')) found.push(m.index);
  }
  return found;
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFilesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Each literal's SQL-ish text with its start position; a template's substitutions read as `$1`. */
function literalsOf(source: ts.SourceFile): Array<{ text: string; pos: number }> {
  const out: Array<{ text: string; pos: number }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      out.push({ text: node.text, pos: node.getStart(source) });
    } else if (ts.isTemplateExpression(node)) {
      const text = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' $1 ');
      out.push({ text, pos: node.getStart(source) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** `file:line: sql` of every status write outside the life-cycle module. */
function offenders(): string[] {
  const found: string[] = [];
  for (const dir of SCANNED_DIRS) {
    for (const file of tsFilesUnder(path.join(REPO_ROOT, dir))) {
      const relative = path.relative(REPO_ROOT, file);
      if (relative.startsWith(OWNER_DIR)) continue;
      const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      for (const literal of literalsOf(source)) {
        for (const offset of statusAssignments(literal.text)) {
          const { line } = source.getLineAndCharacterOfPosition(literal.pos);
          const linesBefore = literal.text.slice(0, offset).split('\n').length - 1;
          const snippet = literal.text.slice(offset, offset + 60).replace(/\s+/g, ' ');
          found.push(`${relative}:${line + 1 + linesBefore}: ${snippet}`);
        }
      }
    }
  }
  return found;
}

describe('who writes tasks.status', () => {
  it('the detector finds status assignments in UPDATEs of tasks and nothing else', () => {
    expect(statusAssignments("update tasks set status = 'failed', error_code = $1 where id = $2")).toHaveLength(1);
    expect(statusAssignments('update tasks t set attempt = t.attempt + 1, status = \'running\' where t.id = $1')).toHaveLength(1);
    expect(statusAssignments("UPDATE tasks SET\n  status = case when status = 'queued' then 'cancelled' else status end")).toHaveLength(1);
    expect(statusAssignments('update tasks set enqueued_at = now() where id = $1 and status = \'queued\'')).toEqual([]);
    expect(statusAssignments("update tasks set error_code = case when status = 'queued' then 'x' end where id = $1")).toEqual([]);
    expect(statusAssignments("update workspaces set status = 'archived'")).toEqual([]);
    expect(statusAssignments("select status from tasks where status = 'running'")).toEqual([]);
  });

  it(`only ${OWNER_DIR} assigns tasks.status`, () => {
    const found = offenders();
    expect(found, `SQL that sets tasks.status outside ${OWNER_DIR}:\n${found.join('\n')}`).toEqual([]);
  });
});
