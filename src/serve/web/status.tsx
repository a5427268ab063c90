/** A run's status with the colour `gage ls` gives it. */
export function Status({ status }: { status: string }) {
  return (
    <span class={`status status-${status}`}>
      <span class="dot" aria-hidden="true" />
      {status}
    </span>
  );
}
