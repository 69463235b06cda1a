import { html as diffHtml, parse } from 'diff2html';
import { t } from '../i18n.js';

/** The task's patch, file by file (diff2html escapes the patch text itself). */
export function DiffView({ diff, truncated }: { diff: string; truncated: boolean }) {
  if (!diff.trim()) return <p>{t.noChanges}</p>;
  const files = parse(diff);
  return (
    <div class="diff">
      <h3>{t.changedFiles}</h3>
      <ul class="changed-files">
        {files.map((f) => (
          <li key={f.newName}>{f.newName === '/dev/null' ? f.oldName : f.newName}</li>
        ))}
      </ul>
      {truncated && <p class="error">truncated</p>}
      <div dangerouslySetInnerHTML={{ __html: diffHtml(files, { drawFileList: false, outputFormat: 'line-by-line', matching: 'lines' }) }} />
    </div>
  );
}
