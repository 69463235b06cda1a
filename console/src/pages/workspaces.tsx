import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import type { McpServer, Workspace } from '../types.js';

const domainsOf = (v: FormDataEntryValue | null) =>
  String(v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function KeyForm({ ws, onChange }: { ws: Workspace; onChange(): void }) {
  const [error, setError] = useState('');
  const setKey = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    try {
      await api('PUT', `/api/v1/workspaces/${ws.id}/anthropic-key`, { api_key: String(new FormData(form).get('api_key')) });
      form.reset();
      onChange();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="inline" onSubmit={setKey}>
      <span>{ws.anthropic_key?.set ? ws.anthropic_key.masked : t.notSet}</span>
      <input name="api_key" type="password" aria-label={t.anthropicKey} required autocomplete="off" />
      <button type="submit">{t.setKey}</button>
      {ws.anthropic_key?.set && (
        <button type="button" onClick={() => void api('DELETE', `/api/v1/workspaces/${ws.id}/anthropic-key`).then(onChange, (e: Error) => setError(e.message))}>
          {t.clearKey}
        </button>
      )}
      {error && <span class="error">{error}</span>}
    </form>
  );
}

/** The servers as a list; their secret values are only ever shown as the API masks them. */
function McpList({ servers }: { servers: McpServer[] }) {
  if (servers.length === 0) return <span>{t.noMcpServers}</span>;
  return (
    <ul class="mcp">
      {servers.map((s) => {
        const secrets = Object.entries(s.type === 'stdio' ? s.env : s.headers);
        return (
          <li key={s.name}>
            <code>{s.name}</code> {s.type === 'stdio' ? [s.command, ...s.args].join(' ') : s.url}
            {secrets.length > 0 && ` (${secrets.map(([k, v]) => `${k}=${v}`).join(', ')})`}
          </li>
        );
      })}
    </ul>
  );
}

/** The optional JSON list of the create form; undefined when left empty, null when it is not a list. */
function mcpServersOf(v: FormDataEntryValue | null): unknown[] | undefined | null {
  const text = String(v ?? '').trim();
  if (text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function WorkspacesPage() {
  const [items, setItems] = useState<Workspace[]>([]);
  const [sourceType, setSourceType] = useState('empty');
  const [egress, setEgress] = useState('none');
  const [error, setError] = useState('');
  const load = () => void api<{ items: Workspace[] }>('GET', '/api/v1/workspaces').then((r) => setItems(r.items), (e: Error) => setError(e.message));
  useEffect(load, []);
  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const source = sourceType === 'git' ? { type: 'git', url: f.get('url'), ...(f.get('ref') ? { ref: f.get('ref') } : {}) } : { type: 'empty' };
    const mcp = mcpServersOf(f.get('mcp_servers'));
    if (mcp === null) {
      setError(t.mcpServersInvalid);
      return;
    }
    const body = {
      name: f.get('name'),
      source,
      egress: egress === 'allowlist' ? { mode: 'allowlist', domains: domainsOf(f.get('domains')) } : { mode: 'none' },
      ...(mcp ? { mcp_servers: mcp } : {}),
    };
    try {
      await api('POST', '/api/v1/workspaces', body);
      form.reset();
      setError('');
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <h2>{t.workspaces}</h2>
      <table class="list">
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.source}</th>
            <th>{t.egress}</th>
            <th>{t.mcpServers}</th>
            <th>{t.anthropicKey}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((ws) => (
            <tr key={ws.id}>
              <td>{ws.name}</td>
              <td>{ws.source.type === 'git' ? `${ws.source.url}${ws.source.ref ? `@${ws.source.ref}` : ''}` : t.emptySource}</td>
              <td>{ws.egress?.mode === 'allowlist' ? (ws.egress.domains ?? []).join(', ') : t.egressNone}</td>
              <td>
                <McpList servers={ws.mcp_servers ?? []} />
              </td>
              <td>
                <KeyForm ws={ws} onChange={load} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{t.createWorkspace}</h3>
      <form class="grid" onSubmit={create}>
        <label>
          {t.name}
          <input name="name" required />
        </label>
        <label>
          {t.source}
          <select name="source_type" value={sourceType} onChange={(e) => setSourceType((e.target as HTMLSelectElement).value)}>
            <option value="empty">{t.emptySource}</option>
            <option value="git">{t.gitSource}</option>
          </select>
        </label>
        {sourceType === 'git' && (
          <>
            <label>
              {t.gitUrl}
              <input name="url" required />
            </label>
            <label>
              {t.gitRef}
              <input name="ref" />
            </label>
          </>
        )}
        <label>
          {t.egress}
          <select name="egress" value={egress} onChange={(e) => setEgress((e.target as HTMLSelectElement).value)}>
            <option value="none">{t.egressNone}</option>
            <option value="allowlist">{t.egressAllowlist}</option>
          </select>
        </label>
        {egress === 'allowlist' && (
          <label>
            {t.domains}
            <input name="domains" required />
          </label>
        )}
        <label>
          {t.mcpServersJson}
          <textarea name="mcp_servers" rows={3} spellcheck={false} autocomplete="off" />
        </label>
        <button type="submit">{t.createWorkspace}</button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </section>
  );
}
