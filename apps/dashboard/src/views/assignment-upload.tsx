// The upload form of an assignment: students submit their driver here; instructors get it folded
// away as a test run.
import type { AssignmentOut } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { navigate } from '../router.js';
import { errorText } from '../ui.js';

/** The upload form: .c/.h files or one .tar.gz; an idempotency key per chosen file set. */
export function StudentSubmit({ a, compact = false }: { a: AssignmentOut; compact?: boolean }) {
  const [files, setFiles] = useState<File[]>([]);
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const closed = !!a.dueAt && new Date(a.dueAt) <= new Date();
  const form = (
    <form
      id="submit"
      class="card submit-form"
      aria-labelledby="submit-title"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!files.length) return setError('Choose your driver’s .c and .h files (or one .tar.gz).');
        setBusy(true);
        setError(null);
        try {
          const r = await api.submit(a.id, files, key || crypto.randomUUID());
          navigate(`/app/submissions/${r.id}`);
        } catch (err) {
          setError(err instanceof ApiError && err.status === 429 && err.retryAfter ? `${err.message}` : errorText(err));
          setBusy(false);
        }
      }}
    >
      <h2 id="submit-title">{compact ? 'Submit as instructor (test run)' : 'Submit your driver'}</h2>
      {closed && !compact && <p class="notice notice-error">This assignment is closed: new submissions are refused.</p>}
      <div class="field">
        <label for="files">Source files (.c, .h) or one .tar.gz</label>
        <input
          id="files"
          type="file"
          multiple
          accept=".c,.h,.tar.gz,.tgz"
          onChange={(e) => {
            setFiles(Array.from((e.target as HTMLInputElement).files ?? []));
            setKey(crypto.randomUUID());
            setError(null);
          }}
        />
      </div>
      {files.length > 0 && (
        <p class="muted small">
          {files.map((f) => `${f.name} (${f.size} B)`).join(', ')}
        </p>
      )}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="btn btn-primary" disabled={busy}>
        {busy ? 'Uploading…' : 'Submit for grading'}
      </button>
    </form>
  );
  return compact ? (
    <details class="card-details">
      <summary>Submit a driver (test run)</summary>
      {form}
    </details>
  ) : (
    form
  );
}
