import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Route, Router } from 'preact-iso';
import { currentUser, renewSession, signOut, type Me } from './api.js';
import { t } from './i18n.js';
import { AdminPage } from './pages/admin.js';
import { SignIn } from './pages/sign-in.js';
import { TaskPage } from './pages/task.js';
import { TasksPage } from './pages/tasks.js';
import { SchedulesPage } from './pages/schedules.js';
import { WorkspacesPage } from './pages/workspaces.js';

/** Renews the session cookie before it expires while the console is open (links to /admin/queues and /docs ride on it). */
const RENEW_EVERY_MS = 5 * 60_000;

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => {
    void currentUser().then(setMe, () => setMe(null));
  }, []);
  useEffect(() => {
    if (!me) return;
    const timer = setInterval(() => void renewSession(), RENEW_EVERY_MS);
    return () => clearInterval(timer);
  }, [me]);
  if (me === undefined) return <p class="loading">{t.loading}</p>;
  if (me === null) return <SignIn onSignedIn={() => void currentUser().then(setMe)} />;
  const isAdmin = me.permissions.includes('*') || me.permissions.some((p) => p.startsWith('admin:'));
  const canQueues = me.permissions.some((p) => p === '*' || p === 'admin:queues' || p === 'admin:queues:read');
  return (
    <LocationProvider>
      <header class="top">
        <strong>{t.appName}</strong>
        <nav>
          <a href="/">{t.tasks}</a>
          <a href="/workspaces">{t.workspaces}</a>
          <a href="/schedules">{t.schedules}</a>
          {isAdmin && <a href="/admin">{t.admin}</a>}
          {canQueues && (
            <a href="/admin/queues" target="_top">
              {t.queues}
            </a>
          )}
          <a href="/docs" target="_top">
            {t.apiDocs}
          </a>
        </nav>
        <span class="who">
          {me.email}{' '}
          <button type="button" onClick={() => void signOut().then(() => setMe(null))}>
            {t.signOut}
          </button>
        </span>
      </header>
      <main>
        <Router>
          <Route path="/" component={TasksPage} />
          <Route path="/tasks/:id" component={TaskPage} />
          <Route path="/workspaces" component={WorkspacesPage} />
          <Route path="/schedules" component={SchedulesPage} />
          <Route path="/admin" component={AdminPage} />
          <Route default component={TasksPage} />
        </Router>
      </main>
    </LocationProvider>
  );
}
