export const StatusBadge = ({ status, testId }: { status: string; testId?: string }) => (
  <span class={`status status-${status}`} data-testid={testId}>
    {status}
  </span>
);
