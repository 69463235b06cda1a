import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api } from '../api.js';
import { t } from '../i18n.js';
import type { Task, Workspace } from '../types.js';

const numberOr = (v: FormDataEntryValue | null): number | undefined => (v === null || String(v).trim() === '' ? undefined : Number(v));
const listOr = (v: FormDataEntryValue | null): string[] | undefined => {
  const items = String(v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
};

/** The task request from the form: only the options a person filled in. */
function requestFrom(form: FormData): Record<string, unknown> {
  const resources = { memory_mb: numberOr(form.get('memory_mb')), cpus: numberOr(form.get('cpus')) };
  const body: Record<string, unknown> = {
    workspace_id: form.get('workspace_id'),
    prompt: form.get('prompt'),
    model: String(form.get('model') ?? '').trim() || undefined,
    max_turns: numberOr(form.get('max_turns')),
    timeout_seconds: numberOr(form.get('timeout_seconds')),
    max_budget_usd: numberOr(form.get('max_budget_usd')),
    permission_mode: form.get('permission_mode') || undefined,
    allowed_tools: listOr(form.get('allowed_tools')),
    resume_from: form.get('resume_from') || undefined,
    resources: resources.memory_mb || resources.cpus ? resources : undefined,
  };
  return JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
}

export function SubmitForm({ resumeFrom, workspaceId }: { resumeFrom?: string; workspaceId?: string }) {
  const { route } = useLocation();
  const [workspaces, setWorkspaces] = useState<Workspace[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    void api<{ items: Workspace[] }>('GET', '/api/v1/workspaces').then((r) => setWorkspaces(r.items), (e: Error) => setError(e.message));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const task = await api<Task>('POST', '/api/v1/tasks', requestFrom(new FormData(e.currentTarget as HTMLFormElement)));
      route(`/tasks/${task.id}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form class="submit" onSubmit={submit}>
      <label>
        {t.workspace}
        <select name="workspace_id" required value={workspaceId}>
          {workspaces.map((w) => (
            <option key={w.id} value={w.id}>
              {w.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t.prompt}
        <textarea name="prompt" rows={4} required />
      </label>
      <details>
        <summary>{t.options}</summary>
        <div class="grid">
          <label>
            {t.model}
            <input name="model" />
          </label>
          <label>
            {t.maxTurns}
            <input name="max_turns" type="number" min="1" />
          </label>
          <label>
            {t.timeoutSeconds}
            <input name="timeout_seconds" type="number" min="1" />
          </label>
          <label>
            {t.budgetUsd}
            <input name="max_budget_usd" type="number" min="0" step="0.01" />
          </label>
          <label>
            {t.permissionMode}
            <select name="permission_mode">
              <option value="">{t.none}</option>
              {['default', 'acceptEdits', 'plan', 'bypassPermissions'].map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label>
            {t.allowedTools}
            <input name="allowed_tools" />
          </label>
          <label>
            {t.memoryMb}
            <input name="memory_mb" type="number" min="64" />
          </label>
          <label>
            {t.cpus}
            <input name="cpus" type="number" min="0.1" step="0.1" />
          </label>
          <label>
            {t.followUpOf}
            <input name="resume_from" value={resumeFrom ?? ''} />
          </label>
        </div>
      </details>
      <button type="submit">{t.submitTask}</button>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </form>
  );
}
