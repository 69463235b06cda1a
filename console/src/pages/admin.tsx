import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';

interface User {
  id: string;
  email: string;
  role: string;
  disabled: boolean;
  created_at: string;
}
interface Role {
  name: string;
  description: string;
  permissions: string[];
}
interface AuditEntry {
  id: number;
  created_at: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
}

/** Each section loads on its own: an admin without audit:read still sees users and roles. */
function useList<T>(path: string): { items: T[]; error: string } {
  const [items, setItems] = useState<T[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    void api<{ items: T[] }>('GET', path).then((r) => setItems(r.items), (e: Error) => setError(e.message));
  }, [path]);
  return { items, error };
}

export function AdminPage() {
  const users = useList<User>('/api/v1/admin/users');
  const roles = useList<Role>('/api/v1/admin/roles');
  const audit = useList<AuditEntry>('/api/v1/admin/audit?limit=50');
  return (
    <section>
      <h2>{t.users}</h2>
      {users.error && <p class="error">{users.error}</p>}
      <table class="list" data-testid="admin-users">
        <thead>
          <tr>
            <th>{t.email}</th>
            <th>{t.role}</th>
            <th>{t.disabled}</th>
          </tr>
        </thead>
        <tbody>
          {users.items.map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>{u.role}</td>
              <td>{u.disabled ? '✓' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t.roles}</h2>
      {roles.error && <p class="error">{roles.error}</p>}
      <table class="list" data-testid="admin-roles">
        <thead>
          <tr>
            <th>{t.role}</th>
            <th>{t.permissions}</th>
          </tr>
        </thead>
        <tbody>
          {roles.items.map((r) => (
            <tr key={r.name}>
              <td>{r.name}</td>
              <td>{r.permissions.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t.audit}</h2>
      {audit.error && <p class="error">{audit.error}</p>}
      <table class="list" data-testid="admin-audit">
        <thead>
          <tr>
            <th>{t.at}</th>
            <th>{t.action}</th>
            <th>{t.actor}</th>
          </tr>
        </thead>
        <tbody>
          {audit.items.map((a) => (
            <tr key={a.id}>
              <td>{new Date(a.created_at).toLocaleString()}</td>
              <td>{a.action}</td>
              <td>{a.actor_id?.slice(0, 8) ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
